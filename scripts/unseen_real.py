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
from twitchwatch.pipeline import analyze  # noqa: E402
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
                blocks.append((t, t + x.shape[1] / 200.0, cls))
                parts.append(x)
                t += x.shape[1] / 200.0
    data = np.concatenate(parts, axis=1).astype(np.float32)
    return Recording(data, 200.0, tuple(f"EMG{i + 1}" for i in range(data.shape[0])), source="libemg myo"), blocks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "twitchwatch-unseen",
                    help="where the packages' files are kept (default ~/.cache/twitchwatch-unseen)")
    ap.add_argument("--model", help="this model instead of the shipped one")
    a = ap.parse_args(argv)
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
