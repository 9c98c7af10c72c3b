"""Serve the review app with uvicorn on a loopback address (or, when asked, another).

``check_host`` refuses a non-loopback bind unless the caller says so explicitly: the app
can change a run's corrections and start runs, and has no login.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ethoagent.config import Settings
from ethoagent.errors import InputError

LOOPBACK = "127.0.0.1"


def check_host(host: str, *, allow_remote: bool) -> str:
    """``host`` if it is a loopback address (or ``allow_remote``).

    Raises:
        InputError: a non-loopback host without ``allow_remote``.
    """
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise InputError(
            f"review refuses to listen on {host}: anyone who reaches it could change the "
            "run's corrections and start runs.",
            fix="leave --host out (127.0.0.1), or add --allow-remote on a trusted network.",
        )
    return host


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(runs: list[Path], settings: Settings, *, port: int | None = None) -> Iterator[str]:
    """The review app for ``runs`` on 127.0.0.1 in a background thread; yields its URL.

    The server stops (and its thread ends) when the block exits.

    Raises:
        InputError: a run that cannot be reviewed.
        RuntimeError: the server did not start within 10 s.
    """
    import uvicorn

    from ethoagent.review.app import make_app

    app = make_app(runs, settings)
    port = port if port is not None else free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="ethoagent-review", daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.025)
        if not server.started:
            raise RuntimeError(f"the review server did not start on {LOOPBACK}:{port}")
        yield f"http://{LOOPBACK}:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve(
    runs: list[Path],
    settings: Settings,
    *,
    host: str = LOOPBACK,
    port: int | None = None,
    allow_remote: bool = False,
    open_browser: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the review app for ``runs`` until interrupted (Ctrl-C).

    Args:
        runs: finished pose or classify run directories.
        settings: backend and models of a re-run.
        host: address to bind (loopback unless ``allow_remote``).
        port: TCP port (``None``: a free one).
        allow_remote: permit a non-loopback ``host``.
        open_browser: open the page in the user's browser once the server listens.
        on_ready: called with the page's URL once the server listens.

    Raises:
        InputError: a run that cannot be reviewed, or a refused host.
    """
    import uvicorn

    from ethoagent.review.app import make_app

    check_host(host, allow_remote=allow_remote)
    app = make_app(runs, settings)  # bad runs fail here, before anything listens
    port = port if port is not None else free_port(host)
    url = f"http://{host}:{port}/"
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            if on_ready is not None:
                on_ready(url)
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


__all__ = ["LOOPBACK", "check_host", "free_port", "serve", "serving"]
