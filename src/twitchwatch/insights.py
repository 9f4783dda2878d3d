"""Insights from the episode log: twitch rates by day, week, body region and context tag,
the patterns worth a doctor's look, and a compact terminal summary.

Pure functions over the episode store's plain dicts (sessions, episodes, tags), so the
numbers can be tested without a database and reported as JSON, text or HTML.

Counts are per channel, as the store keeps them. A tag's effect is a Poisson rate ratio:
twitches per recorded hour inside the tag's intervals over twitches per recorded hour
outside them. Its 95% CI is the exact conditional one: given n = a + b twitches, the
number inside is Binomial(n, p) with p = RR*hw / (RR*hw + hwo), so the Clopper-Pearson
interval for p maps onto RR; unlike the Wald interval on log RR it keeps its coverage at
small counts. When a count is 0 the exact interval is unbounded on one side, so 0.5 is
added to both counts and the Wald interval is given instead, with a note saying so.

Real twitching varies from day to day far more than a Poisson count (and a detector's
misses vary with the day's noise), which would make those intervals too narrow and
invent effects. So the interval is widened on the log scale by the square root of the
quasi-Poisson dispersion (Pearson chi-square across sessions per degree of freedom,
at least 1; "dispersion" in each tag's entry). With two or more tags and sessions to
spare, the ratios come from one quasi-Poisson model of all tags at once
(``adjusted_rate_ratios``), so that tags that come together (coffee after a short
night) are told apart; the crude figures stay beside them. A tag's effect is put in
words only when it holds at 1 - 0.05/m for m tags compared (Bonferroni), so that a report
of many tags invents an effect less than once in twenty.
"""
from __future__ import annotations

import math
from collections import Counter
from statistics import NormalDist
from datetime import date, datetime, timedelta, timezone

import numpy as np
from scipy.stats import binomtest

from . import tags as tags_module

NOT_A_DIAGNOSIS = "This is not a diagnosis; twitchwatch is a wellness and research tool."
DISCLAIMER = ("twitchwatch is a wellness and research tool, not a diagnostic device, and nothing here is a "
              "diagnosis. Twitching is common and usually harmless; only a doctor can tell what causes yours.")
NEURO_SYMPTOMS = ("weakness", "numbness", "tingling")
SYMPTOMS = tags_module.SYMPTOMS
# lab tag -> (name, reference range in mmol/L)
LABS = {k: (k.capitalize(), lo, hi) for k, (lo, hi, _, _) in tags_module.LABS.items()}
NOT_EXPOSURES = frozenset(SYMPTOMS) | frozenset(LABS) | {"note"}
PERSISTENT_DAYS = 21
PERSISTENT_WEEKS = 3
SEVERAL_REGIONS = 3
SPASMS_PER_HOUR = 3.0
SPASM_MIN_HOURS = 2.0
LONG_SPASM_S = 60.0
DAY_S = 86400.0


def _t(iso: str) -> float:
    """POSIX seconds of an ISO-8601 time ('Z' accepted; a naive time is taken as UTC)."""
    d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp()


def _day(t: float) -> date:
    return datetime.fromtimestamp(t, timezone.utc).date()


