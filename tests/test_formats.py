"""Reading and writing recording files (twitchwatch.formats)."""
from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twitchwatch.errors import RecordingError
from twitchwatch.formats import EdfWriter, open_recording, parse_columns, sniff, write_recording
from twitchwatch.types import Recording

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "recordings" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"shared real recordings not found at {REAL}")

# file, options, fs, channels, samples (None: just check duration), duration_s
REAL_FILES = [
    ("OpenBCI-RAW-S05_S1R0.txt", {}, 200.0, 4, 26474, 132.37),
    ("OpenBCI-RAW-S05_S1REST.txt", {}, 200.0, 4, 4879, 24.395),
    ("OpenBCI_GUI-v6-blinks-jawClench-alpha.txt", {}, 250.0, 8, 22490, 89.96),
    ("emg.txt", {}, 1000.0, 1, 100000, 100.0),
    ("emg_1.txt", {}, 1000.0, 1, 63880, 63.88),
    ("myo-readings_12345-1_7.txt", {"fs": 200, "columns": "0-7"}, 200.0, 8, 11935, 59.675),
    ("myo-readings_12345-1_0.txt", {"fs": 200, "columns": "0-7"}, 200.0, 8, 11925, 59.625),
]


def _check_shape(rec: Recording) -> None:
    assert rec.data.dtype == np.float32 and rec.data.flags.c_contiguous
    assert rec.data.ndim == 2 and len(rec.channels) == rec.n_channels
    assert isinstance(rec.meta["warnings"], list) and isinstance(rec.meta["nonfinite"], int)


@needs_real
@pytest.mark.parametrize("name,options,fs,n_ch,n_samples,duration", REAL_FILES)
def test_real_files_open(name, options, fs, n_ch, n_samples, duration):
    rec = open_recording(REAL / name, **options)
    _check_shape(rec)
    assert rec.fs == fs and rec.n_channels == n_ch and rec.n_samples == n_samples
    assert rec.duration_s == pytest.approx(duration, abs=0.01)
    assert rec.source == str(REAL / name)
    assert rec.meta["nonfinite"] == 0 and rec.meta["warnings"] == []


