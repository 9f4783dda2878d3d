"""The HTML report: self-contained, every plot an embedded PNG with an id and alt text,
user text escaped, and (where Chromium is installed) it renders headless with its plots
painted and no scripts."""
from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from twitchwatch.insights import summarize
from twitchwatch.report_html import TWITCH_COLOUR, render_html, write_html

T0 = datetime(2026, 10, 5, tzinfo=timezone.utc)
HOSTILE = "<script>alert(1)</script>"
PLOTS = ("plot-rate-by-day", "plot-rate-by-week", "plot-rate-by-tag", "plot-timeline", "plot-waveform-twitch")


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def tag(name: str, day: int, **kw) -> dict:
    d = T0 + timedelta(days=day)
    return {"id": day, "tag": name, "value": None, "unit": None, "text": None, "start": iso(d),
            "end": iso(d + timedelta(days=1)), "note": None, "flag": None} | kw


def log(seed: int = 0) -> tuple[list[dict], list[dict], list[dict]]:
    """Three weeks of 2-h evening sessions on two regions, more twitches on coffee days,
    a long spasm, a low potassium, and notes with hostile text."""
    rng = np.random.default_rng(seed)
    sessions, episodes = [], []
    coffee = set(range(0, 21, 2))
    for day in range(21):
        start = T0 + timedelta(days=day, hours=19)
        sessions.append({"id": day + 1, "source": f"rec{day}.bdf", "start": iso(start), "duration_s": 7200.0,
                         "fs": 250.0, "channels": ["EMG1", "EMG2"], "regions": ["calf", "hand"]})
        for s in np.sort(rng.uniform(0, 7200, rng.poisson(30 if day in coffee else 12))):
            episodes.append({"session_id": day + 1, "channel": int(s) % 2, "region": ("calf", "hand")[int(s) % 2],
                             "time": iso(start + timedelta(seconds=float(s))), "start_s": float(s),
                             "end_s": float(s) + 0.02, "kind": "twitch", "peak_uv": 150.0, "confidence": 0.9})
    episodes.append(episodes[-1] | {"kind": "spasm", "end_s": episodes[-1]["start_s"] + 75.0})
    tags = ([tag("caffeine", d) for d in coffee] + [tag("stress", 3, note=HOSTILE), tag("note", 4, text=HOSTILE),
            tag("potassium", 5, value=3.1, unit="mmol/L", flag="low"), tag(HOSTILE, 6)])
    return sessions, episodes, tags


def waveforms() -> dict:
    t = np.arange(250) / 1000.0
    return {"twitch": {"fs": 1000.0, "uv": (300 * np.exp(-((t - 0.1) / 0.004) ** 2) * np.sin(2 * np.pi * 150 * t)).tolist()}}


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(summarize(*log(), now=T0 + timedelta(days=30)), waveforms())


def test_plots_are_embedded_pngs_with_ids_and_alt(page):
    for ident in PLOTS:
        tag_ = re.search(rf'<img id="{ident}" alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
        assert tag_, ident
        png = base64.b64decode(tag_.group(2))
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert Image.open(io.BytesIO(png)).size[0] > 300
    assert "Spasm: no sample recorded." in page


def test_self_contained_and_escaped(page):
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch
    assert "http://" not in page and "https://" not in page


def test_flags_section_and_tag_table(page):
    flags = re.search(r'<section class="flags" id="flags">(.*?)</section>', page, re.S).group(1)
    assert "Potassium 3.1 mmol/L on 2026-10-10 is below the reference range 3.5-5.0." in flags
    assert "longest spasm lasted 75 s" in flags
    assert "not a diagnosis" in flags
    assert "On caffeine days you twitched" in page and "<td>caffeine</td>" in page


def test_empty_log_still_renders(tmp_path):
    out = tmp_path / "r.html"
    write_html(out, summarize([], [], []))
    text = out.read_text(encoding="utf-8")
    assert "Twitch: no sample recorded." in text and "Spasm: no sample recorded." in text
    assert "Nothing in this log matches" in text and "<img" not in text


# -- headless Chromium ------------------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture
def chromium(tmp_path, page):
    """A function running headless Chromium on the report page with extra arguments."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium or chromium-browser on PATH (.ci/run installs Debian's chromium)")
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")

    def run(name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / name}", *args, html.as_uri()],
                              capture_output=True, text=True, timeout=60)

    return run


def test_chromium_screenshot_shows_the_plots(chromium, tmp_path):
    shot = tmp_path / "shot.png"
    res = chromium("profile-shot", f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file(), res.stderr[-2000:]
    img = Image.open(shot)
    assert img.format == "PNG" and img.size == (1280, 2400)
    px = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    assert len(np.unique(px, axis=0)) > 50  # not one colour
    # the bars and markers are painted in the plots' blue, which nothing else on the page uses
    blue = np.array([int(TWITCH_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(px - blue).max(axis=1) <= 8).sum() > 5000


def test_chromium_dom_has_the_images_and_no_script(chromium):
    res = chromium("profile-dom", "--dump-dom", "--enable-logging=stderr", "--v=0")
    assert res.returncode == 0, res.stderr[-2000:]
    for ident in PLOTS:
        assert f'id="{ident}"' in res.stdout
    assert "<script" not in res.stdout.lower()
    assert "Uncaught" not in res.stderr and "CONSOLE" not in res.stderr
