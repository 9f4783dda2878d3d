"""Real surface EMG that twitchwatch never trained or tuned on, fetched from PyPI packages
that carry it, and what the pipeline reports on it.

    .venv/bin/pip install h5py            # or: pip install -e '.[unseen]'
    PYTHONPATH=src .venv/bin/python scripts/unseen_real.py [--cache DIR] [--model PATH]

- PLUX (biosignalsnotebooks 0.6.14, MIT; in its wheel, OpenSignals HDF5): one channel at
  1000 Hz each. The adductor pollicis recorded by two devices at once (16 and 8 bits), and
  alone: brief thumb contractions every few seconds with the muscle not quite relaxed
  between them. The biceps in cyclic contractions (`emg_bursts`), and flexing to
  fatigue (`emg_fatigue`).
- Myo (libemg 2.0.3, MIT; its sdist's tests/data/myo_dataset): one wearer, 200 Hz, 8
  channels, 4 repetitions x 5 classes of 3 s (0 close, 1 open, 2 rest, 3 flexion, 4
  extension), joined in order into one minute.

With ``--myo-dir DIR`` it scores instead the Myo readings under DIR, such as a clone of
aljazfrancic/myo-readings-dataset (MIT; two of its files, wearer 12345-1's 0.txt and
7.txt, are in twitchwatch's training data): every wearer's rest (label 0) and gestures.

No truth comes with them beyond what the subject was doing: twitches reported there are
counted, not scored. Between contractions a muscle fires single motor units, and
reporting them as twitches is what a wearer would call false.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from twitchwatch.classify import make_classifier  # noqa: E402
from twitchwatch.errors import UserError  # noqa: E402
from twitchwatch.formats import open_recording  # noqa: E402
from twitchwatch.pipeline import analyze  # noqa: E402
from twitchwatch.train import REAL_LABELS, label_column_intervals  # noqa: E402
from twitchwatch.types import Recording  # noqa: E402

PLUX_WHEEL = "biosignalsnotebooks-0.6.14-py3-none-any.whl"
PLUX_DIR = "biosignalsnotebooks/notebook_files/osf_files/signal_samples/"
PLUX = {"emg_1000_hz_16_bits": "adductor pollicis, brief contractions",
        "emg_1000_hz_16_bits_solo": "adductor pollicis, brief contractions",
        "emg_1000_hz_8_16_bits": "adductor pollicis, brief contractions",
        "emg_bursts": "biceps, cyclic contractions",
        "emg_fatigue": "biceps, flexion to fatigue"}
MYO_SDIST = "libemg-2.0.3.tar.gz"
MYO_DIR = "libemg-2.0.3/tests/data/myo_dataset/"
MYO_REST = 2  # the class number of rest
MYO_READ = REAL_LABELS["myo-readings_12345-1_0.txt"][0]  # a Myo readings file read as training reads it
MYO_FS = float(MYO_READ["fs"])  # the Myo armband's EMG rate (its files carry none)
MYO_FIELDS = 9  # a Myo readings line: 8 channels (int8) and a gesture label (0: rest)
TRAINED_MYO = ("12345-1/0.txt", "12345-1/7.txt")  # the dataset's files in our training data


def fetch(cache: Path) -> None:
    """The two packages' files, from PyPI (pip download; no install)."""
    cache.mkdir(parents=True, exist_ok=True)
    for spec, name, extra in (("biosignalsnotebooks==0.6.14", PLUX_WHEEL, []),
                              ("libemg==2.0.3", MYO_SDIST, ["--no-binary", "libemg"])):
        if not (cache / name).is_file():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *extra, spec,
                            "-d", str(cache)], check=True)


def plux_recordings(cache: Path):
    """(name, what, Recording in uV) for each PLUX EMG channel at 1000 Hz."""
    import h5py

    with zipfile.ZipFile(cache / PLUX_WHEEL) as wheel:
        for stem, what in PLUX.items():
            target = cache / f"{stem}.h5"
            if not target.is_file():
                target.write_bytes(wheel.read(PLUX_DIR + f"{stem}.h5"))
            with h5py.File(target) as h5:
                for device, g in h5.items():
                    fs = float(g.attrs["sampling rate"])
                    if fs < 100:  # the 10 Hz copy of one session: envelope, not EMG
                        continue
                    bits = int(str(g.attrs["resolution"]).strip("[]"))
                    raw = next(v for k, v in g["raw"].items() if k.startswith("channel"))[:, 0]
                    uv = (raw.astype(np.float64) / 2 ** bits - 0.5) * 3000.0  # PLUX EMG: VCC 3 V, gain 1000
                    yield (f"{stem} ({bits} bit, ...{device[-5:]})", what,
                           Recording(uv[None, :].astype(np.float32), fs, ("EMG",), source=stem))


def myo_recording(cache: Path) -> tuple[Recording, list[tuple[float, float, int]]]:
    """libemg's Myo blocks joined in order, and each block's (start s, end s, class)."""
    parts, blocks, t = [], [], 0.0
    with tarfile.open(cache / MYO_SDIST) as sdist:
        for rep in range(4):
            for cls in range(5):
                x = np.loadtxt(sdist.extractfile(f"{MYO_DIR}R_{rep}_C_{cls}_EMG.csv"), delimiter=",").T
                blocks.append((t, t + x.shape[1] / MYO_FS, cls))
                parts.append(x)
                t += x.shape[1] / MYO_FS
    data = np.concatenate(parts, axis=1).astype(np.float32)
    return Recording(data, MYO_FS, tuple(f"EMG{i + 1}" for i in range(data.shape[0])), source="libemg myo"), blocks