@needs_real
def test_real_file_details():
    old = open_recording(REAL / "OpenBCI-RAW-S05_S1R0.txt")
    assert old.meta["format"] == "openbci-txt"
    assert old.channels == ("EXG0", "EXG1", "EXG2", "EXG3")
    assert old.data[:2, 0].tolist() == pytest.approx([22.78, 0.90], abs=1e-4)
    assert not old.data[2:].any()  # unused Ganglion channels
    assert old.start_time is None  # the old format has a clock time but no date
    v6 = open_recording(REAL / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt")
    assert v6.channels == tuple(f"EXG{i}" for i in range(8))
    assert v6.data[0, 0] == pytest.approx(61379.36) and v6.data[7, -1] == pytest.approx(-6470.99)
    assert v6.start_time == dt.datetime.fromtimestamp(1557936053.329, tz=dt.timezone.utc)
    assert v6.meta["units"] == "uV"
    bio = open_recording(REAL / "emg.txt")
    assert bio.meta["format"] == "text" and bio.meta["units"] == "counts"
    assert bio.channels == ("EMG",) and bio.data[0, :3].tolist() == [2055.0, 2056.0, 2055.0]
    myo = open_recording(REAL / "myo-readings_12345-1_7.txt", fs=200, columns="0-7")
    assert myo.data[:, -1].tolist() == [-2, -4, -15, -8, -17, 9, -4, 1]  # no trailing newline
    assert open_recording(REAL / "myo-readings_12345-1_7.txt", fs=200).n_channels == 9
    assert sniff(REAL / "emg.txt") == "text"
    assert sniff(REAL / "OpenBCI-RAW-S05_S1R0.txt") == "openbci-txt"


@needs_real
def test_big_openbci_file_is_fast():
    t = time.perf_counter()
    open_recording(REAL / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt")
    assert time.perf_counter() - t < 1.0


@needs_real
def test_fs_override_and_channel_pick():
    rec = open_recording(REAL / "emg.txt", fs=500)
    assert rec.fs == 500 and any("overrides" in w for w in rec.meta["warnings"])
    rec = open_recording(REAL / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt", columns="2,4-5")
    assert rec.channels == ("EXG2", "EXG4", "EXG5")


def _rec(n: int = 250 * 4 + 17, fs: float = 250.0, start: dt.datetime | None = None) -> Recording:
    rng = np.random.default_rng(1)
    data = (rng.standard_normal((3, n)) * 80).astype(np.float32)
    data[1] += 40_000  # a DC offset like unfiltered Cyton data
    data[2] = -3.5  # a flat channel
    return Recording(data, fs, ("EMG1", "EMG2", "flat"), start_time=start,
                     annotations=[(1.5, 0.25, "twitch"), (2.004, 0.0, "tag:caffeine")])


@pytest.mark.parametrize("ext,fmt,bits", [("edf", "edf", 16), ("bdf", "bdf", 24)])
def test_round_trip(tmp_path, ext, fmt, bits):
    rec = _rec(start=dt.datetime(2024, 5, 6, 7, 8, 9))
    path = tmp_path / f"rt.{ext}"
    write_recording(path, rec)
    back = open_recording(path)
    _check_shape(back)
    assert back.meta["format"] == fmt and back.fs == rec.fs and back.channels == rec.channels
    assert back.n_samples == rec.n_samples  # the padded last record is cut off again
    span = rec.data.max(axis=1) - rec.data.min(axis=1)
    step = (span * 1.02 + 2 + 2) / 2 ** bits  # physical range / digital range (upper bound)
    err = np.abs(back.data.astype(np.float64) - rec.data).max(axis=1)
    ulp = np.abs(rec.data).max(axis=1) * 2.0 ** -23  # float32 resolution at the largest value
    assert np.all(err <= step + 2 * ulp), (err, step)  # within one digital step
    assert back.start_time == rec.start_time
    assert [t for _, _, t in back.annotations] == [t for _, _, t in rec.annotations]
    assert np.allclose([a[:2] for a in back.annotations], [a[:2] for a in rec.annotations], atol=1e-4)
    assert back.meta["warnings"] == []


def test_round_trip_defaults_and_explicit_annotations(tmp_path):
    rec = _rec(n=500)
    write_recording(tmp_path / "a.bdf", rec, annotations=[(0.1, 0.0, "x")])
    back = open_recording(tmp_path / "a.bdf")
    assert back.start_time is None and back.n_samples == 500
    assert back.annotations == [(pytest.approx(0.1), 0.0, "x")]


def test_incremental_writer_matches_whole_write(tmp_path):
    rec = _rec(n=1234)
    with EdfWriter.open(tmp_path / "live.bdf", rec.fs, rec.channels, bdf=True) as w:
        for i in range(0, rec.n_samples, 37):
            w.append(rec.data[:, i:i + 37])
        w.annotate(1.0, 0.5, "spasm")
    back = open_recording(tmp_path / "live.bdf")
    assert back.n_samples == 1234 and back.annotations == [(1.0, 0.5, "spasm")]
    assert np.abs(back.data - rec.data).max() < 0.03  # default +-187.5 mV range, 24 bits
    assert w.clipped == 0 and w.nonfinite == 0


def test_interrupted_live_file_reads_complete_records(tmp_path):
    w = EdfWriter(tmp_path / "live.bdf", 250, ["a", "b"])
    w.append(np.ones((2, 800)))
    shutil.copy(tmp_path / "live.bdf", tmp_path / "crash.bdf")  # as if the process died
    w.close()
    rec = open_recording(tmp_path / "crash.bdf")
    assert rec.n_samples == 750 and "not closed" in rec.meta["warnings"][0]


def test_truncated_edf_reads_complete_records(tmp_path):
    write_recording(tmp_path / "a.edf", _rec())
    raw = (tmp_path / "a.edf").read_bytes()
    (tmp_path / "cut.edf").write_bytes(raw[:-1000])
    rec = open_recording(tmp_path / "cut.edf")
    assert rec.n_samples in (750, 1000) and rec.meta["warnings"]


def test_edf_units_and_mixed_rates(tmp_path):
    import pyedflib

    path = tmp_path / "mixed.edf"
    heads = [{"label": "EMG_mV", "dimension": "mV", "sample_frequency": 500, "physical_min": -5,
              "physical_max": 5, "digital_min": -32768, "digital_max": 32767},
             {"label": "EMG_V", "dimension": "V", "sample_frequency": 500, "physical_min": -0.01,
              "physical_max": 0.01, "digital_min": -32768, "digital_max": 32767},
             {"label": "Temp", "dimension": "degC", "sample_frequency": 10, "physical_min": 0,
              "physical_max": 50, "digital_min": -32768, "digital_max": 32767}]
    with pyedflib.EdfWriter(str(path), 3, pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders(heads)
        w.writeSamples([np.full(1000, 1.0), np.full(1000, 0.002), np.full(20, 30.0)])
    rec = open_recording(path)
    assert rec.fs == 500 and rec.channels == ("EMG_mV", "EMG_V")
    assert rec.data[:, 5] == pytest.approx([1000.0, 2000.0], rel=1e-3)
    assert any("Temp" in w for w in rec.meta["warnings"])


def test_edf_signals_not_in_volts_are_not_read_as_emg(tmp_path):
    """A BioSemi Status channel or an accelerometer at the EMG's rate is not EMG: with
    channels in volts beside them, they are dropped (numbering follows the EMG channels)."""
    import pyedflib

    rng = np.random.default_rng(3)
    emg = rng.normal(0, 20, (2, 1000))
    others = {"Status": ("Boolean", np.repeat([0.0, 255.0], 500)), "AccelX": ("g", np.full(1000, 0.98))}
    heads, rows = [], []
    for label, (dim, x) in others.items():
        heads.append({"label": label, "dimension": dim, "sample_frequency": 500, "physical_min": -300,
                      "physical_max": 300, "digital_min": -8388608, "digital_max": 8388607})
        rows.append(x)
    for k in range(2):
        heads.append({"label": f"EMG{k}", "dimension": "uV", "sample_frequency": 500, "physical_min": -300,
                      "physical_max": 300, "digital_min": -8388608, "digital_max": 8388607})
        rows.append(emg[k])
    path = tmp_path / "status.bdf"
    with pyedflib.EdfWriter(str(path), len(heads), pyedflib.FILETYPE_BDFPLUS) as w:
        w.setSignalHeaders(heads)
        w.writeSamples(rows)
    rec = open_recording(path)
    assert rec.channels == ("EMG0", "EMG1")
    assert np.allclose(rec.data, emg, atol=1e-3)
    assert any("Status" in w and "AccelX" in w for w in rec.meta["warnings"])
    heads = [dict(h, dimension="") for h in heads]  # no units at all: every signal is read, as before
    with pyedflib.EdfWriter(str(path), len(heads), pyedflib.FILETYPE_BDFPLUS) as w:
        w.setSignalHeaders(heads)
        w.writeSamples(rows)
    assert open_recording(path).channels == ("Status", "AccelX", "EMG0", "EMG1")


def test_brainflow_csv_from_write_file(tmp_path):
    from brainflow.board_shim import BoardIds, BoardShim
    from brainflow.data_filter import DataFilter

    bid = BoardIds.SYNTHETIC_BOARD.value
    descr = BoardShim.get_board_descr(bid)
    n = 500
    data = np.random.default_rng(2).standard_normal((descr["num_rows"], n)) * 50
    data[descr["package_num_channel"]] = np.arange(n) % 256
    data[descr["timestamp_channel"]] = 1_700_000_000.25 + np.arange(n) / descr["sampling_rate"]
    path = tmp_path / "bf.csv"
    DataFilter.write_file(data, str(path), "w")
    for board in ("synthetic", "SYNTHETIC_BOARD", "-1", str(bid)):
        rec = open_recording(path, board=board)
        _check_shape(rec)
        assert rec.meta["format"] == "brainflow-csv" and rec.fs == descr["sampling_rate"]
        assert rec.n_channels == len(descr["emg_channels"]) and rec.n_samples == n
        assert np.allclose(rec.data, data[descr["emg_channels"]], atol=1e-5)
        assert rec.start_time == dt.datetime.fromtimestamp(1_700_000_000.25, tz=dt.timezone.utc)
    guessed = open_recording(path)  # no --board: the 32-row layout, the rate from the timestamps
    assert guessed.fs == descr["sampling_rate"] and np.array_equal(guessed.data, rec.data)
    assert any("no --board" in w for w in guessed.meta["warnings"])
    with pytest.raises(RecordingError, match=r"bf\.csv.*32.*24"):
        open_recording(path, board="cyton")
    with pytest.raises(RecordingError, match=r"bf\.csv.*--board nosuch"):
        open_recording(path, board="nosuch")


def _bf_file(path, board: str, n: int, rate: float) -> np.ndarray:
    """A BrainFlow CSV (``DataFilter.write_file``) in ``board``'s layout whose timestamps
    run at ``rate``; returns its EMG rows."""
    from brainflow.board_shim import BoardShim
    from brainflow.data_filter import DataFilter

    from twitchwatch.formats.brainflow_csv import board_id

    descr = BoardShim.get_board_descr(board_id(board))
    data = np.random.default_rng(n).standard_normal((descr["num_rows"], n)) * 20
    data[descr["package_num_channel"]] = np.arange(n) % 256
    data[descr["timestamp_channel"]] = 1_700_000_000.0 + np.arange(n) / rate
    DataFilter.write_file(data, str(path), "w")
    return data[descr["emg_channels"]]


@pytest.mark.parametrize("board,rate,layout", [("ganglion", 200.0, "ganglion"), ("cyton", 1000.0, "cyton"),
                                               ("cyton-daisy", 125.0, "synthetic"), ("synthetic", 503.0, "synthetic")])
def test_brainflow_csv_without_a_board_takes_its_layout_from_its_columns(tmp_path, board, rate, layout):
    """No --board: the common board with the file's column count gives the rows (the
    synthetic board and the Cyton+Daisy share theirs), the timestamps the rate, snapped to
    one of that board's rates when within 5 % (503 Hz is none: it stays 503); --fs wins."""
    path = tmp_path / "nb.csv"
    emg = _bf_file(path, board, 3000, rate)
    rec = open_recording(path)
    assert rec.meta["format"] == "brainflow-csv" and rec.fs == rate and rec.n_samples == 3000
    assert rec.n_channels == emg.shape[0] and np.allclose(rec.data, emg, atol=1e-4)
    assert any(f"{layout} board's layout" in w for w in rec.meta["warnings"])
    assert open_recording(path, fs=300.0).fs == 300.0


def test_brainflow_csv_timestamps_overrule_the_board_only_when_long_and_far_off(tmp_path):
    """--board cyton (250 Hz) on a file whose timestamps run at 1000 Hz for 12 s is read at
    1000 Hz with a warning that says so; 5 % off, 1000 Hz for only 5 s, or a clock that
    steps back somewhere keeps 250 Hz (the last with a warning: nothing checked it)."""
    long, near, short = tmp_path / "long.csv", tmp_path / "near.csv", tmp_path / "short.csv"
    _bf_file(long, "cyton", 12000, 1000.0)
    _bf_file(near, "cyton", 3000, 262.5)
    _bf_file(short, "cyton", 5000, 1000.0)
    rec = open_recording(long, board="cyton")
    assert rec.fs == 1000.0 and any("timestamps say 1000.0 Hz" in w for w in rec.meta["warnings"])
    assert open_recording(long, board="cyton", fs=250.0).fs == 250.0
    assert open_recording(near, board="cyton").fs == 250.0
    assert open_recording(short, board="cyton").fs == 250.0
    # a clock that steps back (blocks of rows pasted over and over) says nothing
    text = long.read_text().splitlines(keepends=True)
    (tmp_path / "pasted.csv").write_text("".join(text * 2))  # 12 s of stamps, 24000 rows
    pasted = open_recording(tmp_path / "pasted.csv", board="cyton")
    assert pasted.fs == 250.0
    # ... and the reader says that the board's rate was taken unchecked (a clock that runs is no news)
    assert any("timestamps give no rate" in w and "--fs" in w for w in pasted.meta["warnings"])
    assert not any("timestamps" in w for w in open_recording(near, board="cyton").meta["warnings"])


@pytest.mark.parametrize("fs", [200.0, 1000.0])
def test_brainflow_csv_with_unused_rows_gives_the_episodes_of_its_live_channels(tmp_path, fs):
    """Four simulated channels in the synthetic board's 16 EMG rows, the other twelve
    zeros (as a board's file holds rows with no electrode): analysed, the four give the
    events they give alone, and the flat rows none. Flat rows were most of the channels,
    and the hum went unfound: 79 episodes of a minute became 1."""
    from brainflow.board_shim import BoardIds, BoardShim
    from brainflow.data_filter import DataFilter

    from twitchwatch.pipeline import analyze
    from twitchwatch.synth import SynthConfig, simulate

    rec, _ = simulate(SynthConfig(minutes=1.0, fs=fs, seed=1))
    descr = BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD.value)
    table = np.zeros((descr["num_rows"], rec.n_samples))
    table[descr["emg_channels"][:4]] = rec.data
    table[descr["timestamp_channel"]] = 1_700_000_000.0 + np.arange(rec.n_samples) / fs
    path = tmp_path / "four_of_16.csv"
    DataFilter.write_file(table, str(path), "w")
    back = open_recording(path, board="synthetic", fs=fs)
    assert back.n_channels == 16

    def events(r):
        return [(e.channel, e.start_s, e.end_s, e.kind, round(e.confidence, 4)) for e in analyze(r)]

    alone = events(Recording(back.data[:4], fs, back.channels[:4]))
    assert len(alone) >= 5 and events(back) == alone


def test_brainflow_csv_of_an_unknown_layout_asks_for_its_board(tmp_path):
    path = tmp_path / "muse.csv"
    from brainflow.board_shim import BoardIds, BoardShim
    from brainflow.data_filter import DataFilter

    descr = BoardShim.get_board_descr(BoardIds.MUSE_2_BOARD.value)
    data = np.random.default_rng(0).standard_normal((descr["num_rows"], 600))
    data[descr["timestamp_channel"]] = 1_700_000_000.0 + np.arange(600) / 256
    DataFilter.write_file(data, str(path), "w")
    with pytest.raises(RecordingError, match=r"muse\.csv.*--board"):
        open_recording(path)


def test_brainflow_csv_from_synthetic_board(tmp_path):
    from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams
    from brainflow.data_filter import DataFilter

    BoardShim.disable_board_logger()
    board = BoardShim(BoardIds.SYNTHETIC_BOARD, BrainFlowInputParams())
    board.prepare_session()
    try:
        board.start_stream()
        time.sleep(0.5)
        data = board.get_board_data()
        board.stop_stream()
    finally:
        board.release_session()
    if data.shape[1] == 0:
        pytest.skip("the synthetic board produced no samples")
    DataFilter.write_file(data, str(tmp_path / "live.csv"), "w")
    rec = open_recording(tmp_path / "live.csv", board="synthetic")
    assert rec.n_samples == data.shape[1] and rec.n_channels == 16 and rec.start_time is not None


def test_parse_columns():
    assert parse_columns("0-7") == list(range(8))
    assert parse_columns("1,3,5") == [1, 3, 5]
    assert parse_columns("0-3,6") == [0, 1, 2, 3, 6]
    assert parse_columns(" 2 ") == [2]
    for bad in ("", "a", "3-1", "1,1", "-1", "1-2-3"):
        with pytest.raises(RecordingError, match="--columns"):
            parse_columns(bad)


def _write(tmp_path: Path, name: str, content: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def test_text_variants(tmp_path):
    rec = open_recording(_write(tmp_path, "t.tsv", b"1\t2\n3\t4\n"), fs=100)
    assert rec.data.tolist() == [[1, 3], [2, 4]] and rec.channels == ("ch0", "ch1")
    rec = open_recording(_write(tmp_path, "s.txt", b"1 2  3\n 4 5 6\n"), fs=100, columns="2,0")
    assert rec.data.tolist() == [[3, 6], [1, 4]]
    rec = open_recording(_write(tmp_path, "e.csv", b"1,5;2\r\n3;4,25\r\n"), fs=100)
    assert rec.data.tolist() == [[1.5, 3], [2, 4.25]]
    rec = open_recording(_write(tmp_path, "h.csv", b"# note\nEMG1,EMG2,t\n1,2,a\n3,4,b\n"), fs=100)
    assert rec.channels == ("EMG1", "EMG2") and rec.meta["units"].startswith("unknown")
    rec = open_recording(_write(tmp_path, "n.csv", b"1,nan\ninf,2\n3,4\n"), fs=100)
    assert rec.meta["nonfinite"] == 2 and np.isnan(rec.data[1, 0])


def test_truncated_last_line_is_dropped(tmp_path):
    rec = open_recording(_write(tmp_path, "cut.csv", b"1,2,3\n4,5,6\n7,8"), fs=100)
    assert rec.n_samples == 2 and "line 3" in rec.meta["warnings"][0]
    rec = open_recording(_write(tmp_path, "cut2.csv", b"1,2,3\n4,5,6\n7,8,-"), fs=100)
    assert rec.n_samples == 2 and rec.meta["warnings"]


@needs_real
def test_truncated_real_openbci_file(tmp_path):
    raw = (REAL / "OpenBCI-RAW-S05_S1REST.txt").read_bytes()
    rec = open_recording(_write(tmp_path, "cut.txt", raw[:-20]))
    assert rec.n_samples == 4878 and rec.meta["warnings"]


ERRORS = [
    ("empty.csv", b"", {}, "empty"),
    ("inconsistent.csv", b"1,2\n3\n5,6\n7,8\n", {"fs": 100}, "line 2"),
    ("notnumbers.csv", b"1,2\n3,x\n5,6\n", {"fs": 100}, "line 2"),
    ("nofs.csv", b"1,2\n3,4\n", {}, "--fs"),
    ("slow.csv", b"1,2\n3,4\n", {"fs": 10}, "--fs"),
    ("zero.csv", b"1,2\n3,4\n", {"fs": 0}, "--fs"),
    ("fast.csv", b"1,2\n3,4\n", {"fs": 2e5}, "--fs"),
    ("badhdr.txt", b"# Sampling Rate (Hz):= 5\n1\n2\n", {}, "Sampling Rate"),
    ("headeronly.txt", b"# Sampling Rate (Hz):= 1000\n", {}, "no samples"),
    ("obci.txt", b"%OpenBCI Raw EEG Data\r\n%Sample Rate = 200.0 Hz\r\n", {}, "no samples"),
    ("binary.dat", bytes(range(256)) * 4, {}, "not a recording format"),
    ("words.txt", b"hello world\nthis is prose\n", {"fs": 100}, "line 2"),
    ("fake.edf", b"1,2\n3,4\n", {"fs": 100}, "EDF"),
    ("cols.csv", b"1,2\n3,4\n", {"fs": 100, "columns": "0-5"}, "--columns"),
    ("badcols.csv", b"1,2\n3,4\n", {"fs": 100, "columns": "zero"}, "--columns"),
]


@pytest.mark.parametrize("name,content,options,needle", ERRORS)
def test_errors_name_the_file(tmp_path, name, content, options, needle):
    path = _write(tmp_path, name, content)
    with pytest.raises(RecordingError) as info:
        open_recording(path, **options)
    message = str(info.value)
    assert name in message and needle in message and "\n" not in message


def test_missing_and_folder(tmp_path):
    with pytest.raises(RecordingError, match="nothere.txt.*no such file"):
        open_recording(tmp_path / "nothere.txt")
    with pytest.raises(RecordingError, match="folder"):
        open_recording(tmp_path)


def test_write_errors(tmp_path):
    rec = _rec(n=300)
    with pytest.raises(RecordingError, match=r"out\.csv"):
        write_recording(tmp_path / "out.csv", rec)
    with pytest.raises(RecordingError, match="no samples"):
        write_recording(tmp_path / "e.bdf", Recording(np.zeros((1, 0), np.float32), 250.0, ("a",)))


def _fuzz_sources() -> list[bytes]:
    out = [b"1,2,3\n4,5,6\n7,8,9\n", b"# Sampling Rate (Hz):= 1000.00\n# Labels:= EMG\n1\n2\n3\n"]
    if REAL.is_dir():
        out.append((REAL / "OpenBCI-RAW-S05_S1REST.txt").read_bytes()[:4000])
        out.append((REAL / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt").read_bytes()[:6000])
        out.append((REAL / "emg_1.txt").read_bytes()[:2000])
    return out


_SOURCES = _fuzz_sources()


def _open_or_user_error(path: Path, **options) -> None:
    try:
        rec = open_recording(path, **options)
    except RecordingError as exc:
        assert path.name in str(exc)
    else:
        _check_shape(rec)
        assert rec.n_samples > 0


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=400), st.sampled_from([{}, {"fs": 250}, {"board": "cyton"}]))
def test_fuzz_random_bytes(tmp_path, blob, options):
    _open_or_user_error(_write(tmp_path, "fuzz.txt", blob), **options)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, len(_SOURCES) - 1), st.floats(0, 1), st.integers(0, 255), st.booleans())
def test_fuzz_truncated_and_damaged_copies(tmp_path, which, cut, byte, damage):
    raw = bytearray(_SOURCES[which])
    end = max(1, int(len(raw) * cut))
    if damage:
        raw[end - 1] = byte
    _open_or_user_error(_write(tmp_path, "cut.txt", bytes(raw[:end])), fs=250)
    _open_or_user_error(_write(tmp_path, "cut.txt", bytes(raw[:end])))


_EDF_BYTES: dict[str, bytes] = {}


def _edf_bytes(tmp_path: Path, ext: str) -> bytes:
    if ext not in _EDF_BYTES:
        write_recording(tmp_path / f"src.{ext}", _rec(n=600))
        _EDF_BYTES[ext] = (tmp_path / f"src.{ext}").read_bytes()
    return _EDF_BYTES[ext]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["edf", "bdf"]), st.integers(1, 9000), st.integers(0, 300), st.integers(0, 255))
def test_fuzz_damaged_edf(tmp_path, ext, cut, pos, byte):
    raw = bytearray(_edf_bytes(tmp_path, ext))
    raw = raw[:min(cut, len(raw))]
    if pos < len(raw):
        raw[pos] = byte
    _open_or_user_error(_write(tmp_path, f"fuzz.{ext}", bytes(raw)))