def _midnight(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


def _week(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def _rate(n: int, hours: float) -> float | None:
    return round(n / hours, 2) if hours > 0 else None


def _sig(x: float) -> float:
    """``x`` to three significant digits."""
    return float(f"{x:.3g}")


def _fmt(x: float) -> str:
    """A ratio for a sentence: one decimal (whole above 10, one digit below 0.1), two
    decimals if one would read as 1."""
    s = f"{x:.0f}" if x >= 10 else f"{x:.1f}" if x >= 0.1 else f"{x:.1g}"
    return f"{x:.2f}" if float(s) == 1 else s


def _covered(s0: np.ndarray, s1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Seconds of each interval [b0, b1) covered by each session [s0, s1): sessions x intervals."""
    both = np.minimum(s1[:, None], b1[None, :]) - np.maximum(s0[:, None], b0[None, :])
    return np.clip(both, 0, None)


def _merge(intervals: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals as sorted, disjoint (starts, ends)."""
    iv = np.array(sorted(intervals), dtype=float).reshape(-1, 2)
    if not len(iv):
        return iv[:, 0], iv[:, 1]
    new = np.r_[True, iv[1:, 0] > np.maximum.accumulate(iv[:-1, 1])]
    return iv[new, 0], np.maximum.reduceat(iv[:, 1], np.flatnonzero(new))


def _inside(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which times fall in one of the disjoint sorted intervals [starts, ends)."""
    if not len(starts):
        return np.zeros(len(t), dtype=bool)
    i = np.searchsorted(starts, t, side="right") - 1
    return (i >= 0) & (t < ends[np.maximum(i, 0)])


def rate_ratio(a: int, hours_with: float, b: int, hours_without: float,
               level: float = 0.95) -> tuple[float, float, float, str | None]:
    """(RR, CI low, CI high, note) for a twitches in ``hours_with`` against b in
    ``hours_without``: the exact conditional CI at ``level`` when both counts are positive,
    else 0.5 added to both counts and the Wald interval on log RR (the note says which)."""
    scale = hours_without / hours_with
    if a > 0 and b > 0:
        ci = binomtest(a, a + b).proportion_ci(level, method="exact")
        return a / b * scale, ci.low / (1 - ci.low) * scale, ci.high / (1 - ci.high) * scale, None
    rr = (a + 0.5) / (b + 0.5) * scale
    half = NormalDist().inv_cdf(0.5 + level / 2) * math.sqrt(1 / (a + 0.5) + 1 / (b + 0.5))
    which = "at all" if a == b == 0 else "with the tag" if a == 0 else "without the tag"
    return rr, rr * math.exp(-half), rr * math.exp(half), (
        f"no twitches {which}: 0.5 added to both counts, Wald interval")


def _dispersion(y: np.ndarray, with_h: np.ndarray, without_h: np.ndarray, rate_with: float,
                rate_without: float) -> float:
    """Pearson chi-square / (sessions - 2), at least 1: how much more the twitch count
    varies between sessions than the two-rate Poisson model allows (quasi-Poisson)."""
    mu = rate_with * with_h + rate_without * without_h
    ok = mu > 0
    df = int(ok.sum()) - 2
    return max(1.0, float(((y[ok] - mu[ok]) ** 2 / mu[ok]).sum()) / df) if df > 0 else 1.0


def adjusted_rate_ratios(y: np.ndarray, hours: np.ndarray, X: np.ndarray,
                         level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Rate ratios of several tags at once: a quasi-Poisson log-linear model of each
    session's twitch count ``y`` with log(``hours``) as offset and, per tag, the share
    of the session spent with it (``X``, sessions x tags), fitted by IRLS. So a tag that
    merely keeps company with another (alcohol on coffee days) is not credited with its
    effect. Returns (RR, CI low, CI high, dispersion); the CI at ``level`` uses Student's t
    on the residual degrees of freedom and standard errors scaled by sqrt(max(dispersion, 1))."""
    from scipy.stats import t as student

    n, k = X.shape
    A = np.column_stack([np.ones(n), X])
    off = np.log(hours)
    beta = np.zeros(k + 1)
    beta[0] = math.log(max(float(y.sum()), 0.5) / float(hours.sum()))
    ridge = np.diag([0.0] + [1e-8] * k)
    for _ in range(100):
        mu = np.exp(A @ beta + off)
        step = np.linalg.solve(A.T @ (mu[:, None] * A) + ridge, A.T @ (y - mu))
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    mu = np.exp(A @ beta + off)
    dof = n - k - 1
    phi = max(1.0, float(((y - mu) ** 2 / mu).sum()) / dof)
    se = np.sqrt(np.diag(np.linalg.inv(A.T @ (mu[:, None] * A) + ridge)) * phi)[1:]
    q = float(student.ppf(0.5 + level / 2, dof))
    b = beta[1:]
    return np.exp(b), np.exp(b - q * se), np.exp(b + q * se), phi


MIN_DOF_ADJUSTED = 5  # sessions beyond the model's parameters before tags are adjusted for each other


def _tag_effects(tags: list[dict], s0: np.ndarray, s1: np.ndarray, twitch_t: np.ndarray,
                 twitch_session: np.ndarray) -> dict:
    """Rate ratio, 95% CI and (when the effect is clear) a sentence for each exposure tag.
    ``twitch_session`` is each twitch's session index (-1: not a known session).

    With m tags compared, 5 % of false claims per tag would be up to 5m % for the report:
    a sentence is said only when the interval at 1 - 0.05/m (Bonferroni; ``ci_claim``,
    at ``claim_level``) excludes 1, so that a report of several tags claims a tag that
    does nothing less than once in twenty."""
    intervals: dict[str, list[tuple[float, float]]] = {}
    for g in tags:
        if g["tag"] not in NOT_EXPOSURES:
            intervals.setdefault(g["tag"], []).append((_t(g["start"]), _t(g["end"])))
    session_h = (s1 - s0) / 3600
    y = np.bincount(twitch_session[twitch_session >= 0], minlength=len(s0))
    out: dict[str, dict] = {}
    exposure: dict[str, np.ndarray] = {}  # per tag with a comparison: share of each session with it
    counts: dict[str, tuple[int, float, int, float, float]] = {}
    for name, iv in sorted(intervals.items()):
        starts, ends = _merge(iv)
        with_h = _covered(s0, s1, starts, ends).sum(axis=1) / 3600
        hw = float(with_h.sum())
        hwo = max(float(session_h.sum()) - hw, 0.0)
        a = int(_inside(twitch_t, starts, ends).sum())
        b = len(twitch_t) - a
        out[name] = {"rate_ratio": None, "ci95": None, "hours_with": round(hw, 3), "hours_without": round(hwo, 3),
                     "twitches_with": a, "twitches_without": b, "dispersion": None, "sentence": None, "note": None,
                     "reason": None}
        if min(hw, hwo) < 1 / 3600:  # under a recorded second on one side: nothing to compare
            side = "with" if hw < 1 / 3600 else "without"
            out[name]["reason"] = f"no recorded time {side} {name} logged"
        else:
            counts[name] = (a, hw, b, hwo, _dispersion(y, with_h, session_h - with_h, a / hw, b / hwo))
            exposure[name] = with_h / np.where(session_h > 0, session_h, 1.0)
    names = sorted(exposure)
    claim = 1 - 0.05 / max(len(names), 1)
    for name in names:
        a, hw, b, hwo, phi = counts[name]
        widen = math.sqrt(phi)
        rr, lo, hi, note = rate_ratio(a, hw, b, hwo)
        _, clo, chi, _ = rate_ratio(a, hw, b, hwo, claim)
        out[name].update(rate_ratio=_sig(rr), ci95=[_sig(rr * (lo / rr) ** widen), _sig(rr * (hi / rr) ** widen)],
                         ci_claim=[_sig(rr * (clo / rr) ** widen), _sig(rr * (chi / rr) ** widen)],
                         claim_level=round(claim, 4), dispersion=round(phi, 2), note=note)
    ok = session_h > 0
    if len(names) >= 2 and int(ok.sum()) - len(names) - 1 >= MIN_DOF_ADJUSTED:
        X = np.column_stack([exposure[n_][ok] for n_ in names])
        rr, lo, hi, phi = adjusted_rate_ratios(y[ok].astype(float), session_h[ok], X)
        _, clo, chi, _ = adjusted_rate_ratios(y[ok].astype(float), session_h[ok], X, claim)
        for j, name in enumerate(names):
            e = out[name]
            e.update(crude_rate_ratio=e["rate_ratio"], crude_ci95=e["ci95"], rate_ratio=_sig(rr[j]),
                     ci95=[_sig(lo[j]), _sig(hi[j])], ci_claim=[_sig(clo[j]), _sig(chi[j])],
                     dispersion=round(phi, 2), adjusted_for=[n_ for n_ in names if n_ != name])
    for name in names:
        e = out[name]
        (lo, hi), (clo, chi), rr = e["ci95"], e["ci_claim"], e["rate_ratio"]
        a, b = e["twitches_with"], e["twitches_without"]
        # the interval excludes 1 on the side the raw rates are on (0.5 added to a zero
        # count can push a tiny exposure's ratio above 1 with no twitches at all)
        up = a / e["hours_with"] > b / e["hours_without"]
        if (clo > 1 and up) or (chi < 1 and not up):
            e["sentence"] = (f"On {name} days you twitched {_fmt(rr)} times as often per recorded hour "
                             f"(95% CI {_fmt(lo)}-{_fmt(hi)}).")
    return out


def _calendar(s0: np.ndarray, s1: np.ndarray, twitch_t: np.ndarray, spasm_t: np.ndarray,
              first: date, last: date, step_days: int) -> list[tuple[date, float, int, int]]:
    """(bin start, hours, twitches, spasms) per bin of ``step_days`` from ``first``, for
    bins with recorded time or episodes."""
    n = (last - first).days // step_days + 1
    edges = _midnight(first) + step_days * DAY_S * np.arange(n + 1)
    hours = _covered(s0, s1, edges[:-1], edges[1:]).sum(axis=0) / 3600

    def count(t: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(edges, t, side="right") - 1, minlength=n)[:n]

    tw, sp = count(twitch_t), count(spasm_t)
    keep = np.flatnonzero((hours > 0) | (tw > 0) | (sp > 0))
    return [(first + timedelta(days=int(i) * step_days), float(hours[i]), int(tw[i]), int(sp[i])) for i in keep]


def _regions(sessions: list[dict], twitches: list[dict]) -> dict:
    """Recorded hours and twitches per body region (None -> "unspecified")."""
    hours: Counter = Counter()
    for s in sessions:
        regs = list(s.get("regions") or [])[:len(s["channels"])]
        regs += [None] * (len(s["channels"]) - len(regs))
        for r in {r or "unspecified" for r in regs}:
            hours[r] += s["duration_s"] / 3600
    counts = Counter(e["region"] or "unspecified" for e in twitches)
    return {r: {"hours": round(hours[r], 3), "twitches": counts[r], "rate_per_hour": _rate(counts[r], hours[r])}
            for r in sorted(set(hours) | set(counts))}


def _days_covered(tag: dict) -> set[date]:
    """The calendar days (UTC) that a tag's interval touches."""
    first, last = _day(_t(tag["start"])), _day(max(_t(tag["end"]) - 1e-3, _t(tag["start"])))
    return {first + timedelta(days=k) for k in range((last - first).days + 1)}


def _flag(kind: str, text: str) -> dict:
    return {"kind": kind, "message": f"{text} {NOT_A_DIAGNOSIS}"}


def _lab_flag(g: dict) -> dict:
    name, lo, hi = LABS.get(g["tag"], (g["tag"].capitalize(), None, None))
    when = _day(_t(g.get("at") or g["start"])).isoformat()
    value = "" if g.get("value") is None else f" {g['value']:g}" + (f" {g['unit']}" if g.get("unit") else "")
    direction = "below" if g["flag"] == "low" else "above"
    if lo is not None and g.get("value") is not None and (g.get("unit") or "mmol/L").lower() == "mmol/l":
        text = f"{name}{value} on {when} is {direction} the reference range {lo:.1f}-{hi:.1f}."
    else:
        text = f"{name}{value} on {when} was flagged {g['flag']} ({direction} its reference range)."
    return _flag("lab", f"{text} Levels outside the range can go with cramps and twitching; "
                        "worth showing to a doctor.")


def _flags(twitches: list[dict], twitch_t: np.ndarray, spasms: list[dict], hours: float, tags: list[dict]) -> list[dict]:
    """The patterns worth a doctor's look, each stated plainly."""
    flags = []
    twitch_days = sorted({_day(t) for t in twitch_t})
    if twitch_days:
        span = (twitch_days[-1] - twitch_days[0]).days
        weeks = {_week(d) for d in twitch_days}
        if span >= PERSISTENT_DAYS and len(weeks) >= PERSISTENT_WEEKS:
            flags.append(_flag("persistent", (
                f"Twitching was recorded on {len(twitch_days)} days from {twitch_days[0]} to {twitch_days[-1]} "
                f"({span + 1} days), in {len(weeks)} different weeks. Twitching that goes on for weeks is usually "
                "harmless, but worth a doctor's look.")))
    regions = sorted({e["region"] for e in twitches if e["region"]})
    if len(regions) >= SEVERAL_REGIONS:
        flags.append(_flag("several_regions", (
            f"Twitches were recorded in {len(regions)} body regions ({', '.join(regions)}). Twitching in several "
            "parts of the body is usually harmless, but worth a doctor's look.")))
    symptom_days: dict[date, set[str]] = {}
    for g in tags:
        if g["tag"] in NEURO_SYMPTOMS:
            for d in _days_covered(g):
                symptom_days.setdefault(d, set()).add(g["tag"])
    both = [d for d in twitch_days if d in symptom_days]
    if both:
        logged = sorted(set().union(*(symptom_days[d] for d in both)))
        flags.append(_flag("with_weakness", (
            f"Twitches were recorded on {len(both)} day{'s' if len(both) > 1 else ''} when you also logged "
            f"{' or '.join(logged)} ({', '.join(d.isoformat() for d in both)}). Twitching together with weakness, "
            "numbness or tingling is worth a doctor's look.")))
    longest = max((e["end_s"] - e["start_s"] for e in spasms), default=0.0)
    per_hour = len(spasms) / hours if hours > 0 else 0.0
    frequent = per_hour >= SPASMS_PER_HOUR and hours >= SPASM_MIN_HOURS
    if frequent or longest > LONG_SPASM_S:
        parts = [f"You recorded {len(spasms)} spasms in {hours:.1f} hours ({per_hour:.1f} per hour)." if frequent
                 else "", f"The longest spasm lasted {longest:.0f} s." if longest > LONG_SPASM_S else ""]
        flags.append(_flag("spasms", " ".join(p for p in parts if p) + " Frequent or long spasms are worth a "
                                                                       "doctor's look."))
    flags += [_lab_flag(g) for g in tags if g.get("flag") in ("low", "high")]
    return flags


def summarize(sessions: list[dict], episodes: list[dict], tags: list[dict], now: datetime | None = None) -> dict:
    """The whole log as a JSON-serialisable dict: totals, "days", "weeks", "regions", "tags"
    (rate ratios), "spasm_stats", "flags", "timeline" (twitches and spasms, for plots),
    "notes" (the user's text), "generated" (``now``) and "disclaimer"."""
    s0 = np.array([_t(s["start"]) for s in sessions], dtype=float)
    s1 = s0 + np.array([s["duration_s"] for s in sessions], dtype=float)
    twitches = [e for e in episodes if e["kind"] == "twitch"]
    spasms = [e for e in episodes if e["kind"] == "spasm"]
    twitch_t = np.array([_t(e["time"]) for e in twitches], dtype=float)
    index = {s["id"]: i for i, s in enumerate(sessions)}
    twitch_session = np.array([index.get(e["session_id"], -1) for e in twitches], dtype=int)
    spasm_t = np.array([_t(e["time"]) for e in spasms], dtype=float)
    hours = float((s1 - s0).sum()) / 3600

    days, weeks = [], []
    every = np.concatenate([s0, s1, twitch_t, spasm_t])
    if len(every):
        first, last = _day(every.min()), _day(every.max())
        days = [{"date": d.isoformat(), "hours": round(h, 3), "twitches": tw, "rate_per_hour": _rate(tw, h),
                 "spasms": sp} for d, h, tw, sp in _calendar(s0, s1, twitch_t, spasm_t, first, last, 1)]
        monday = first - timedelta(days=first.weekday())
        weeks = [{"week": _week(d), "hours": round(h, 3), "twitches": tw, "rate_per_hour": _rate(tw, h)}
                 for d, h, tw, _ in _calendar(s0, s1, twitch_t, spasm_t, monday, last, 7)]

    durations = np.array([e["end_s"] - e["start_s"] for e in spasms], dtype=float)
    timeline = sorted(({"time": e["time"], "kind": e["kind"], "region": e["region"],
                        "duration_s": round(e["end_s"] - e["start_s"], 3), "peak_uv": round(e["peak_uv"], 1)}
                       for e in twitches + spasms), key=lambda e: _t(e["time"]))
    notes = [{"date": _day(_t(g.get("at") or g["start"])).isoformat(), "tag": g["tag"],
              "text": "; ".join(x for x in (g.get("text"), g.get("note")) if x)}
             for g in tags if g.get("text") or g.get("note")]
    return {
        "generated": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "recorded_hours": round(hours, 3),
        "twitches": len(twitches),
        "spasms": len(spasms),
        "twitch_rate_per_hour": _rate(len(twitches), hours),
        "days": days,
        "weeks": weeks,
        "regions": _regions(sessions, twitches),
        "tags": _tag_effects(tags, s0, s1, twitch_t, twitch_session),
        "spasm_stats": {"count": len(spasms), "total_s": round(float(durations.sum()), 1),
                        "mean_s": round(float(durations.mean()), 1) if len(durations) else None,
                        "longest_s": round(float(durations.max()), 1) if len(durations) else None,
                        "per_hour": _rate(len(spasms), hours)},
        "flags": _flags(twitches, twitch_t, spasms, hours, tags),
        "timeline": timeline,
        "notes": notes,
        "disclaimer": DISCLAIMER,
    }


def terminal_summary(summary: dict) -> str:
    """A few plain lines for the terminal: hours, rates, spasms and the clear tag effects
    (no flags: those belong in the full report, with room to explain them)."""
    h, days = summary["recorded_hours"], len(summary["days"])
    rate = summary["twitch_rate_per_hour"]
    sp = summary["spasm_stats"]
    lines = [f"Recorded {h:.1f} h on {days} day{'s' if days != 1 else ''}: {summary['twitches']} twitches"
             + (f" ({rate:g} per hour)" if rate is not None else ""),
             f"Spasms: {sp['count']}" + (f" (longest {sp['longest_s']:g} s, {sp['total_s']:g} s in all)"
                                         if sp["count"] else "")]
    regions = [f"{r} {v['rate_per_hour']:g}/h" for r, v in summary["regions"].items() if v["rate_per_hour"] is not None]
    if regions:
        lines.append("By region: " + ", ".join(regions))
    sentences = [t["sentence"] for t in summary["tags"].values() if t["sentence"]]
    if sentences:
        lines += sentences
    elif summary["tags"]:
        lines.append("No logged tag made a clear difference (every 95% CI includes 1).")
    return "\n".join(lines)
