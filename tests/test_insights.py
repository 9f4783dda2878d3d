"""insights.summarize on synthetic logs built here (no database): tag effects found and
not invented, the rate-ratio arithmetic, each doctor's-look flag, and the calendar and
region aggregation on a tiny handmade log."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from statistics import NormalDist

import numpy as np
import pytest
from scipy.stats import beta

from twitchwatch.insights import NOT_A_DIAGNOSIS, rate_ratio, summarize, terminal_summary

T0 = datetime(2026, 10, 5, tzinfo=timezone.utc)  # a Monday
BASE_RATE = 20.0  # twitches per hour


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def session(sid: int, start: datetime, hours: float, regions=("calf",)) -> dict:
    return {"id": sid, "source": f"s{sid}", "start": iso(start), "duration_s": hours * 3600, "fs": 250.0,
            "channels": [f"EMG{k + 1}" for k in range(len(regions))], "regions": list(regions)}


def episode(t: datetime, kind: str = "twitch", region: str | None = "calf", dur_s: float = 0.02, sid: int = 1) -> dict:
    return {"session_id": sid, "channel": 0, "region": region, "time": iso(t), "start_s": 0.0, "end_s": dur_s,
            "kind": kind, "peak_uv": 120.0, "confidence": 0.9}


def day_tag(name: str, day: datetime, **kw) -> dict:
    """A tag over one calendar day, as the store expands point tags."""
    d0 = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"id": 0, "tag": name, "value": None, "unit": None, "text": None, "start": iso(d0),
            "end": iso(d0 + timedelta(days=1)), "note": None, "flag": None} | kw


def history(seed: int, alcohol_split: tuple[int, int] = (4, 4)) -> tuple[list[dict], list[dict], list[dict]]:
    """Four weeks, two 1.5-h sessions a day. Caffeine on 14 random days doubles the
    twitch rate. Alcohol on 8 days, 4 with and 4 without caffeine (so caffeine does not
    leak into it; ``alcohol_split`` changes that), changes nothing. Twitch counts are Poisson."""
    rng = np.random.default_rng(seed)
    days = [T0 + timedelta(days=k) for k in range(28)]
    caffeine = rng.permutation(28)[:14]
    without = np.setdiff1d(np.arange(28), caffeine)
    alcohol = np.r_[rng.choice(caffeine, alcohol_split[0], replace=False),
                    rng.choice(without, alcohol_split[1], replace=False)]
    sessions, episodes = [], []
    for k, d in enumerate(days):
        rate = BASE_RATE * (2.0 if k in caffeine else 1.0)
        for start in (d + timedelta(hours=8), d + timedelta(hours=19)):
            sid = len(sessions) + 1
            sessions.append(session(sid, start, 1.5, ("calf", "forearm")))
            offsets = rng.uniform(0, 1.5 * 3600, rng.poisson(rate * 1.5))
            episodes += [episode(start + timedelta(seconds=float(s)), region=("calf", "forearm")[int(s) % 2], sid=sid)
                         for s in np.sort(offsets)]
    tags = [day_tag("caffeine", days[k]) for k in caffeine] + [day_tag("alcohol", days[k]) for k in alcohol]
    return sessions, episodes, tags


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_caffeine_effect_is_found_and_alcohol_gets_no_sentence(seed):
    summary = summarize(*history(seed))
    caf, alc = summary["tags"]["caffeine"], summary["tags"]["alcohol"]
    assert caf["hours_with"] == pytest.approx(42.0) and caf["hours_without"] == pytest.approx(42.0)
    assert 1.6 < caf["rate_ratio"] < 2.5
    assert caf["ci95"][0] > 1.0
    said = re.fullmatch(r"On caffeine days you twitched (\S+) times as often per recorded hour "
                        r"\(95% CI (\S+)-(\S+)\)\.", caf["sentence"])
    assert said, caf["sentence"]
    assert [float(x) for x in said.groups()] == pytest.approx([caf["rate_ratio"], *caf["ci95"]], abs=0.051)
    assert alc["ci95"][0] <= 1.0 <= alc["ci95"][1]
    assert alc["sentence"] is None
    assert alc["hours_with"] == pytest.approx(24.0)
    json.dumps(summary, allow_nan=False)


def test_rate_ratio_exact_interval_by_hand():
    # 30 twitches in 10 h against 20 in 20 h: RR = 3.0 / 1.0. Clopper-Pearson for 30 of 50,
    # mapped through RR = p / (1 - p) * hwo / hw.
    rr, lo, hi, note = rate_ratio(30, 10.0, 20, 20.0)
    p_lo, p_hi = beta.ppf(0.025, 30, 21), beta.ppf(0.975, 31, 20)
    assert rr == pytest.approx(3.0)
    assert lo == pytest.approx(p_lo / (1 - p_lo) * 2.0, rel=1e-9)
    assert hi == pytest.approx(p_hi / (1 - p_hi) * 2.0, rel=1e-9)
    assert 1.6 < lo < 1.8 and 5.3 < hi < 5.6 and note is None


def test_rate_ratio_zero_count_adds_half():
    rr, lo, hi, note = rate_ratio(0, 5.0, 10, 5.0)
    half = NormalDist().inv_cdf(0.975) * math.sqrt(1 / 0.5 + 1 / 10.5)  # 1.95996...
    assert rr == pytest.approx(0.5 / 10.5)
    assert (lo, hi) == pytest.approx((0.5 / 10.5 * math.exp(-half), 0.5 / 10.5 * math.exp(half)))
    assert "0.5 added" in note


def test_zero_count_gets_a_note_and_never_a_sentence_against_the_data():
    # a 36-s tag window without twitches: 0.5 added to it would read as a huge rate
    sessions = [session(1, T0, 10.0)]
    episodes = [episode(T0 + timedelta(minutes=60 + 25 * k)) for k in range(20)]
    tags = [day_tag("medication", T0) | {"end": iso(T0 + timedelta(seconds=36))}]
    med = summarize(sessions, episodes, tags)["tags"]["medication"]
    assert med["twitches_with"] == 0 and "0.5 added" in med["note"]
    assert med["ci95"][0] > 1  # the corrected interval points the wrong way ...
    assert med["sentence"] is None  # ... so nothing is said


def test_tag_through_summarize_hand_case_and_missing_exposure():
    sessions = [session(1, T0, 1.0), session(2, T0 + timedelta(days=1), 1.0)]
    episodes = ([episode(T0 + timedelta(minutes=m)) for m in range(0, 60, 2)]  # 30 on the stress day
                + [episode(T0 + timedelta(days=1, minutes=m)) for m in range(0, 60, 6)])  # 10 without
    tags = [day_tag("stress", T0), day_tag("exercise", T0 + timedelta(days=9)), day_tag("weakness", T0 + timedelta(days=9))]
    tagged = summarize(sessions, episodes, tags)["tags"]
    assert set(tagged) == {"stress", "exercise"}  # symptoms, labs and notes are not exposures
    s = tagged["stress"]
    assert (s["twitches_with"], s["twitches_without"], s["hours_with"], s["hours_without"]) == (30, 10, 1.0, 1.0)
    assert s["rate_ratio"] == 3.0 and s["ci95"][0] > 1 and s["note"] is None
    assert s["sentence"] == ("On stress days you twitched 3.0 times as often per recorded hour "
                             f"(95% CI {s['ci95'][0]:.1f}-{s['ci95'][1]:.1f}).")
    e = tagged["exercise"]
    assert e["rate_ratio"] is None and e["ci95"] is None and e["sentence"] is None
    assert "no recorded time with exercise" in e["reason"]


def test_days_weeks_regions_on_a_tiny_log():
    # Sunday 23:00 for 2 h (calf and an unplaced channel): 1 h on Sunday (W44), 1 h on Monday (W45)
    s1 = session(1, datetime(2026, 11, 1, 23, tzinfo=timezone.utc), 2.0, ("calf", None))
    s2 = session(2, datetime(2026, 11, 3, 10, tzinfo=timezone.utc), 1.0, ("hand",))
    at = lambda d, h, m: datetime(2026, 11, d, h, m, tzinfo=timezone.utc)  # noqa: E731
    episodes = [episode(at(1, 23, 30)), episode(at(2, 0, 30)), episode(at(2, 0, 31)),
                episode(at(2, 0, 40), region=None), episode(at(2, 0, 50), "spasm", dur_s=5.0),
                episode(at(3, 10, 10), region="hand", sid=2), episode(at(3, 10, 20), "artifact", sid=2)]
    s = summarize([s1, s2], episodes, [])
    assert (s["recorded_hours"], s["twitches"], s["spasms"], s["twitch_rate_per_hour"]) == (3.0, 5, 1, 1.67)
    assert s["days"] == [
        {"date": "2026-11-01", "hours": 1.0, "twitches": 1, "rate_per_hour": 1.0, "spasms": 0},
        {"date": "2026-11-02", "hours": 1.0, "twitches": 3, "rate_per_hour": 3.0, "spasms": 1},
        {"date": "2026-11-03", "hours": 1.0, "twitches": 1, "rate_per_hour": 1.0, "spasms": 0}]
    assert s["weeks"] == [{"week": "2026-W44", "hours": 1.0, "twitches": 1, "rate_per_hour": 1.0},
                          {"week": "2026-W45", "hours": 2.0, "twitches": 4, "rate_per_hour": 2.0}]
    assert s["regions"] == {"calf": {"hours": 2.0, "twitches": 3, "rate_per_hour": 1.5},
                            "hand": {"hours": 1.0, "twitches": 1, "rate_per_hour": 1.0},
                            "unspecified": {"hours": 2.0, "twitches": 1, "rate_per_hour": 0.5}}
    assert s["spasm_stats"] == {"count": 1, "total_s": 5.0, "mean_s": 5.0, "longest_s": 5.0, "per_hour": 0.33}
    assert s["tags"] == {} and s["flags"] == []


def test_empty_log():
    s = summarize([], [], [])
    assert s["recorded_hours"] == 0 and s["twitch_rate_per_hour"] is None and s["days"] == [] and s["flags"] == []
    json.dumps(s, allow_nan=False)


# -- flags: each triggers on a constructed case and stays quiet on a benign one --------

def kinds(sessions, episodes, tags=()) -> list[str]:
    flags = summarize(sessions, episodes, list(tags))["flags"]
    assert all(f["message"].endswith(NOT_A_DIAGNOSIS) for f in flags)
    return [f["kind"] for f in flags]


def daily(days: list[int], region: str = "calf") -> tuple[list[dict], list[dict]]:
    """One 1-h session and one twitch on each of ``days`` (offsets from T0)."""
    return ([session(k, T0 + timedelta(days=d), 1.0) for k, d in enumerate(days)],
            [episode(T0 + timedelta(days=d, minutes=5), region=region) for d in days])


def test_flag_persistent():
    assert kinds(*daily([0, 10, 22])) == ["persistent"]  # 23 days, three weeks with twitches
    assert kinds(*daily([0, 22])) == []  # long enough but only two weeks with twitches
    assert kinds(*daily([0, 4, 10, 14])) == []  # three weeks but 15 days


def test_flag_several_regions():
    sessions, _ = daily([0])
    three = [episode(T0 + timedelta(minutes=m), region=r) for m, r in ((1, "calf"), (2, "hand"), (3, "thigh"))]
    two = [episode(T0 + timedelta(minutes=m), region=r) for m, r in ((1, "calf"), (2, "hand"), (3, None))]
    assert kinds(sessions, three) == ["several_regions"]
    assert kinds(sessions, two) == []


def test_flag_with_weakness():
    sessions, episodes = daily([0, 1])
    assert kinds(sessions, episodes, [day_tag("numbness", T0 + timedelta(days=1))]) == ["with_weakness"]
    assert kinds(sessions, episodes, [day_tag("weakness", T0 + timedelta(days=3))]) == []  # not a twitch day
    assert kinds(sessions, episodes, [day_tag("pain", T0)]) == []  # not a neurological symptom


def test_flag_spasms():
    two_h = [session(1, T0, 2.0)]
    frequent = [episode(T0 + timedelta(minutes=10 * k), "spasm", dur_s=10.0) for k in range(7)]  # 3.5 / h
    assert kinds(two_h, frequent) == ["spasms"]
    assert kinds([session(1, T0, 1.0)], frequent) == []  # 7 in 1 h: less than 2 recorded hours
    assert kinds(two_h, frequent[:5]) == []  # 2.5 / h
    assert kinds(two_h, [episode(T0, "spasm", dur_s=75.0)]) == ["spasms"]
    assert kinds(two_h, [episode(T0, "spasm", dur_s=30.0)]) == []


def test_flag_lab():
    sessions, episodes = daily([0])
    low = day_tag("potassium", datetime(2026, 11, 20, tzinfo=timezone.utc), value=3.1, unit="mmol/L", flag="low")
    flags = summarize(sessions, episodes, [low])["flags"]
    assert [f["kind"] for f in flags] == ["lab"]
    assert "Potassium 3.1 mmol/L on 2026-11-20 is below the reference range 3.5-5.0." in flags[0]["message"]
    high = low | {"tag": "calcium", "value": 2.9, "flag": "high"}
    assert "Calcium 2.9 mmol/L on 2026-11-20 is above the reference range 2.1-2.6." in \
        summarize(sessions, episodes, [high])["flags"][0]["message"]
    assert kinds(sessions, episodes, [low | {"value": 4.2, "flag": None}]) == []


def test_terminal_summary_has_no_flags():
    sessions, episodes, tags = history(0)
    tags.append(day_tag("weakness", T0 + timedelta(days=3)))
    summary = summarize(sessions, episodes, tags)
    assert {"persistent", "with_weakness"} <= {f["kind"] for f in summary["flags"]}
    text = terminal_summary(summary)
    assert summary["tags"]["caffeine"]["sentence"] in text
    assert "84.0 h" in text
    assert all(f["message"] not in text for f in summary["flags"])
    assert "doctor" not in text and NOT_A_DIAGNOSIS not in text
    assert len(text.splitlines()) <= 6


def overdispersed(seed: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Four weeks, two 1.5-h sessions a day, each session's twitch rate drawn from a gamma
    (mean 20/h, sd 14/h, as real days vary); alcohol on 8 random days changes nothing."""
    rng = np.random.default_rng(seed)
    sessions, episodes = [], []
    for k in range(28):
        for start in (T0 + timedelta(days=k, hours=8), T0 + timedelta(days=k, hours=19)):
            sessions.append(session(len(sessions) + 1, start, 1.5))
            n = rng.poisson(rng.gamma(2.0, BASE_RATE / 2.0) * 1.5)
            episodes += [episode(start + timedelta(seconds=float(s)), sid=len(sessions))
                         for s in np.sort(rng.uniform(0, 1.5 * 3600, n))]
    tags = [day_tag("alcohol", T0 + timedelta(days=int(k))) for k in rng.permutation(28)[:8]]
    return sessions, episodes, tags


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_day_to_day_variation_widens_the_interval(seed):
    alc = summarize(*overdispersed(seed))["tags"]["alcohol"]
    assert alc["dispersion"] > 5
    assert alc["ci95"][0] <= 1.0 <= alc["ci95"][1] and alc["sentence"] is None


