"""The workspace guard: paths stay inside the workspace, whatever form they take."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethoagent.agent.workspace import Workspace, WorkspaceError


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.csv").write_text("x\n1\n")
    return Workspace(root)


def test_relative_and_absolute_paths_inside_are_accepted(ws: Workspace) -> None:
    assert ws.resolve("data/a.csv", must_exist=True) == ws.root / "data" / "a.csv"
    assert ws.resolve(str(ws.root / "data" / "a.csv")) == ws.root / "data" / "a.csv"
    assert ws.resolve(".") == ws.root
    assert ws.resolve("results/new") == ws.root / "results" / "new"  # may not exist yet
    assert ws.relative(ws.root / "data" / "a.csv") == "data/a.csv"


@pytest.mark.parametrize(
    "path",
    ["..", "../x", "data/../../x", "data/../a.csv", "..\\x", "data/..", "./.."],
)
def test_dotdot_is_refused_even_when_it_lands_inside(ws: Workspace, path: str) -> None:
    with pytest.raises(WorkspaceError, match=r"uses '\.\.'"):
        ws.resolve(path)


def test_absolute_path_outside_is_refused(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s")
    for path in ("/etc/passwd", str(tmp_path / "secret.txt"), str(tmp_path)):
        with pytest.raises(WorkspaceError, match="outside the workspace"):
            ws.resolve(path)


def test_symlink_leading_outside_is_refused(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.csv").write_text("y\n2\n")
    (ws.root / "link_dir").symlink_to(outside)
    (ws.root / "data" / "link.csv").symlink_to(outside / "b.csv")
    for path in ("link_dir", "link_dir/b.csv", "data/link.csv", str(ws.root / "link_dir")):
        with pytest.raises(WorkspaceError, match="through a symlink"):
            ws.resolve(path)


def test_symlink_inside_the_workspace_is_followed(ws: Workspace) -> None:
    (ws.root / "alias.csv").symlink_to(ws.root / "data" / "a.csv")
    assert ws.resolve("alias.csv", must_exist=True) == ws.root / "data" / "a.csv"


@pytest.mark.parametrize("path", ["", "  ", "~", "~/x", "a\x00b"])
def test_malformed_paths_are_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(WorkspaceError):
        ws.resolve(path)


def test_missing_file_is_refused_when_it_must_exist(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        ws.resolve("data/none.csv", must_exist=True, what="keypoint file")


def test_workspace_root_given_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)
    ws = Workspace(tmp_path / "via")
    assert ws.root == real.resolve()
    assert ws.resolve(str(tmp_path / "via" / "f.txt")) == real.resolve() / "f.txt"
