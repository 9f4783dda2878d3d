"""Scoring against truth: the twitches counted, by size."""
from twitchwatch.evaluate import SIZES, Score, mistakes, score


def _ev(kind, ch, start, end, peak=None):
    e = {"kind": kind, "channel": ch, "start_s": start, "end_s": end}
    if peak is not None:
        e["peak_uv"] = peak
    return e


def test_twitches_are_tallied_by_size_and_what_became_of_them():
    noise = [2.0, 4.0]
    truth = {"noise_rms_uv": noise, "events": [
        _ev("twitch", 0, 1.00, 1.01, 13.0),   # 6.5 x, found as a twitch
        _ev("twitch", 1, 2.00, 2.01, 48.0),   # 12 x, under an artifact
        _ev("twitch", 0, 3.00, 3.01, 40.0),   # 20 x, nothing there
        _ev("twitch", 1, 4.00, 4.01, 16.0),   # 4 x: set aside, not counted
        _ev("twitch", 0, 5.00, 5.01),         # no size: counted as the largest
        _ev("twitch", 1, 6.00, 6.01, 30.0),   # 7.5 x, a twitch found on the other channel only
    ]}
    found = {"events": [_ev("twitch", 0, 1.002, 1.012), _ev("artifact", 1, 1.98, 2.3), _ev("twitch", 0, 5.0, 5.01),
                        _ev("twitch", 0, 6.0, 6.01)]}
    s = score(truth, found)
    size = {lo: row for lo, row in zip(SIZES, s.by_size.tolist())}
    assert size[6.0] == [1, 0, 0] and size[10.0] == [0, 1, 0] and size[7.0] == [0, 0, 1]
    assert size[15.0] == [1, 0, 1] and size[8.0] == [0, 0, 0]
    c = s.kinds["twitch"]
    assert s.by_size.sum() == c.tp + c.fn == 5 and s.by_size[:, 0].sum() == c.tp and s.set_aside == 1
    total = Score()
    total.add(s)
    total.add(s)
    assert (total.by_size == 2 * s.by_size).all()
    assert total.as_dict()["twitches_by_size"]["15+"] == {"twitch": 2, "other kind": 0, "nothing": 2}
    # counted from 0 x: the 4 x one is counted (a miss), not sized
    low = score(truth, found, min_snr=0.0)
    assert low.kinds["twitch"].fn == c.fn + 1 and (low.by_size == s.by_size).all()


def test_without_a_noise_figure_nothing_is_sized():
    truth = {"events": [_ev("twitch", 0, 1.0, 1.01, 13.0)]}
    s = score(truth, {"events": []})
    assert s.kinds["twitch"].fn == 1 and s.by_size.sum() == 0


def test_mistakes_list_each_miss_and_false_alarm_with_what_is_there():
    noise = [2.0, 4.0]
    truth = {"noise_rms_uv": noise, "events": [
        dict(_ev("twitch", 0, 1.00, 1.01, 13.0)),                          # found: not a mistake
        dict(_ev("twitch", 1, 2.00, 2.01, 48.0)),                          # 12 x, under a reported artifact
        dict(_ev("twitch", 1, 4.00, 4.01, 16.0)),                          # 4 x: set aside, not a mistake
        dict(_ev("artifact", 0, 7.00, 7.20), cause="voluntary"),           # reported as a twitch
        dict(_ev("spasm", 0, 10.0, 14.0)),                                 # missed
    ]}
    found = {"events": [dict(_ev("twitch", 0, 1.002, 1.012), confidence=0.9),
                        dict(_ev("artifact", 1, 1.98, 2.3), confidence=0.8),
                        dict(_ev("twitch", 0, 7.05, 7.08), confidence=0.93)]}
    rows = mistakes(truth, found)
    assert [(r["kind"], r["mistake"], r["channel"], r["start_s"]) for r in rows] == [
        ("twitch", "missed", 1, 2.0), ("twitch", "false", 0, 7.05), ("spasm", "missed", 0, 10.0)]
    missed, false, spasm = rows
    assert missed["size_x_noise"] == 12.0 and missed["confidence"] is None
    assert missed["overlapping"] == "artifact 1.98-2.30"
    assert false["confidence"] == 0.93 and false["size_x_noise"] is None
    assert false["overlapping"] == "artifact (voluntary) 7.00-7.20"
    assert spasm["overlapping"] == ""
    c = score(truth, found)
    assert sum(r["mistake"] == "missed" for r in rows) == c.kinds["twitch"].fn + c.kinds["spasm"].fn
    assert sum(r["mistake"] == "false" for r in rows) == c.kinds["twitch"].fp + c.kinds["spasm"].fp
    # the 4 x twitch is a miss once nothing is set aside; artifacts are listed only when asked
    assert len(mistakes(truth, found, min_snr=0.0)) == 4
    assert [r["mistake"] for r in mistakes(truth, found, kinds=("artifact",))] == ["false", "missed"]