def test_poisson_history_is_not_widened():
    tags = summarize(*history(0))["tags"]
    assert tags["caffeine"]["dispersion"] < 1.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_tag_that_keeps_company_with_caffeine_is_not_credited_with_its_effect(seed):
    # alcohol on 10 of the 14 caffeine days and 2 others: alone, alcohol days look twitchier
    log = history(seed, alcohol_split=(10, 2))
    alc = summarize(*log)["tags"]["alcohol"]
    assert alc["crude_ci95"][0] > 1.0, "alone, alcohol days look twitchier (else the test shows nothing)"
    assert alc["adjusted_for"] == ["caffeine"]
    assert alc["ci95"][0] <= 1.0 <= alc["ci95"][1] and alc["sentence"] is None, alc
    caf = summarize(*log)["tags"]["caffeine"]
    assert caf["ci95"][0] > 1.0 and caf["sentence"]


def test_adjusted_rate_ratios_recover_known_effects():
    from twitchwatch.insights import adjusted_rate_ratios

    rng = np.random.default_rng(7)
    n = 400
    X = np.column_stack([rng.random(n) < 0.5, rng.random(n) < 0.3]).astype(float)
    hours = rng.uniform(0.5, 2.0, n)
    y = rng.poisson(hours * 50.0 * np.exp(X @ np.log([2.0, 1.0]))).astype(float)
    rr, lo, hi, phi = adjusted_rate_ratios(y, hours, X)
    assert lo[0] < 2.0 < hi[0] and lo[1] < 1.0 < hi[1]
    assert hi[0] / lo[0] < 1.2 and phi == pytest.approx(1.0, abs=0.3)


