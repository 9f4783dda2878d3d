"""Context tags a wearer logs: what each means, its value and unit, and what is absurd.

``parse_tag(tag, value)`` turns the command line's words into a checked ``Tag`` (a
malformed or impossible value is a one-line UserError naming the tag); ``tag_window``
turns ``--at`` / ``--from`` / ``--to`` into the interval the tag applies to: a point in
time applies to its whole calendar day, so "caffeine at 08:00" covers the day's
recordings.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from .errors import UserError

LABS = {"potassium": (3.5, 5.0, 1.5, 9.0), "calcium": (2.1, 2.6, 1.0, 4.5), "magnesium": (0.7, 1.0, 0.2, 3.0)}
SYMPTOMS = ("weakness", "numbness", "tingling", "pain", "cramps")
TAGS = ("caffeine", "sleep", "stress", "exercise", "medication", "alcohol", "hydration", *SYMPTOMS, *LABS, "note")
# Medicines known to move potassium, magnesium or calcium (noted, not judged).
ELECTROLYTE_MEDICINES = {
    "furosemide": "loop diuretic", "bumetanide": "loop diuretic", "torsemide": "loop diuretic",
    "hydrochlorothiazide": "thiazide diuretic", "chlorthalidone": "thiazide diuretic", "indapamide": "thiazide diuretic",
    "spironolactone": "potassium-sparing diuretic", "amiloride": "potassium-sparing diuretic",
    "omeprazole": "proton-pump inhibitor (magnesium)", "esomeprazole": "proton-pump inhibitor (magnesium)",
    "pantoprazole": "proton-pump inhibitor (magnesium)", "lansoprazole": "proton-pump inhibitor (magnesium)",
    "salbutamol": "beta-agonist (potassium)", "albuterol": "beta-agonist (potassium)",
    "prednisone": "corticosteroid (potassium)", "prednisolone": "corticosteroid (potassium)",
    "insulin": "insulin (potassium)", "lithium": "lithium (calcium)", "diuretic": "diuretic",
}


@dataclass
class Tag:
    tag: str
    value: float | None = None
    unit: str | None = None
    text: str | None = None
    flag: str | None = None  # labs: "low" / "high"; medicines: what moves electrolytes


_NUMBER = r"(\d+(?:\.\d+)?)"


def _number(tag: str, raw: str, low: float, high: float, what: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise UserError(f"log {tag}: {raw!r} is not a number ({what})") from None
    if not low <= v <= high:
        raise UserError(f"log {tag}: {raw} makes no sense; {what} must be between {low:g} and {high:g}")
    return v


def _with_unit(tag: str, raw: str, units: dict[str, float], default: str | None, low: float, high: float,
               what: str) -> tuple[float, str]:
    """``raw`` like '200mg' or '2 cups' -> (value in the first unit of ``units``, text)."""
    m = re.fullmatch(_NUMBER + r"\s*([a-zA-Z]*)", raw.strip())
    if not m:
        raise UserError(f"log {tag}: {raw!r} is not {what}")
    unit = (m.group(2) or default or "").lower()
    if unit not in units:
        raise UserError(f"log {tag}: unknown unit {m.group(2)!r}; use {', '.join(u for u in units if u)}")
    v = float(m.group(1)) * units[unit]
    if not low <= v <= high:
        raise UserError(f"log {tag}: {raw} makes no sense; give {what} (between {low:g} and {high:g} "
                        f"{next(iter(units))})")
    return v, raw.strip()


def parse_tag(tag: str, value: str | None) -> Tag:
    """A checked Tag from the words of ``twitchwatch log TAG [VALUE]``."""
    tag = tag.lower()
    if tag not in TAGS:
        raise UserError(f"log: unknown tag {tag!r}; use one of {', '.join(TAGS)}")
    if tag == "caffeine":
        if value is None:
            return Tag(tag)
        v, text = _with_unit(tag, value, {"mg": 1.0, "cup": 95.0, "cups": 95.0, "g": 1000.0}, "mg", 0, 2000,
                             "an amount like 200mg or 2cups")
        return Tag(tag, v, "mg", text)
    if tag == "sleep":
        if value is None:
            raise UserError("log sleep: give the hours slept, e.g. `twitchwatch log sleep 6.5h`")
        v, text = _with_unit(tag, value, {"h": 1.0, "hours": 1.0, "min": 1 / 60}, "h", 0, 20,
                             "hours slept like 6.5h")
        return Tag(tag, v, "h", text)
    if tag == "stress":
        if value is None:
            raise UserError("log stress: give a level from 0 (none) to 10, e.g. `twitchwatch log stress 7`")
        return Tag(tag, _number(tag, value, 0, 10, "a stress level from 0 to 10"), "0-10")
    if tag in ("exercise", "medication", "note"):
        if tag != "exercise" and not value:
            raise UserError(f"log {tag}: give a {'name' if tag == 'medication' else 'text'}, e.g. "
                            f"`twitchwatch log {tag} {'furosemide' if tag == 'medication' else 'ran 5 km'}`")
        flag = ELECTROLYTE_MEDICINES.get((value or "").strip().lower()) if tag == "medication" else None
        return Tag(tag, None, None, value, flag)
    if tag == "alcohol":
        if value is None:
            return Tag(tag)
        v, text = _with_unit(tag, value, {"drinks": 1.0, "drink": 1.0}, "drinks", 0, 30, "drinks like 2")
        return Tag(tag, v, "drinks", text)
    if tag == "hydration":
        if value is None:
            raise UserError("log hydration: give what you drank, e.g. `twitchwatch log hydration 1.5L`")
        v, text = _with_unit(tag, value, {"l": 1.0, "ml": 1e-3}, "l", 0, 10, "litres like 1.5L")
        return Tag(tag, v, "L", text)
    if tag in SYMPTOMS:
        if value is None:
            return Tag(tag)
        return Tag(tag, _number(tag, value, 0, 10, "a severity from 0 to 10"), "0-10")
    lo, hi, low_plausible, high_plausible = LABS[tag]
    if value is None:
        raise UserError(f"log {tag}: give the lab value in mmol/L, e.g. `twitchwatch log {tag} {lo + hi:.2g}`")
    number = re.sub(r"\s*mmol\s*/\s*l$", "", value.strip(), flags=re.IGNORECASE)
    v = _number(tag, number, low_plausible, high_plausible, "a value in mmol/L")
    text = value.strip()
    flag = "low" if v < lo else "high" if v > hi else None
    return Tag(tag, v, "mmol/L", text, flag)


def parse_time(text: str, option: str) -> tuple[_dt.datetime, bool]:
    """(time, is a whole day) from ISO text: '2026-11-20' or '2026-11-20T08:00[+01:00]'."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            return _dt.datetime.fromisoformat(text.strip()), True
        return _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")), False
    except ValueError:
        raise UserError(f"{option} {text}: not a date or time; use 2026-11-20 or 2026-11-20T08:00") from None


def tag_window(at: str | None, start: str | None, end: str | None,
               now: _dt.datetime | None = None) -> tuple[_dt.datetime, _dt.datetime, _dt.datetime]:
    """(at, start, end): a point (``--at``, default now) covers its calendar day; an
    interval (``--from``/``--to``) covers itself."""
    if (start is None) != (end is None):
        raise UserError("log: give both --from and --to for an interval (or --at for a point in time)")
    if start is not None:
        if at is not None:
            raise UserError("log: give either --at or --from/--to, not both")
        a, a_day = parse_time(start, "--from")
        b, b_day = parse_time(end, "--to")  # type: ignore[arg-type]
        if b_day:
            b = b + _dt.timedelta(days=1)
        if b <= a:
            raise UserError(f"log: --to {end} is not after --from {start}")
        return a, a, b
    if at is None:
        t = (now or _dt.datetime.now()).replace(microsecond=0)
    else:
        t, _ = parse_time(at, "--at")
    local = t.astimezone() if t.tzinfo else t
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return t, day, day + _dt.timedelta(days=1)
