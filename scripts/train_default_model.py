"""Rebuild the shipped model, models/twitchwatch-default.skops (and its .json metadata).

    .venv/bin/python scripts/train_default_model.py

The same as `twitchwatch train --out models/twitchwatch-default.skops --seed 0
--real ../shared/recordings/real` (360 synthetic recordings per rate, `train.PER_RATE`):
deterministic (byte for byte but skops object ids), about five minutes on two cores. After it,
run scripts/evaluate.py to refresh the held-out figures in models/MODEL_CARD.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from twitchwatch.cli import main  # noqa: E402

if __name__ == "__main__":
    real = ROOT.parent / "shared" / "recordings" / "real"
    args = ["train", "--out", str(ROOT / "models" / "twitchwatch-default.skops"), "--seed", "0"]
    if real.is_dir():
        args += ["--real", str(real)]
    else:
        print(f"note: {real} not found; training on synthetic recordings only", file=sys.stderr)
    sys.exit(main(args + sys.argv[1:]))