def test_several_null_tags_are_claimed_rarely_together():
    """Six tags that do nothing, each on 14 random days of four weeks of Poisson twitching:
    at 95% per tag a report would claim at least one of them about a quarter of the time;
    with the Bonferroni claim level (1 - 0.05/6) about one report in twenty does. Over 60
    histories, at most 8 may claim something (the chance of 9 or more at a true 5 % is
    under 0.5 %; at 25 % it is the rule)."""
    names = [f"tag{j}" for j in range(6)]
    claimed = 0
    for seed in range(60):
        rng = np.random.default_rng(10_000 + seed)
        sessions, episodes, tags = [], [], []
        for k in range(28):
            start = T0 + timedelta(days=k, hours=9)
            sessions.append(session(k + 1, start, 1.5))
            episodes += [episode(start + timedelta(seconds=float(s)), sid=k + 1)
                         for s in np.sort(rng.uniform(0, 1.5 * 3600, rng.poisson(BASE_RATE * 1.5)))]
        for name in names:
            tags += [day_tag(name, T0 + timedelta(days=int(k))) for k in rng.permutation(28)[:14]]
        summary = summarize(sessions, episodes, tags)
        assert all(summary["tags"][n]["claim_level"] == pytest.approx(1 - 0.05 / 6, abs=1e-4) for n in names)
        claimed += any(summary["tags"][n]["sentence"] for n in names)
    assert claimed <= 8, f"{claimed} of 60 reports claimed an effect of a tag that does nothing"
