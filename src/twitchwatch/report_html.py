"""The HTML report: one self-contained page from an insights summary.

No scripts and no external resources (it must open offline and from a mail attachment):
plots are matplotlib figures drawn by Agg (no pyplot, so no global backend state) and
embedded as base64 PNG, styles are inline, and every piece of user text is escaped.
"""
from __future__ import annotations

import base64
import html
import io
from datetime import date, datetime
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .insights import NOT_A_DIAGNOSIS

TWITCH_COLOUR = "#2f6db5"
SPASM_COLOUR = "#d9822b"
LOG_TICKS = (0.05, 0.1, 0.2, 0.33, 0.5, 0.67, 1, 1.5, 2, 3, 5, 10, 20)
CSS = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.muted { color: #666; }
.numbers { display: flex; gap: 2em; flex-wrap: wrap; }
.numbers div { font-size: 1.3em; }
.numbers small { display: block; font-size: 0.65em; color: #666; }
section.flags { background: #f6f3ea; border-left: 4px solid #b8a26a; padding: 0.6em 1.2em; margin: 1.5em 0; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _num(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:g}{unit}"


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _img(fig: Figure, ident: str, alt: str) -> str:
    """``fig`` as an <img> holding a base64 PNG (drawn by Agg, whatever pyplot's backend)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img id="{ident}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _rate_bars(rows: list[dict], starts: list[date], width_days: float, ident: str, title: str) -> str:
    """Twitches per recorded hour as bars at their dates (unrecorded stretches stay empty)."""
    keep = [i for i, r in enumerate(rows) if r["rate_per_hour"] is not None]
    if not keep:
        return f'<p class="muted">No recorded time for the {_e(title.lower())} plot.</p>'
    fig = Figure(figsize=(9, 3))
    ax = fig.add_subplot()
    ax.bar([starts[i] for i in keep], [rows[i]["rate_per_hour"] for i in keep], width=width_days,
           align="edge", color=TWITCH_COLOUR)
    ax.set_ylabel("twitches / recorded hour")
    ax.set_title(title)
    fig.autofmt_xdate()
    return _img(fig, ident, f"{title}: twitches per recorded hour")


def _tag_plot(tags: dict) -> str:
    """Rate ratio per tag with its 95% CI, on a log axis with a line at 1 (no effect)."""
    rows = [(name, t) for name, t in tags.items() if t["rate_ratio"] is not None]
    if not rows:
        return '<p class="muted">No tag has recorded time both with and without it.</p>'
    rr = np.array([t["rate_ratio"] for _, t in rows])
    lo, hi = np.array([t["ci95"] for _, t in rows]).T
    fig = Figure(figsize=(7, 0.5 * len(rows) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ax.errorbar(rr, y, xerr=[rr - lo, hi - rr], fmt="o", color=TWITCH_COLOUR, capsize=4)
    ax.axvline(1.0, color="#888", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ticks = [t for t in LOG_TICKS if min(lo.min(), 1.0) / 1.2 <= t <= max(hi.max(), 1.0) * 1.2]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, [name for name, _ in rows])
    ax.set_ylim(len(rows) - 0.3, -0.7)  # first tag on top, as in the table
    ax.set_xlabel("rate ratio (twitches per recorded hour, with / without), 95% CI")
    return _img(fig, "plot-rate-by-tag", "Rate ratio of twitching by tag with 95% confidence intervals")


def _timeline(events: list[dict]) -> str:
    """Each twitch and spasm at its time, one row per body region."""
    if not events:
        return '<p class="muted">No twitches or spasms recorded.</p>'
    regions = sorted({e["region"] or "unspecified" for e in events})
    row = {r: i for i, r in enumerate(regions)}
    fig = Figure(figsize=(9, 0.45 * len(regions) + 1.5))
    ax = fig.add_subplot()
    for kind, marker, colour, size in (("twitch", "|", TWITCH_COLOUR, 60), ("spasm", "s", SPASM_COLOUR, 40)):
        sel = [e for e in events if e["kind"] == kind]
        if sel:
            ax.scatter([_when(e["time"]) for e in sel], [row[e["region"] or "unspecified"] for e in sel],
                       marker=marker, color=colour, s=size, label=f"{kind} ({len(sel)})")
    ax.set_yticks(range(len(regions)), regions)
    ax.set_ylim(-0.7, len(regions) - 0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.autofmt_xdate()
    return _img(fig, "plot-timeline", "Timeline of twitches and spasms by body region")


def _waveform(kind: str, sample: dict | None) -> str:
    """One sample episode's signal, or a line saying there is none."""
    uv = np.asarray(sample.get("uv", []) if sample else [], dtype=float)
    if not uv.size:
        return f"<p>{_e(kind.capitalize())}: no sample recorded.</p>"
    fig = Figure(figsize=(9, 2.4))
    ax = fig.add_subplot()
    ax.plot(np.arange(len(uv)) / float(sample["fs"]) * 1000, uv, color=TWITCH_COLOUR if kind == "twitch"
            else SPASM_COLOUR, linewidth=0.8)
    ax.set_xlabel("ms")
    ax.set_ylabel("µV")
    ax.set_title(f"a sample {kind}")
    return _img(fig, f"plot-waveform-{kind}", f"Signal of a sample {kind}")


def _table(head: list[str], rows: list[list[str]], numeric: range) -> str:
    """An HTML table, the columns in ``numeric`` right-aligned; cells must already be escaped."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _tag_table(tags: dict) -> str:
    if not tags:
        return '<p class="muted">No context tags logged (caffeine, sleep, stress ...).</p>'
    rows = []
    for name, t in tags.items():
        ci = "-" if t["ci95"] is None else f"{t['ci95'][0]:g}&ndash;{t['ci95'][1]:g}"
        if t["sentence"] or t["reason"]:
            said = t["sentence"] or t["reason"]
        elif t["ci95"][0] <= 1 <= t["ci95"][1]:
            said = "no clear difference (the 95% CI includes 1)"
        elif t["ci_claim"][0] <= 1 <= t["ci_claim"][1]:
            said = f"not clear with several tags weighed at once (the {t['claim_level']:.1%} interval includes 1)"
        else:  # the interval points against the raw rates (a zero count: see the note)
            said = "nothing said: the interval and the counts disagree"
        if t["note"]:
            said += f" ({t['note']})"
        rows.append([_e(name), _num(t["rate_ratio"]), ci, _num(t["hours_with"]), _num(t["hours_without"]),
                     str(t["twitches_with"]), str(t["twitches_without"]), _e(said)])
    return _table(["tag", "rate ratio", "95% CI", "hours with", "hours without", "twitches with",
                   "twitches without", "what it says"], rows, range(1, 7))


def _flags(summary: dict) -> str:
    items = "".join(f"<li><b>{_e(f['kind'].replace('_', ' '))}</b>: {_e(f['message'])}</li>"
                    for f in summary["flags"])
    body = (f"<p>Some patterns in this log are worth showing to a doctor:</p><ul>{items}</ul>" if items else
            "<p>Nothing in this log matches the patterns that are worth a doctor's look (twitching for weeks, "
            "in several body regions, with weakness or numbness, frequent or long spasms, lab values out of "
            f"range). {_e(NOT_A_DIAGNOSIS)}</p>")
    return (f'<section class="flags" id="flags"><h2>Worth a doctor\'s look</h2>{body}'
            f"<p>{_e(summary['disclaimer'])}</p></section>")


def render_html(summary: dict, waveforms: dict | None = None) -> str:
    """The report page for ``summary`` (from insights.summarize); ``waveforms`` maps
    "twitch"/"spasm" to {"fs", "uv"} sample signals."""
    s, sp = summary, summary["spasm_stats"]
    numbers = "".join(f"<div>{v}<small>{k}</small></div>" for k, v in (
        ("recorded hours", _num(s["recorded_hours"])), ("twitches", s["twitches"]),
        ("twitches / hour", _num(s["twitch_rate_per_hour"])), ("spasms", s["spasms"]),
        ("longest spasm", _num(sp["longest_s"], " s")), ("spasms / hour", _num(sp["per_hour"]))))
    regions = _table(["region", "hours", "twitches", "twitches / hour"],
                     [[_e(r), _num(v["hours"]), str(v["twitches"]), _num(v["rate_per_hour"])]
                      for r, v in s["regions"].items()], range(1, 4))
    notes = "".join(f"<li>{_e(n['date'])} <b>{_e(n['tag'])}</b>: {_e(n['text'])}</li>" for n in s["notes"])
    period = f"{s['days'][0]['date']} to {s['days'][-1]['date']}" if s["days"] else "no recorded days"
    waves = waveforms or {}
    days = [date.fromisoformat(d["date"]) for d in s["days"]]
    weeks = [date.fromisocalendar(int(w["week"][:4]), int(w["week"][6:]), 1) for w in s["weeks"]]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>twitchwatch report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>twitchwatch report</h1>
<p class="muted">{_e(period)}; made {_e(s['generated'])}. {_e(s['disclaimer'])}</p>
<section id="numbers"><div class="numbers">{numbers}</div></section>
{_flags(s)}
<section id="over-time"><h2>Twitching over time</h2>
{_rate_bars(s['days'], days, 0.8, 'plot-rate-by-day', 'Per day')}
{_rate_bars(s['weeks'], weeks, 6.0, 'plot-rate-by-week', 'Per week (bars start on Mondays)')}</section>
<section id="tags"><h2>What goes with more or less twitching</h2>
<p class="muted">Twitches per recorded hour with each tag logged, against without it. A ratio whose 95% CI
includes 1 shows no clear difference. The intervals allow for twitching that varies from session to
session more than chance alone would. With several tags logged, each ratio is adjusted for the
others, so that tags that often come together (coffee after a short night) are told apart as far as
the log allows; with few recordings they may not be.</p>
{_tag_plot(s['tags'])}{_tag_table(s['tags'])}</section>
<section id="timeline"><h2>Episodes</h2>{_timeline(s['timeline'])}</section>
<section id="regions"><h2>By body region</h2>{regions}</section>
<section id="waveforms"><h2>Sample signals</h2>{_waveform('twitch', waves.get('twitch'))}
{_waveform('spasm', waves.get('spasm'))}</section>
<section id="notes"><h2>Your notes</h2>{f'<ul>{notes}</ul>' if notes else '<p class="muted">No notes.</p>'}</section>
</body></html>
"""


def write_html(path: str | Path, summary: dict, waveforms: dict | None = None) -> None:
    """Write the report page for ``summary`` to ``path`` (UTF-8)."""
    Path(path).write_text(render_html(summary, waveforms), encoding="utf-8")