def is_myo_readings(path: Path) -> bool:
    """Whether ``path`` starts as a Myo readings file: 9 whole numbers a line, the 8
    channels' in -128..127."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().strip().split(",")
        values = [int(v) for v in fields]
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return len(values) == MYO_FIELDS and all(-128 <= v <= 127 for v in values[:-1])


def myo_dir_rows(folder: Path, model: str | None) -> list[list[str]]:
    """Per Myo readings file under ``folder``: twitches in its rest (outside its gestures,
    each padded by 0.5 s) and how many gestures hold a spasm; and a total row."""
    rows, rest_min, rest_twitches = [], 0.0, 0
    for path in sorted(p for p in folder.rglob("*.txt") if is_myo_readings(p)):
        rec = open_recording(path, **MYO_READ)
        eps = analyze(rec, classifier=make_classifier(model, rec.fs))
        gestures = label_column_intervals(path, rec.fs)
        inside = np.zeros(int(np.ceil(rec.duration_s * 10)), dtype=bool)  # in 0.1 s steps
        for a, b in gestures:
            inside[max(int(a * 10), 0): int(np.ceil(b * 10))] = True
        rest = (~inside).sum() / 10 / 60
        twitches = sum(e.kind == "twitch" and not any(a <= e.start_s < b for a, b in gestures) for e in eps)
        spasms = sum(any(e.kind == "spasm" and e.start_s < b and e.end_s > a for e in eps) for a, b in gestures)
        name = path.relative_to(folder).as_posix()
        trained = " (trained on)" if name.endswith(TRAINED_MYO) else ""
        rows.append([name + trained, f"{rec.duration_s / 60:.1f}", f"{rest:.1f}", str(twitches),
                     f"{twitches / rest:.1f}" if rest > 0 else "-", f"{spasms} of {len(gestures)}"])
        if not trained:
            rest_min, rest_twitches = rest_min + rest, rest_twitches + twitches
    rows.append(["all not trained on", "", f"{rest_min:.1f}", str(rest_twitches),
                 f"{rest_twitches / rest_min:.1f}" if rest_min > 0 else "-", ""])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "twitchwatch-unseen",
                    help="where the packages' files are kept (default ~/.cache/twitchwatch-unseen)")
    ap.add_argument("--model", help="this model instead of the shipped one")
    ap.add_argument("--myo-dir", type=Path, metavar="DIR",
                    help="score instead the Myo readings under DIR (a clone of aljazfrancic/myo-readings-dataset)")
    a = ap.parse_args(argv)
    if a.myo_dir is not None:
        if not a.myo_dir.is_dir():
            print(f"unseen_real.py: --myo-dir {a.myo_dir}: no such folder", file=sys.stderr)
            return 2
        try:
            rows = myo_dir_rows(a.myo_dir, a.model)
        except UserError as e:
            print(f"unseen_real.py: {e}", file=sys.stderr)
            return 2
        if len(rows) == 1:
            print(f"unseen_real.py: --myo-dir {a.myo_dir}: no Myo readings (.txt, 9 numbers a line) in it",
                  file=sys.stderr)
            return 2
        print("| file | min | rest min | twitches in rest | a minute | gestures holding a spasm |\n"
              "|---|---|---|---|---|---|")
        print("\n".join("| " + " | ".join(r) + " |" for r in rows))
        return 0
    try:
        import h5py  # noqa: F401
    except ImportError:
        print("unseen_real.py: needs h5py for the PLUX files: .venv/bin/pip install h5py", file=sys.stderr)
        return 2
    fetch(a.cache)
    print("| recording | what | min | twitches | a minute | spasms | artifacts |\n|---|---|---|---|---|---|---|")
    total, minutes = 0, 0.0
    for name, what, rec in plux_recordings(a.cache):
        eps = analyze(rec, classifier=make_classifier(a.model, rec.fs))
        kinds = [e.kind for e in eps]
        mins = rec.duration_s / 60
        total, minutes = total + kinds.count("twitch"), minutes + mins
        print(f"| {name} | {what} | {mins:.1f} | {kinds.count('twitch')} | {kinds.count('twitch') / mins:.1f} | "
              f"{kinds.count('spasm')} | {kinds.count('artifact')} |")
    print(f"| all PLUX | | {minutes:.1f} | {total} | {total / minutes:.1f} | | |")
    rec, blocks = myo_recording(a.cache)
    eps = analyze(rec, classifier=make_classifier(a.model, rec.fs))
    rest_s = sum(b - s for s, b, c in blocks if c == MYO_REST)
    in_rest = sum(e.kind == "twitch" and any(s <= e.start_s < b and c == MYO_REST for s, b, c in blocks) for e in eps)
    moving = [(s, b) for s, b, c in blocks if c != MYO_REST]
    reported = [{e.kind for e in eps if e.start_s < b and e.end_s > s} for s, b in moving]
    print(f"\nlibemg Myo (200 Hz, 8 channels, 1 min): {in_rest} twitches in {rest_s:.0f} s of rest "
          f"({in_rest / rest_s * 60:.1f} a minute), {sum(e.kind == 'twitch' for e in eps)} in all; of "
          f"{len(moving)} gesture blocks, {sum('spasm' in r for r in reported)} hold a spasm, "
          f"{sum('spasm' not in r and 'artifact' in r for r in reported)} only artifacts, "
          f"{sum(not r for r in reported)} nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
