"""Ethograms as movement-style netCDF and NWB intervals (io.ethogram_export)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethoagent.errors import InputError
from ethoagent.io import ethogram_export
from ethoagent.io.ethogram_export import (
    ethogram_dataset,
    read_ethogram_netcdf,
    read_ethogram_nwb,
    write_ethogram_netcdf,
    write_ethogram_nwb,
)
from ethoagent.model.ethogram import Epoch

FPS = 30.0
EPOCHS = {
    "adult": [
        Epoch(start=0, stop=45, label="walking", confidence=0.75, description="fast"),
        Epoch(start=45, stop=90, label="huddle", description="with juvenile"),
    ],
    "juvenile": [Epoch(start=0, stop=90, label="still", confidence=0.5)],
}


def test_dataset_lies_on_movements_time_axis() -> None:
    ds = ethogram_dataset(EPOCHS, 90, FPS, source="session.csv")
    assert ds.attrs["ds_type"] == "ethogram" and ds.attrs["time_unit"] == "seconds"
    assert ds["time"].values[[0, 30]].tolist() == [0.0, 1.0]
    assert ds["individuals"].values.tolist() == ["adult", "juvenile"]
    # seconds per behaviour = frames in it / fps
    seconds = ds["behaviour_active"].sum("time") / ds.attrs["fps"]
    assert seconds.sel(individuals="adult", behaviours="walking").item() == 1.5
    assert seconds.sel(individuals="juvenile", behaviours="still").item() == 3.0
    codes = ds["behaviour"].sel(individuals="adult").values
    names = ds["behaviour"].attrs["flag_meanings"].split()
    assert names[codes[50]] == "huddle"
    assert ds["confidence"].values[0].tolist() == [0.75, 0.5]


def test_netcdf_round_trip(tmp_path: Path) -> None:
    path = write_ethogram_netcdf(tmp_path / "ethogram.nc", EPOCHS, 90, FPS)
    assert read_ethogram_netcdf(path) == EPOCHS


def test_netcdf_reader_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_ethogram_netcdf(tmp_path / "missing.nc")
    other = tmp_path / "poses.nc"
    ds = ethogram_dataset(EPOCHS, 90, FPS)
    ds.attrs["ds_type"] = "poses"
    ds.to_netcdf(other, engine="h5netcdf")
    with pytest.raises(InputError, match="not an ethogram netCDF"):
        read_ethogram_netcdf(other)
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    with pytest.raises(InputError, match=r"junk\.nc"):
        read_ethogram_netcdf(junk)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError, match="fps"):
        ethogram_dataset(EPOCHS, 90, 0.0)
    with pytest.raises(InputError, match="at least one animal"):
        ethogram_dataset({}, 90, FPS)


def test_nwb_time_intervals_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("pynwb", reason="NWB output needs pynwb")
    from pynwb import NWBHDF5IO

    path = write_ethogram_nwb(tmp_path / "ethogram.nwb", EPOCHS, 90, FPS, source="s.csv")
    assert read_ethogram_nwb(path, FPS) == EPOCHS
    with NWBHDF5IO(str(path), "r") as io:
        table = io.read().intervals["behaviour_epochs"].to_dataframe()
    assert table["start_time"].tolist() == [0.0, 0.0, 1.5]  # in time order
    assert set(table["behaviour"]) == {"walking", "huddle", "still"}
    again = tmp_path / "again.nwb"
    write_ethogram_nwb(again, EPOCHS, 90, FPS, source="s.csv")
    with NWBHDF5IO(str(path), "r") as a, NWBHDF5IO(str(again), "r") as b:
        assert a.read().identifier == b.read().identifier  # deterministic


def test_nwb_without_pynwb_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ethogram_export, "nwb_available", lambda: False)
    with pytest.raises(InputError, match="pip install pynwb"):
        write_ethogram_nwb(tmp_path / "e.nwb", EPOCHS, 90, FPS)
    assert not (tmp_path / "e.nwb").exists()


def test_nwb_reader_names_a_missing_table(tmp_path: Path) -> None:
    pytest.importorskip("pynwb", reason="NWB output needs pynwb")
    from datetime import UTC, datetime

    from pynwb import NWBHDF5IO, NWBFile

    path = tmp_path / "plain.nwb"
    nwb = NWBFile(session_description="x", identifier="x", session_start_time=datetime.now(UTC))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with pytest.raises(InputError, match="no intervals table 'behaviour_epochs'"):
        read_ethogram_nwb(path, FPS)


def test_nwb_or_reason_never_loses_the_other_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ethogram_export, "nwb_available", lambda: False)
    missing = ethogram_export.nwb_or_reason(EPOCHS, 90, FPS)
    assert missing == (
        "no `ethogram.nwb`: pynwb is not installed (`pip install pynwb` to get one)."
    )
    monkeypatch.setattr(ethogram_export, "nwb_available", lambda: True)

    def broken(*args: object, **kwargs: object) -> bytes:
        raise ValueError("bad table")

    monkeypatch.setattr(ethogram_export, "ethogram_nwb_bytes", broken)
    reason = ethogram_export.nwb_or_reason(EPOCHS, 90, FPS)
    assert reason == "no `ethogram.nwb`: writing it failed (ValueError: bad table)."
