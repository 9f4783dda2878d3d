"""scripts/unseen_real.py --myo-dir: the Myo readings under a folder (a clone of
aljazfrancic/myo-readings-dataset), scored offline; here on copies of the two files of
that dataset in ../shared/recordings/real."""
from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pytest

from conftest import REAL, REPO

_spec = importlib.util.spec_from_file_location("unseen_real", REPO / "scripts" / "unseen_real.py")
unseen_real = sys.modules["unseen_real"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(unseen_real)

REST, FIST = REAL / "myo-readings_12345-1_0.txt", REAL / "myo-readings_12345-1_7.txt"
pytestmark = pytest.mark.skipif(not (REST.is_file() and FIST.is_file()), reason="the shared Myo files are missing")


def _table(out: str) -> dict[str, list[str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")]
    return {r[0]: r[1:] for r in rows[1:]}


def test_myo_readings_are_told_from_other_text(tmp_path):
    floats = tmp_path / "floats.txt"
    floats.write_text("0.5,1,2,3,4,5,6,7,0\n")
    loud = tmp_path / "loud.txt"
    loud.write_text("300,1,2,3,4,5,6,7,0\n")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)))
    assert unseen_real.is_myo_readings(REST) and unseen_real.is_myo_readings(FIST)
    for other in (REAL / "emg.txt", REAL / "OpenBCI-RAW-S05_S1REST.txt", floats, loud, binary, tmp_path / "none.txt"):
        assert not unseen_real.is_myo_readings(other), other


def test_myo_dir_scores_each_wearers_rest_and_gestures(tmp_path, capsys):
    """One row per Myo file (other text skipped); rest is the file outside its gestures
    (label not 0, padded 0.5 s); the files we trained on are marked and left out of the
    total."""
    (tmp_path / "12345-1").mkdir()
    (tmp_path / "55555-2").mkdir()
    shutil.copy(REST, tmp_path / "12345-1" / "0.txt")
    shutil.copy(FIST, tmp_path / "12345-1" / "7.txt")
    shutil.copy(FIST, tmp_path / "55555-2" / "7.txt")
    shutil.copy(REAL / "emg.txt", tmp_path / "55555-2" / "emg.txt")
    assert unseen_real.main(["--myo-dir", str(tmp_path)]) == 0
    rows = _table(capsys.readouterr().out)
    assert set(rows) == {"12345-1/0.txt (trained on)", "12345-1/7.txt (trained on)", "55555-2/7.txt",
                         "all not trained on"}
    minutes, rest, twitches, per_min, gestures = rows["55555-2/7.txt"]
    labels = np.loadtxt(FIST, delimiter=",", usecols=-1)
    gesture_s = sum(b - a for a, b in unseen_real.label_column_intervals(FIST, unseen_real.MYO_FS))
    assert float(minutes) == pytest.approx(labels.size / unseen_real.MYO_FS / 60, abs=0.05)
    assert float(rest) == pytest.approx(float(minutes) - gesture_s / 60, abs=0.05) and float(rest) < float(minutes)
    assert gestures.endswith(f"of {len(unseen_real.label_column_intervals(FIST, unseen_real.MYO_FS))}")
    assert float(per_min) == pytest.approx(int(twitches) / float(rest), abs=0.05)
    assert rows["12345-1/0.txt (trained on)"][1] == rows["12345-1/0.txt (trained on)"][0]  # all rest
    assert rows["all not trained on"][1:3] == [rest, twitches]


@pytest.mark.parametrize("case", ["missing", "no myo files"])
def test_myo_dir_without_readings_is_a_one_line_error(tmp_path, capsys, case):
    folder = tmp_path / "missing" if case == "missing" else tmp_path
    if case != "missing":
        shutil.copy(REAL / "emg.txt", tmp_path / "emg.txt")
    assert unseen_real.main(["--myo-dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--myo-dir" in err and str(folder) in err
