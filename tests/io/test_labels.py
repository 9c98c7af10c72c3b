"""``read_labels`` on every label format, from tiny literal files, frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from ethoagent.errors import InputError
from ethoagent.io.labels import (
    LabelBout,
    Labels,
    examples_from_labels,
    label_videos,
    read_labels,
)

N = -1  # no label
BORIS_HEAD = (
    "Observation id,X\n,\nMedia file(s),\n,\n"
    "Time,Media file path,Total length,FPS,Subject,Behavior,Behavioral category,Comment,Status\n"
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------ frame-wise 0/1


def test_framewise_csv_is_binary_per_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.csv", "frame,Freezing,moving\n0,0,1\n1,1,0\n2,1,0\n")
    lab = read_labels(path)
    assert (lab.layout, lab.source_format, lab.frames) == ("binary", "framewise_csv", 3)
    assert lab.columns == lab.classes == ("Freezing", "moving")
    assert lab.values.tolist() == [[0, 1], [1, 0], [1, 0]] and lab.values.dtype == np.int64
    # a label set picks and orders the columns, in its own spelling
    picked = read_labels(path, classes=("Moving", "freezing"), n_frames=3)
    assert picked.columns == ("Moving", "freezing")
    assert picked.values.tolist() == [[1, 0], [0, 1], [0, 1]]
    assert read_labels(path, classes=("freezing",), unknown="ignore").values.tolist() == [
        [0],
        [1],
        [1],
    ]
    with pytest.raises(InputError, match=r"\['moving'\] are not in the label set"):
        read_labels(path, classes=("freezing",))
    with pytest.raises(InputError, match="no column for class"):
        read_labels(path, classes=("rearing",))
    with pytest.raises(InputError, match="labels 3 frames; the session has 4"):
        read_labels(path, n_frames=4)


def test_framewise_csv_rejects_gaps_and_non_binary_values(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="without gaps"):
        read_labels(_write(tmp_path / "g.csv", "frame,a\n0,0\n2,1\n"))
    with pytest.raises(InputError, match=r"must lie in \[0, 1\]; found \[0, 2\]"):
        read_labels(_write(tmp_path / "h.csv", "frame,a\n0,0\n1,2\n"))
    with pytest.raises(InputError, match="non-integer"):
        read_labels(_write(tmp_path / "i.csv", "frame,a\n0,x\n"))


def test_behaviordepot_mat_is_binary_per_behaviour(tmp_path: Path) -> None:
    path = tmp_path / "Behavior.mat"
    savemat(
        str(path),
        {"Behavior": {"Freezing": {"Vector": [0, 1, 1, 0]}, "Moving": {"Vector": [1, 0, 0, 2]}}},
    )
    lab = read_labels(path)
    assert (lab.layout, lab.source_format) == ("binary", "behaviordepot")
    assert lab.columns == ("Freezing", "Moving")
    assert lab.values.tolist() == [[0, 1], [1, 0], [1, 0], [0, 1]]
    frz = read_labels(path, classes=("freezing",), unknown="ignore")
    assert frz.values[:, 0].tolist() == [0, 1, 1, 0]
    savemat(str(tmp_path / "other.mat"), {"x": [1, 2]})
    with pytest.raises(InputError, match=r"not a BehaviorDEPOT Behavior\.mat"):
        read_labels(tmp_path / "other.mat")


# ------------------------------------------------------------------ frames and clips


def test_frame_label_csv_runs_of_one_label_are_bouts(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "frames.csv", "frame,label\n1,Freezing\n2,freezing\n3,freezing\n6,darting\n"
    )
    lab = read_labels(path, n_frames=8)
    assert (lab.layout, lab.source_format, lab.columns) == ("codes", "frame_label_csv", ("",))
    assert lab.classes == ("Freezing", "darting")  # first spelling, sorted
    assert lab.values[:, 0].tolist() == [N, 0, 0, 0, N, N, 1, N]
    assert lab.bouts == (LabelBout(0, 1, 4, 0), LabelBout(0, 6, 7, 1))
    fear = read_labels(path, classes=("darting", "freezing", "rearing"))
    assert fear.frames == 7  # the last labelled frame, without n_frames
    assert fear.values[:, 0].tolist() == [N, 1, 1, 1, N, N, 0]
    with pytest.raises(InputError, match=r"line 5: label 'darting' is not in the label set"):
        read_labels(path, classes=("freezing",))
    assert read_labels(path, classes=("freezing",), unknown="ignore").values[6, 0] == N
    with pytest.raises(InputError, match="line 5: frame 6 is outside the session's 5 frames"):
        read_labels(path, n_frames=5)


def test_frame_columns_named_after_the_animals_hold_a_label_each(tmp_path: Path) -> None:
    names = _write(
        tmp_path / "names.csv",
        "frame,b,a\n0,walk,\n1,walk,groom\n2,-1,groom\n3,groom,walk\n",
    )
    lab = read_labels(names, animals=("a", "b"))
    assert (lab.layout, lab.source_format, lab.columns) == ("codes", "framewise_csv", ("b", "a"))
    assert lab.classes == ("groom", "walk")
    assert lab.values.T.tolist() == [[1, 1, N, 0], [N, 0, 0, 1]]
    # without the animals the same header means one 0/1 column per class
    with pytest.raises(InputError, match="non-integer"):
        read_labels(names)
    codes = _write(tmp_path / "codes.csv", "frame,m\n0,2\n1,-1\n2,0\n")
    lab = read_labels(codes, animals=["m"], n_frames=3)
    assert lab.classes == ("0", "1", "2")  # integer labels: the code is the label
    assert lab.values[:, 0].tolist() == [2, N, 0]
    with pytest.raises(InputError, match="labels 3 frames; the session has 4"):
        read_labels(codes, animals=["m"], n_frames=4)
    with pytest.raises(InputError, match="line 3: expected frame 1"):
        read_labels(_write(tmp_path / "gap.csv", "frame,m\n0,2\n2,1\n"), animals=["m"])


def test_frame_label_csv_empty_or_minus_one_is_no_label(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.csv", "frame,label\n0,1\n1,-1\n2,\n3,0\n")
    lab = read_labels(path)
    assert lab.classes == ("0", "1") and lab.values[:, 0].tolist() == [1, N, N, 0]


def test_clips_csv_one_bout_per_row_per_animal(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "clips.csv",
        "start_frame,stop_frame,label,animal\n5,8,locomotion,b\n2,4,freezing,a\n3,6,darting,b\n",
    )
    lab = read_labels(path, n_frames=10)
    assert (lab.source_format, lab.columns) == ("clips_csv", ("b", "a"))
    assert lab.classes == ("darting", "freezing", "locomotion")
    assert lab.values.T.tolist() == [
        [N, N, N, 0, 0, 0, 2, 2, N, N],  # b: the later clip overwrites the overlap
        [N, N, 1, 1, N, N, N, N, N, N],  # a
    ]
    assert lab.bouts == (LabelBout(0, 5, 8, 2), LabelBout(1, 2, 4, 1), LabelBout(0, 3, 6, 0))
    with pytest.raises(InputError, match=r"clip \[5, 8\) is empty or ends after frame 7"):
        read_labels(path, n_frames=7)
    bad = _write(tmp_path / "bad.csv", "start_frame,stop_frame,label\n4,4,x\n")
    with pytest.raises(InputError, match="is empty"):
        read_labels(bad)


# ------------------------------------------------------------------ BORIS


def test_boris_subjects_are_columns(tmp_path: Path) -> None:
    rows = (
        "0.2,v.avi,1.0,10,m1,walk,,,START\n"
        "0.3,v.avi,1.0,10,m2,groom,,,START\n"
        "0.5,v.avi,1.0,10,m1,walk,,,STOP\n"
        "0.6,v.avi,1.0,10,m2,groom,,,STOP\n"
        "0.7,v.avi,1.0,10,m1,sniff,,,POINT\n"
        "0.8,v.avi,1.0,10,m2,walk,,,START\n"  # never stopped: runs to the end
        "0.9,v.avi,1.0,10,m1,groom,,,STOP\n"  # never started: skipped
    )
    path = _write(tmp_path / "b.csv", BORIS_HEAD + rows)
    lab = read_labels(path)
    assert (lab.source_format, lab.fps, lab.frames) == ("boris", 10.0, 10)  # 1.0 s at 10 fps
    assert lab.columns == ("m1", "m2") and lab.classes == ("groom", "sniff", "walk")
    assert lab.values.T.tolist() == [
        [N, N, 2, 2, 2, N, N, 1, N, N],
        [N, N, N, 0, 0, 0, N, N, 2, 2],
    ]
    # another frame rate and session length
    fast = read_labels(path, fps=20.0, n_frames=12)
    assert fast.values[:, 0].tolist() == [N, N, N, N, 2, 2, 2, 2, 2, 2, N, N]
    assert fast.values[:, 1].tolist() == [N] * 6 + [0] * 6
    with pytest.raises(InputError, match="label 'sniff' is not in the label set"):
        read_labels(path, classes=("walk", "groom"))


TWO_MICE = (
    "0.2,v.avi,1.0,10,adult,interact,,,START\n"
    "0.5,v.avi,1.0,10,adult,interact,,,STOP\n"
    "0.7,v.avi,1.0,10,adult,chase,,,POINT\n"
)


def test_boris_animal_no_subject_names_is_unlabelled_not_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.csv", BORIS_HEAD + TWO_MICE)
    lab = read_labels(path, animals=("adult", "juvenile"), classes=("chase", "interact"))
    assert lab.columns == ("adult", "juvenile") and lab.unlabelled == ("juvenile",)
    assert lab.values.T.tolist() == [[N, N, 1, 1, 1, N, N, 0, N, N], [N] * 10]
    assert lab.warnings == ()
    # a subject that names no animal is reported and left out; none matching is an error
    odd = _write(tmp_path / "odd.csv", BORIS_HEAD + TWO_MICE + "0.9,v.avi,1.0,10,cage,x,,,POINT\n")
    lab = read_labels(odd, animals=("Adult", "juvenile"), classes=("chase", "interact"))
    assert lab.values[:, 0].tolist() == [N, N, 1, 1, 1, N, N, 0, N, N]
    assert len(lab.warnings) == 1 and "'cage' names no animal" in lab.warnings[0]
    with pytest.raises(InputError, match="none of them names an animal"):
        read_labels(path, animals=("m1", "m2"))
    # one subject and one animal go together whatever the names
    assert read_labels(path, animals=("mouse",)).unlabelled == ()


def test_frames_no_label_covers_are_other_where_the_label_set_has_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.csv", BORIS_HEAD + TWO_MICE)
    classes = ("chase", "interact", "other")
    lab = read_labels(path, animals=("adult", "juvenile"), classes=classes)
    assert lab.values.T.tolist() == [[2, 2, 1, 1, 1, 2, 2, 0, 2, 2], [N] * 10]
    assert [(b.start, b.stop) for b in lab.bouts] == [(2, 5), (7, 8)]  # the file's own bouts
    # a frame-wise 0/1 file (ethome's frame,interact): its "other" column is derived
    framewise = _write(tmp_path / "f.csv", "frame,interact\n0,0\n1,1\n2,1\n3,0\n")
    lab = read_labels(framewise, classes=("interact", "other"))
    assert lab.layout == "binary" and lab.columns == ("interact", "other")
    assert lab.values.tolist() == [[0, 1], [1, 0], [1, 0], [0, 1]]
    ex = examples_from_labels(lab, ["adult", "juvenile"])
    assert [(e.start, e.stop, e.label) for e in ex] == [
        (0, 1, "other"),
        (1, 3, "interact"),
        (3, 4, "other"),
    ]
    # without "other" in the label set the frames stay unlabelled
    assert read_labels(framewise, classes=("interact",)).columns == ("interact",)


def test_boris_needs_a_frame_rate(tmp_path: Path) -> None:
    head = "Time,Subject,Behavior,Status\n"
    path = _write(tmp_path / "b.csv", head + "0.1,m,walk,START\n0.3,m,walk,STOP\n")
    with pytest.raises(InputError, match="states no frame rate"):
        read_labels(path)
    lab = read_labels(path, fps=10.0)
    assert lab.values[:, 0].tolist() == [N, 0, 0]  # no media length: up to the last stop


# ------------------------------------------------------------------ DLCAnalyzer


DLCANALYZER = (
    '"file";"Experimenter";"from";"to";"type";"ID";"DLCFile"\n'
    '"a";"Jin";0.0;10.0;"Start/End";"OFT_1";"x"\n'
    '"a";"Jin";0.2;0.4;"Grooming";"OFT_1";"x"\n'
    '"a";"Jin";0.6;0.68;"Supported";"OFT_1";"x"\n'
    '"b";"Ann";0.0;0.2;"Supported";"OFT_1";"x"\n'
    '"b";"Ann";0.3;0.34;"Rearing";"OFT_1";"x"\n'
    '"c";"Jin";0.0;1.0;"Grooming";"OFT_2";"x"\n'
)


def test_dlcanalyzer_raters_are_columns_of_one_video(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.csv", DLCANALYZER)
    assert label_videos(path) == ("OFT_1", "OFT_2")
    lab = read_labels(
        path, fps=25.0, classes=("Supported", "Grooming"), unknown="ignore", video="OFT_1"
    )
    assert (lab.source_format, lab.columns, lab.fps) == ("dlcanalyzer", ("Ann", "Jin"), 25.0)
    assert lab.frames == 17  # the video's last interval ends at 0.68 s
    assert lab.values.T.tolist() == [
        [0, 0, 0, 0, 0] + [N] * 12,
        [N] * 5 + [1] * 5 + [N] * 5 + [0, 0],
    ]
    assert read_labels(path, fps=25.0, video="OFT_2", n_frames=30).values[:, 0].tolist() == (
        [0] * 25 + [N] * 5
    )
    with pytest.raises(InputError, match="'Rearing' is not in the label set"):
        read_labels(path, fps=25.0, classes=("Supported", "Grooming"), video="OFT_1")
    with pytest.raises(InputError, match=r"labels videos \['OFT_1', 'OFT_2'\]; say which"):
        read_labels(path, fps=25.0)
    with pytest.raises(InputError, match="no frame rate"):
        read_labels(path, video="OFT_1")


# ------------------------------------------------------------------ errors and examples


def test_unknown_layouts_and_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_labels(tmp_path / "absent.csv")
    with pytest.raises(InputError, match="has columns"):
        read_labels(_write(tmp_path / "x.csv", "time,behaviour\n0,walk\n"))
    with pytest.raises(InputError, match="is empty"):
        read_labels(_write(tmp_path / "e.csv", "\n"))
    with pytest.raises(InputError, match=r"must lie in \[-1, 0\]"):
        Labels(np.array([[1]]), ("m",), ("walk",), "codes", "clips_csv", "x.csv")
    with pytest.raises(InputError, match=r"\(frames, 2 columns\) int64"):
        Labels(np.zeros((3, 1), np.int64), ("a", "b"), ("a", "b"), "binary", "framewise_csv", "")


CLASSES = ("freezing", "darting", "locomotion")


def test_examples_from_frames_clips_and_boris(tmp_path: Path) -> None:
    frames = _write(tmp_path / "frames.csv", "frame,label\n10,Freezing\n11,freezing\n40,darting\n")
    ex = examples_from_labels(read_labels(frames, n_frames=100, classes=CLASSES), ["m"])
    assert [(e.animal, e.start, e.stop, e.label) for e in ex] == [
        (0, 10, 12, "freezing"),
        (0, 40, 41, "darting"),
    ]
    clips = _write(
        tmp_path / "clips.csv", "start_frame,stop_frame,label,animal\n5,20,locomotion,b\n"
    )
    ex = examples_from_labels(read_labels(clips, n_frames=100, classes=CLASSES), ["a", "b"])
    assert [(e.animal, e.start, e.stop) for e in ex] == [(1, 5, 20)]
    indexed = _write(tmp_path / "i.csv", "frame,label,animal\n3,darting,1\n")
    ex = examples_from_labels(read_labels(indexed, n_frames=10, classes=CLASSES), ["a", "b"])
    assert [(e.animal, e.start) for e in ex] == [(1, 3)]
    boris = _write(
        tmp_path / "boris.csv",
        BORIS_HEAD + "1.0,v,3,30,m,darting,,,START\n1.5,v,3,30,m,darting,,,STOP\n",
    )
    ex = examples_from_labels(read_labels(boris, n_frames=100, fps=30, classes=CLASSES), ["x"])
    assert [(e.animal, e.start, e.stop, e.label) for e in ex] == [(0, 30, 45, "darting")]
    with pytest.raises(InputError, match="animal 'b' is not in the keypoints"):
        examples_from_labels(read_labels(clips, n_frames=100, classes=CLASSES), ["a"])
    # 0/1 columns: each run of 1s is a clip of its class, of the first animal
    binary = _write(tmp_path / "f.csv", "frame,freezing\n0,1\n1,1\n2,0\n3,1\n")
    ex = examples_from_labels(read_labels(binary), ["m", "n"])
    assert [(e.animal, e.start, e.stop, e.label) for e in ex] == [
        (0, 0, 2, "freezing"),
        (0, 3, 4, "freezing"),
    ]
