"""The issue's bar for the report: a scripted four-week history in which caffeine days
twitch more. The report finds the caffeine effect (interval excluding 1) and claims none
for a tag that had none; the whole path is the real one (simulate -> analyze --db ->
log import -> report --json --html)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from twitchwatch.cli import main as twitchwatch

from conftest import run_cli as tw

ROOT = Path(__file__).resolve().parents[1]



def scripted_history(folder: Path, seed: int, days: int = 28) -> tuple[list[bool], list[bool]]:
    """One 8-minute session a day; caffeine days twitch at 2.5x the rate; alcohol is drawn
    independently and does nothing. Returns (caffeine days, alcohol days) and writes the
    recordings and diary.csv into ``folder``."""
    rng = np.random.default_rng(seed)
    caffeine = [bool(x) for x in rng.random(days) < 0.5]
    alcohol = [bool(x) for x in rng.random(days) < 0.5]
    first = dt.datetime(2026, 10, 26, 9, 0)
    rows = ["tag,value,at,from,to,note"]
    for d in range(days):
        day = first + dt.timedelta(days=d, minutes=int(rng.integers(0, 600)))
        rate = 40.0 if caffeine[d] else 16.0
        assert twitchwatch(["simulate", str(folder / f"day{d:02d}.bdf"), "--minutes", "8", "--channels", "2",
                            "--seed", str(seed * 1000 + d), "--twitch-rate", str(rate),
                            "--start", day.isoformat(timespec="minutes")]) == 0
        if caffeine[d]:
            rows.append(f"caffeine,200mg,{day.date().isoformat()}T07:30,,,")
        if alcohol[d]:
            rows.append(f"alcohol,2,{day.date().isoformat()}T20:00,,,")
    (folder / "diary.csv").write_text("\n".join(rows) + "\n")
    return caffeine, alcohol


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_report_finds_the_caffeine_effect_and_no_other(seed, tmp_path):
    recs = tmp_path / "recs"
    recs.mkdir()
    scripted_history(recs, seed)
    db = tmp_path / "log.sqlite"
    proc = tw("analyze", str(recs), "--db", str(db), "--regions", "calf", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert tw("log", "import", str(recs / "diary.csv"), "--db", str(db)).returncode == 0
    out, html = tmp_path / "report.json", tmp_path / "report.html"
    proc = tw("report", "--db", str(db), "--json", str(out), "--html", str(html))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    caf = doc["tags"]["caffeine"]
    assert caf["ci95"][0] > 1.0 and 1.6 < caf["rate_ratio"] < 4.0, caf
    assert caf["hours_with"] > 0 and caf["hours_without"] > 0
    assert caf["sentence"] and "caffeine" in caf["sentence"].lower()
    alc = doc["tags"]["alcohol"]
    # no claim: the interval at the report's claim level (Bonferroni over its 2 tags) holds 1
    assert alc["ci_claim"][0] <= 1.0 <= alc["ci_claim"][1] and alc["claim_level"] == 0.975, alc
    assert not alc["sentence"]
    assert "caffeine" in proc.stdout.lower()
    assert html.stat().st_size > 10_000
