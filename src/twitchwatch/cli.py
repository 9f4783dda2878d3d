"""The ``twitchwatch`` command: simulate, analyze, evaluate, stream, train, log, report.

Errors that are the user's to fix (twitchwatch.errors.UserError, unwritable output paths,
bad JSON, bad options) end as one line on stderr, ``twitchwatch: error: ...``, exit 2;
they are handled once, in ``main``.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from . import __version__
from .allocator import keep_temporaries
from .errors import UserError
from .types import KINDS, Recording

PROG = "twitchwatch"
BOARD_FS = {"cyton": 250.0, "ganglion": 200.0, "cyton-daisy": 125.0}
MAX_MINUTES = 24 * 60


MODEL_HELP = ("the classifier: a .skops model from `twitchwatch train`, or 'rules' for the transparent rule "
              "baseline (default: the shipped model, models/twitchwatch-default.skops)")


class _Parser(argparse.ArgumentParser):
    """argparse, but errors become one-line UserErrors (no usage dump, handled in main)."""

    def error(self, message: str):  # type: ignore[override]
        sub = self.prog[len(PROG):].strip() if self.prog.startswith(PROG) else self.prog
        raise UserError(f"{sub}: {message}" if sub else message)


# ---------------------------------------------------------------- option types

def _positive(name: str, low: float = 0.0, high: float = math.inf, integer: bool = False,
              allow_low: bool = False):
    def convert(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if integer else 'a number'}") from None
        ok = math.isfinite(value) and (value >= low if allow_low else value > low) and value <= high
        if not ok:
            lo = f">= {low:g}" if allow_low else f"> {low:g}"
            rng = f"{lo}" + (f" and <= {high:g}" if math.isfinite(high) else "")
            raise argparse.ArgumentTypeError(f"{text} is out of range; {name} must be {rng}")
        return value
    convert.__name__ = name
    return convert


def _fs(text: str) -> float:
    from .formats.checks import FS_MAX, FS_MIN
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of Hz") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of Hz")
    if not FS_MIN <= value <= FS_MAX:
        raise argparse.ArgumentTypeError(
            f"{text} Hz is implausible for EMG (expected {FS_MIN:g} to {FS_MAX:g} Hz)")
    return value


# ---------------------------------------------------------------- console helpers

def _consoles():
    from rich.console import Console
    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _fmt(v: float) -> str:
    return f"{v:g}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s >= 1 else f"{s:.3f} s"


# ---------------------------------------------------------------- simulate

def cmd_simulate(args: argparse.Namespace) -> int:
    from .formats import write_recording
    from .report_json import write_json
    from .synth import SynthConfig, simulate

    out = Path(args.out)
    if out.suffix == "":
        out = out.with_suffix(".bdf")
    if out.suffix.lower() not in (".bdf", ".edf"):
        raise UserError(f"{out}: cannot write {out.suffix}; name the output .bdf (BDF+, 24-bit) "
                        "or .edf (EDF+, 16-bit)")
    if out.is_dir():
        raise UserError(f"{out}: is a folder; name the recording file to write")
    if not out.parent.is_dir():
        raise UserError(f"{out}: the folder {out.parent} does not exist; create it first")
    fs = args.fs
    if args.board in BOARD_FS:
        if fs is not None and fs != BOARD_FS[args.board]:
            raise UserError(f"--fs {fs:g} conflicts with --board {args.board} "
                            f"({BOARD_FS[args.board]:g} Hz); drop one of them")
        fs = BOARD_FS[args.board]
    fs = 250.0 if fs is None else fs
    cfg = SynthConfig(minutes=args.minutes, fs=fs, seed=args.seed, n_channels=args.channels,
                      noise_uv=args.noise, mains_hz=float(args.mains) if args.mains else None,
                      twitch_rate=args.twitch_rate)
    rec, truth = simulate(cfg)
    if args.start is not None:
        from .tags import parse_time

        rec.start_time = parse_time(args.start, "--start")[0]
    if rec.n_samples == 0:
        raise UserError(f"--minutes {args.minutes:g} is shorter than one sample at {fs:g} Hz")
    truth_path = out.with_suffix(".truth.json")
    annotations = [(float(e["start_s"]), float(e["end_s"]) - float(e["start_s"]), e["kind"])
                   for e in truth["events"]]
    write_recording(out, rec, annotations)
    write_json(truth_path, truth)
    counts = Counter(e["kind"] for e in truth["events"])
    what = ", ".join(f"{counts.get(k, 0)} {k}" for k in KINDS)
    print(f"wrote {out} ({_plural(rec.n_channels, 'channel')}, {rec.fs:g} Hz, {_seconds(rec.duration_s)}, "
          f"seed {args.seed}) and {truth_path}: {what} events (counted per channel)")
    return 0


# ---------------------------------------------------------------- analyze

def _summary_table(rec: Recording, episodes) -> "object":
    from rich.table import Table
    minutes = rec.duration_s / 60.0
    counts = Counter((e.channel, e.kind) for e in episodes)
    table = Table()
    table.add_column("channel")
    for k in KINDS:
        table.add_column(k, justify="right")
    table.add_column("twitches/min", justify="right")
    for c, name in enumerate(rec.channels):
        n = [counts.get((c, k), 0) for k in KINDS]
        table.add_row(f"{c} {name}", *map(str, n), f"{n[0] / minutes:.2f}" if minutes > 0 else "-")
    if rec.n_channels > 1:
        tot = [sum(counts.get((c, k), 0) for c in range(rec.n_channels)) for k in KINDS]
        table.add_row("all", *map(str, tot), f"{tot[0] / minutes:.2f}" if minutes > 0 else "-", style="bold")
    return table


def _inputs(paths: Sequence[str]) -> tuple[list[tuple[Path, str | None]], list[str]]:
    """(file, the folder or glob pattern it came from, or None) for each input, folders and
    globs (``*``, ``?``, ``[...]``, ``**`` for any depth) expanded in sorted order; and the
    folders and patterns given. A pattern that matches no file is a UserError."""
    import glob

    def wanted(q: Path) -> bool:
        return q.is_file() and not q.name.startswith(".") and q.suffix.lower() != ".json" \
            and q.name != "summary.csv"

    files: list[tuple[Path, str | None]] = []
    groups: list[str] = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            inside = sorted(q for q in p.iterdir() if wanted(q))
        elif not p.exists() and any(c in text for c in "*?["):
            matched = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            inside = [q for q in matched if wanted(q)]
            if not inside:
                raise UserError(f"{text}: matches no files" + (" to analyse (.json files are skipped)"
                                                               if matched else "; check the pattern"))
        else:
            files.append((p, None))
            continue
        groups.append(text)
        files += [(q, text) for q in inside]
    return files, groups


def _open(path: Path, args):
    """Open a recording and print the reader's warnings about it (the signal checks come
    with the analysis, which reads the samples)."""
    from .formats import open_recording

    rec = open_recording(path, board=args.board, fs=args.fs, columns=args.columns)
    for w in rec.meta.get("warnings", []):
        _warn(f"{path}: {w}")
    return rec


def _regions(text: str | None, n_channels: int) -> list[str | None]:
    """--regions: one body region for every channel, or one per channel, comma-separated."""
    from .episodes import BODY_REGIONS

    if not text:
        return [None] * n_channels
    parts = [t.strip().lower() for t in text.split(",")]
    bad = [t for t in parts if t not in BODY_REGIONS]
    if bad:
        raise UserError(f"--regions {text}: unknown body region {bad[0]!r}; use {', '.join(BODY_REGIONS)}")
    if len(parts) == 1:
        return parts * n_channels
    if len(parts) != n_channels:
        raise UserError(f"--regions {text}: {len(parts)} regions for {n_channels} channels; give one, or one per channel")
    return parts  # type: ignore[return-value]


def _store(args):
    """The episode log the command writes to, or None with --no-log (which then does
    not import the log's module: sqlite3 and hashlib, 4 ms of start-up)."""
    if getattr(args, "no_log", False):
        return None
    from .episodes import EpisodeStore, default_db

    return EpisodeStore(args.db or default_db())


def _log_recording(store, path: Path, info, episodes: list, waveforms: dict, regions: list, quiet: bool,
                   err_con) -> None:
    """Put a recording's episodes in the log, placed in time by its start (``info``: the
    Recording, or a batch worker's RecordingInfo)."""
    from .episodes import fingerprint, session_start

    start, placed = session_start(path, info)
    _, replaced = store.log_session(source_key=fingerprint(path), source=str(path.resolve()), start=start,
                                    duration_s=info.duration_s, fs=info.fs, channels=tuple(info.channels),
                                    regions=regions, episodes=episodes, waveforms=waveforms)
    if not quiet:
        err_con.print(f"{'replaced' if replaced else 'logged'} in {store.path}{placed}", highlight=False)


def _run(path: Path, rec: Recording, args, out_con, err_con) -> list:
    """The recording's episodes, with a progress bar on a terminal, and its summary table
    (rich is imported only to show them: with --quiet, start-up is 50 ms shorter)."""
    from .classify import make_classifier
    from .pipeline import MAINS, analyze
    from .quality import SignalStats, signal_warnings, snippets

    classifier = make_classifier(args.model, rec.fs)
    stats = SignalStats(rec.n_channels)
    if not args.quiet and err_con.is_terminal:
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeRemainingColumn(), console=err_con, transient=True) as bar:
            task = bar.add_task(escape(path.name), total=rec.n_samples)
            episodes = analyze(rec, mains_hz=MAINS[args.mains], progress=lambda n: bar.advance(task, n),
                               classifier=classifier, tap=stats.add)
    else:
        episodes = analyze(rec, mains_hz=MAINS[args.mains], classifier=classifier, tap=stats.add)
    for w in signal_warnings(stats, rec.channels, str(path)):
        _warn(w)
    if args.store is not None:
        _log_recording(args.store, path, rec, episodes, snippets(rec, episodes),
                       _regions(args.regions, rec.n_channels), args.quiet, err_con)
    if not args.quiet:
        from rich.markup import escape

        fmt = rec.meta.get("format", "?")
        out_con.print(f"[bold]{escape(str(path))}[/bold]  {fmt}, {_plural(rec.n_channels, 'channel')}, "
                      f"{rec.fs:g} Hz, {_seconds(rec.duration_s)}: {_plural(len(episodes), 'event')}")
        out_con.print(_summary_table(rec, episodes))
    return episodes


def _unique_name(folder: Path, stem: str, used: set[str]) -> Path:
    name, k = f"{stem}.json", 2
    while name in used:
        name, k = f"{stem}-{k}.json", k + 1
    used.add(name)
    return folder / name


SUMMARY_FIELDS = ["file", "fs", "channels", "duration_s", "twitches", "spasms", "artifacts",
                  "twitches_per_min", "status", "error", "events_json"]


def cmd_analyze(args: argparse.Namespace) -> int:
    from .formats import parse_columns
    from .report_json import events_doc, write_json

    if args.columns is not None:
        parse_columns(args.columns)  # a bad spec fails now, naming --columns
    if args.board is not None:
        from .formats.brainflow_csv import board_id
        board_id(args.board)
    if args.model != "rules":
        from .classify import load_predictor
        load_predictor(args.model)  # a bad model fails once, before any recording
    files, groups = _inputs(args.paths)
    json_out = Path(args.json) if args.json else None
    if args.regions:
        _regions(args.regions, len(args.regions.split(",")))  # unknown names fail now, once
    args.store = _store(args)

    if len(args.paths) == 1 and not groups:  # one recording: --json names the events file
        out_con, err_con = (None, None) if args.quiet else _consoles()  # (quiet: nothing goes through them)
        path = files[0][0]
        target = json_out
        if target is not None:
            if target.is_dir():
                target = target / f"{path.stem}.json"
            elif not target.parent.is_dir():
                raise UserError(f"--json {json_out}: the folder {target.parent} does not exist; create it first")
            if path.is_file() and target.exists() and target.resolve() == path.resolve():
                raise UserError(f"--json {json_out}: is the input recording; name another file")
        rec = _open(path, args)
        episodes = _run(path, rec, args, out_con, err_con)
        if target is not None:
            write_json(target, events_doc(rec, episodes))
            if not args.quiet:
                print(f"wrote {target}")
        return 0

    # several recordings: --json names a folder; failures are reported and the rest go on
    out_con, err_con = _consoles()
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .batch import Batch, Options

    for group in groups:
        if not any(g == group for _, g in files):
            raise UserError(f"{group}: holds no files to analyse (.json files are skipped)")
    if json_out is not None and json_out.exists() and not json_out.is_dir():
        raise UserError(f"--json {json_out}: with several recordings --json names a folder, "
                        "but this is a file; name a folder")
    options = Options(board=args.board, fs=args.fs, columns=args.columns, mains=args.mains, model=args.model,
                      waveforms=args.store is not None)
    rows: list[dict] = []
    used: set[str] = set()
    failed = 0
    skipped: dict[str, list[str]] = {}

    def fail(row: dict, message: str) -> None:
        nonlocal failed
        row.update(status="failed", error=message)
        failed += 1
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)

    with Batch(args.jobs, args.scheduler) as batch, \
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                     console=err_con, transient=True, disable=args.quiet or not err_con.is_terminal) as bar:
        if json_out is not None:
            json_out.mkdir(parents=True, exist_ok=True)
        task = bar.add_task("analysing", total=len(files))
        results = batch.run([str(p) for p, _ in files], options, done=lambda: bar.advance(task))
        for (path, group), res in zip(files, results, strict=True):  # in input order, however they finish
            row = dict.fromkeys(SUMMARY_FIELDS, "")
            row["file"] = str(path)
            rows.append(row)
            for w in res.warnings:
                _warn(w)
            if res.unreadable and group is not None:  # a file in a folder that is not a recording we read
                row.update(status="skipped", error=res.error)
                skipped.setdefault(group, []).append(res.error)
                continue
            if res.error:
                fail(row, res.error)
                continue
            info, episodes = res.info, res.episodes
            assert info is not None and res.doc is not None
            if args.store is not None:
                try:
                    regions = _regions(args.regions, info.n_channels)
                except UserError as exc:
                    fail(row, f"{path}: {exc}")
                    continue
                _log_recording(args.store, path, info, episodes, res.waveforms, regions, args.quiet, err_con)
            if not args.quiet:
                out_con.print(f"[bold]{escape(str(path))}[/bold]  {info.format}, "
                              f"{_plural(info.n_channels, 'channel')}, {info.fs:g} Hz, "
                              f"{_seconds(info.duration_s)}: {_plural(len(episodes), 'event')}")
                out_con.print(_summary_table(info, episodes))
            n = Counter(e.kind for e in episodes)
            minutes = info.duration_s / 60.0
            row.update(fs=_fmt(info.fs), channels=info.n_channels, duration_s=f"{info.duration_s:.3f}",
                       twitches=n.get("twitch", 0), spasms=n.get("spasm", 0), artifacts=n.get("artifact", 0),
                       twitches_per_min=f"{n.get('twitch', 0) / minutes:.3f}" if minutes > 0 else "",
                       status="ok")
            if json_out is not None:
                target = _unique_name(json_out, path.stem, used)
                write_json(target, res.doc)
                row["events_json"] = str(target)
    n_ok = sum(r["status"] == "ok" for r in rows)
    for group in groups:
        skips = skipped.get(group, [])
        in_group = sum(1 for _, g in files if g == group)
        if skips and len(skips) == in_group and n_ok == 0 and failed == 0:
            raise UserError(f"{group}: none of its {len(skips)} file(s) is a recording twitchwatch can read "
                            f"(e.g. {skips[0]})")
    for skips in skipped.values():
        for why in skips:
            _warn(f"skipped {why}")
    if json_out is not None:
        summary = json_out / "summary.csv"
        with open(summary, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, SUMMARY_FIELDS)
            w.writeheader()
            w.writerows(rows)
        if not args.quiet:
            print(f"wrote {n_ok} events file(s) and {summary}")
    if failed:
        print(f"{PROG}: error: {failed} of {failed + n_ok} recording(s) failed (see above)",
              file=sys.stderr, flush=True)
        return 2
    if n_ok == 0:
        raise UserError(f"none of {', '.join(args.paths)} holds a recording twitchwatch can read")
    return 0


# ---------------------------------------------------------------- evaluate

def _score_table(rows: list[tuple[str, object]]):
    """A rich table: per (label, Score), a row per kind, and artifacts called twitch."""
    from rich.table import Table

    table = Table(show_edge=True)
    for col in ("rate", "kind", "precision", "recall", "F1", "tp", "fp", "fn", "artifacts called twitch"):
        table.add_column(col, justify="left" if col in ("rate", "kind") else "right")
    for label, s in rows:
        for n, k in enumerate(KINDS):
            c = s.kinds[k]  # type: ignore[attr-defined]
            empty = c.tp + c.fp + c.fn == 0
            table.add_row(label if n == 0 else "", k, *(["-"] * 3 if empty else
                                                        [f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}"]),
                          str(c.tp), str(c.fp), str(c.fn),
                          f"{s.artifact_as_twitch_rate:.1%} of {s.artifacts}" if n == 0 else "",  # type: ignore
                          end_section=n == len(KINDS) - 1)
    return table


def _confusion_table(m):
    from rich.table import Table

    from .evaluate import CONFUSION_FOUND, CONFUSION_TRUTH

    table = Table(title="confusion (rows: what was there; columns: what was reported)", show_edge=True)
    table.add_column("")
    for k in CONFUSION_FOUND:
        table.add_column(k, justify="right")
    for k, row in zip(CONFUSION_TRUTH, m):
        table.add_row(k, *(str(int(v)) for v in row))
    return table


def _truth_for(path: Path) -> Path:
    return path.with_name(path.name[: -len(path.suffix)] + ".truth.json" if path.suffix else path.name + ".truth.json")


def _writable(*targets: tuple[str, str | Path | None]) -> None:
    """Check (option, path) pairs of files to write before any work: not a folder, and in
    a folder that exists. A path of None is not asked for."""
    for option, target in targets:
        if target is None:
            continue
        p = Path(target)
        if p.is_dir():
            raise UserError(f"{option} {p}: is a folder; name the file to write")
        if not p.parent.is_dir():
            raise UserError(f"{option} {p}: the folder {p.parent} does not exist; create it first")


def cmd_evaluate_folder(args: argparse.Namespace) -> int:
    """Analyse every recording that has a truth file beside it and score them, by rate. A
    recording is read at the rate its truth file gives (``fs``) unless --fs says otherwise:
    the truth's times are in that rate's seconds, and a BrainFlow CSV does not say its own."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .classify import make_classifier
    from .evaluate import Tally, plot_confusion, write_mistakes
    from .formats import open_recording
    from .pipeline import analyze
    from .report_json import events_doc, load_events, write_json

    files, _ = _inputs(args.paths)
    pairs = [(p, _truth_for(p)) for p, _ in files if _truth_for(p).is_file() and not p.name.endswith(".json")]
    if not pairs:
        raise UserError(f"{' '.join(args.paths)}: no recordings with a truth file beside them "
                        "(X.bdf needs X.truth.json, as `twitchwatch simulate` writes)")
    _writable(("--json", args.json), ("--plot", args.plot), ("--errors", args.errors))
    out_con, err_con = _consoles()
    tally = Tally()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_con,
                  transient=True, disable=args.quiet or not err_con.is_terminal) as bar:
        task = bar.add_task("evaluating", total=len(pairs))
        for path, truth_path in pairs:
            truth = load_events(truth_path, "truth")
            rate, where = (args.fs, "--fs") if args.fs is not None else (truth["fs"], f"{truth_path.name}'s fs")
            rec = open_recording(path, board=args.board, fs=rate, fs_from=where)
            for w in rec.meta.get("warnings", []):
                _warn(f"{path}: {w}")
            found = events_doc(rec, analyze(rec, classifier=make_classifier(args.model, rec.fs)))
            tally.add(rec.fs, truth, found, args.min_snr, name=path.name)
            bar.advance(task)
    rows = [(f"{fs:g} Hz", s) for fs, s in sorted(tally.by_rate.items())] + [("all", tally.overall)]
    out_con.print(f"{tally.recordings} recordings; truth twitches "
                  f"below {args.min_snr:g} x noise rms set aside")
    out_con.print(_score_table(rows))
    out_con.print(_confusion_table(tally.confusion))
    if args.plot:
        plot_confusion(tally.confusion, args.plot)
        out_con.print(f"wrote {args.plot}")
    if args.json:
        write_json(args.json, dict(tally.as_dict(), min_snr=args.min_snr, model=str(args.model or "default")))
    if args.errors:
        write_mistakes(args.errors, tally.mistakes)
        out_con.print(f"wrote {args.errors} ({len(tally.mistakes)} twitches and spasms missed or false)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .evaluate import mistakes, score, write_mistakes
    from .report_json import load_events, write_json

    if args.paths:
        if args.truth or args.events:
            raise UserError("evaluate: give either recordings/folders or --truth with --events, not both")
        return cmd_evaluate_folder(args)
    if not (args.truth and args.events):
        raise UserError("evaluate: give a folder of recordings with truth files, or --truth T.json --events E.json")
    truth = load_events(args.truth, "--truth")
    found = load_events(args.events, "--events")
    if len(truth["channels"]) != len(found["channels"]):
        _warn(f"--truth {args.truth} has {len(truth['channels'])} channels but --events {args.events} "
              f"has {len(found['channels'])}; are they the same recording?")
    elif abs(float(truth["duration_s"]) - float(found["duration_s"])) > 1.0:
        _warn(f"--truth {args.truth} lasts {truth['duration_s']:g} s but --events {args.events} "
              f"{found['duration_s']:g} s; are they the same recording?")
    _writable(("--json", args.json), ("--errors", args.errors))
    s = score(truth, found, min_snr=args.min_snr)
    out_con, _ = _consoles()
    table = Table(show_edge=True)
    for col in ("kind", "precision", "recall", "F1", "tp", "fp", "fn"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for k in KINDS:
        c = s.kinds[k]
        if c.tp + c.fp + c.fn == 0:  # none in the truth, none found: nothing to score
            table.add_row(k, "-", "-", "-", "0", "0", "0")
        else:
            table.add_row(k, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", str(c.tp), str(c.fp), str(c.fn))
    out_con.print(table)
    out_con.print(f"artifacts called twitch: {s.artifacts_called_twitch} of {s.artifacts} "
                  f"({s.artifact_as_twitch_rate:.1%})")
    if truth.get("noise_rms_uv") is None:
        out_con.print("low-SNR twitches set aside: 0 (the truth gives no noise_rms_uv)")
    else:
        out_con.print(f"low-SNR twitches set aside (peak-to-peak below {args.min_snr:g} x noise rms): {s.set_aside}")
    if args.json is not None:
        doc = s.as_dict()
        doc.update(truth=str(args.truth), events=str(args.events), min_snr=args.min_snr)
        write_json(args.json, doc)
    if args.errors is not None:
        rows = [dict(row, recording=Path(args.events).name, fs_hz=found.get("fs"))
                for row in mistakes(truth, found, args.min_snr)]
        write_mistakes(args.errors, rows)
        out_con.print(f"wrote {args.errors} ({len(rows)} twitches and spasms missed or false)")
    return 0


# ---------------------------------------------------------------- train

def cmd_train(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .classify import save_model
    from .train import PER_RATE, build_examples, fit, metadata

    out = Path(args.out)
    _writable(("--out", out))
    if out.suffix != ".skops":
        raise UserError(f"--out {out}: name the model file with a .skops suffix")
    real = Path(args.real) if args.real else None
    if real is not None and not real.is_dir():
        raise UserError(f"--real {real}: no such folder")
    out_con, err_con = _consoles()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_con, transient=True, disable=args.quiet or not err_con.is_terminal) as bar:
        task = bar.add_task("simulating and detecting", total=None)
        per_rate = args.per_rate or PER_RATE
        ex = build_examples(args.seed, per_rate, args.minutes, real, jobs=args.jobs,
                            progress=lambda k, n: bar.update(task, completed=k, total=n))
        bar.update(task, description="fitting the model")
        model = fit(ex, seed=args.seed)
    meta = metadata(ex, args.seed, per_rate, args.minutes)
    save_model(model, out, meta)
    if not args.quiet:
        counts = ", ".join(f"{k} {v}" for k, v in meta["examples"].items())
        out_con.print(f"wrote {out} (and {out.with_suffix('.json').name}): {len(ex.y)} bursts ({counts})"
                      + (f"; real recordings: {', '.join(meta['real_sources'])}" if meta["real_sources"] else ""),
                      highlight=False)
    return 0


# ---------------------------------------------------------------- log and report

LOG_ACTIONS = ("list", "edit", "delete", "import", "export")


def cmd_log(args: argparse.Namespace) -> int:
    from .episodes import EpisodeStore, default_db
    from .tags import TAGS, parse_tag, tag_window

    words = list(args.words)
    action = words[0].lower()
    if action not in LOG_ACTIONS and action not in TAGS:
        raise UserError(f"log: unknown tag {words[0]!r}; use one of {', '.join(TAGS)} (or {', '.join(LOG_ACTIONS)})")
    out_con, _ = _consoles()
    with EpisodeStore(args.db or default_db()) as store:
        if action == "list":
            return _log_list(store, out_con)
        if action == "delete":
            store.delete_tag(_tag_id(words))
            out_con.print(f"deleted tag {_tag_id(words)}")
            return 0
        if action == "export":
            return _log_export(store, words, out_con)
        if action == "import":
            return _log_import(store, words, out_con)
        if action == "edit":
            tag_id = _tag_id(words)
            old = next((t for t in store.tags() if t["id"] == tag_id), None)
            if old is None:
                raise UserError(f"tag {tag_id}: no such tag; `twitchwatch log list` shows them")
            fields: dict = {}
            if len(words) > 2:
                t = parse_tag(old["tag"], " ".join(words[2:]))
                fields.update(value=t.value, unit=t.unit, text=t.text, flag=t.flag)
            if args.at or args.start:
                at, a, b = tag_window(args.at, args.start, args.end)
                fields.update(at=at, start=a, end=b)
            if args.note is not None:
                fields["note"] = args.note
            store.edit_tag(tag_id, **fields)
            out_con.print(f"edited tag {tag_id}")
            return 0
        t = parse_tag(action, " ".join(words[1:]) or None)
        at, a, b = tag_window(args.at, args.start, args.end)
        tag_id = store.add_tag(t.tag, at=at, start=a, end=b, value=t.value, unit=t.unit, text=t.text,
                               note=args.note, flag=t.flag)
        extra = f" ({t.flag})" if t.flag else ""
        out_con.print(f"logged {t.tag}{' ' + (t.text or f'{t.value:g}') if t.value is not None or t.text else ''}"
                      f"{extra} as tag {tag_id}, for {a:%Y-%m-%d %H:%M} to {b:%Y-%m-%d %H:%M}", highlight=False)
    return 0


def _tag_id(words: list[str]) -> int:
    if len(words) < 2 or not words[1].isdigit():
        raise UserError(f"log {words[0]}: give the tag's number, e.g. `twitchwatch log {words[0]} 3` "
                        "(`twitchwatch log list` shows them)")
    return int(words[1])


def _log_list(store, out_con) -> int:
    from rich.table import Table

    table = Table(show_edge=True)
    for col in ("id", "tag", "value", "from", "to", "note", "flag"):
        table.add_column(col)
    for t in store.tags():
        value = t["text"] or ("" if t["value"] is None else f"{t['value']:g} {t['unit'] or ''}".strip())
        table.add_row(str(t["id"]), t["tag"], value, t["start"][:16], t["end"][:16], t["note"] or "", t["flag"] or "")
    out_con.print(table)
    return 0


TAG_CSV_FIELDS = ["tag", "value", "at", "from", "to", "note"]


def _log_import(store, words: list[str], out_con) -> int:
    """A tag diary from CSV (columns tag, value, at or from/to, note): every row is checked
    first, and either all are stored or none."""
    from .tags import parse_tag, tag_window

    if len(words) != 2:
        raise UserError("log import: give the diary, e.g. `twitchwatch log import diary.csv`")
    path = Path(words[1])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc.__class__.__name__}); give a UTF-8 CSV file") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "tag" not in reader.fieldnames:
        raise UserError(f"{path}: needs a header row with at least 'tag' (columns: {', '.join(TAG_CSV_FIELDS)})")
    rows = []
    for line, r in enumerate(reader, start=2):
        try:
            t = parse_tag((r.get("tag") or "").strip(), (r.get("value") or "").strip() or None)
            at, a, b = tag_window((r.get("at") or "").strip() or None, (r.get("from") or "").strip() or None,
                                  (r.get("to") or "").strip() or None)
        except UserError as exc:
            raise UserError(f"{path} line {line}: {exc}; nothing was imported") from None
        rows.append(dict(tag=t.tag, at=at, start=a, end=b, value=t.value, unit=t.unit, text=t.text,
                         note=(r.get("note") or "").strip() or None, flag=t.flag))
    ids = store.add_tags(rows)
    out_con.print(f"imported {len(ids)} tags from {path}")
    return 0


def _log_export(store, words: list[str], out_con) -> int:
    """episodes.csv and tags.csv in a folder."""
    if len(words) != 2:
        raise UserError("log export: give a folder, e.g. `twitchwatch log export out/`")
    folder = Path(words[1])
    if folder.exists() and not folder.is_dir():
        raise UserError(f"log export {folder}: is a file; name a folder")
    folder.mkdir(parents=True, exist_ok=True)
    episodes = store.episodes()
    fields = ["time", "session_id", "channel", "channel_name", "region", "start_s", "end_s", "kind", "peak_uv",
              "confidence"]
    with (folder / "episodes.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(episodes)
    with (folder / "tags.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "tag", "value", "unit", "text", "at", "start", "end", "note", "flag"])
        w.writeheader()
        w.writerows(store.tags())
    out_con.print(f"wrote {folder / 'episodes.csv'} ({len(episodes)} episodes) and {folder / 'tags.csv'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .episodes import EpisodeStore, default_db
    from .insights import summarize, terminal_summary
    from .report_json import write_json

    _writable(("--json", args.json), ("--html", args.html))
    db = Path(args.db) if args.db else default_db()
    if not db.is_file():
        raise UserError(f"--db {db}: no episode log there yet; `twitchwatch analyze` or `stream` fills it")
    with EpisodeStore(db) as store:
        episodes = store.episodes(with_waveforms=bool(args.html))
        summary = summarize(store.sessions(), episodes, store.tags())
    out_con, _ = _consoles()
    out_con.print(terminal_summary(summary), highlight=False)
    if args.json:
        write_json(args.json, summary)
    if args.html:
        from .report_html import write_html

        write_html(args.html, summary, _sample_waveforms(episodes))
        out_con.print(f"wrote {args.html}")
    return 0


def _sample_waveforms(episodes: list[dict]) -> dict:
    """The most confident twitch and spasm that have a waveform stored."""
    out = {}
    for kind in ("twitch", "spasm"):
        have = [e for e in episodes if e["kind"] == kind and e.get("waveform")]
        if have:
            out[kind] = max(have, key=lambda e: e["confidence"])["waveform"]
    return out


# ---------------------------------------------------------------- parser and main

def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"stream: argument --speed: {text!r} is not 1, a positive number or max")
    return value


def _make_source(args):
    """The source the options name, opened (a one-line error when it cannot be)."""
    if args.replay:
        from .formats import open_recording
        from .sources.replay import ReplaySource

        rec = open_recording(Path(args.replay), fs=args.fs, columns=args.columns)
        return ReplaySource(rec, speed=_speed(args.speed)), str(args.replay)
    if args.board in ("cyton", "cyton-daisy", "ganglion", "serial") and not args.port:
        raise UserError(f"stream: --board {args.board} needs --port (e.g. /dev/ttyUSB0)")
    if args.board == "serial":
        from .sources.serial import SerialSource

        source = SerialSource(args.port)
        source.open()  # waits for the board's INFO frame: its rate, channels and scale
        return source, f"serial:{args.port}"
    from .sources.brainflow import BrainFlowSource

    source = BrainFlowSource(args.board, port=args.port, duration_s=args.duration)
    source.open()  # a board that cannot start fails here, before any output file exists
    return source, args.board


def cmd_stream(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .report_json import write_json
    from .stream import RecorderSink, run_stream

    out_con, err_con = Console(), Console(stderr=True)
    for target in (args.json, args.record):
        if target and not Path(target).parent.exists():
            raise UserError(f"{target}: its folder does not exist")
    from .classify import load_predictor, make_classifier

    if args.model != "rules":
        # loaded before the board is opened: a bad model fails first, and the port is read
        # as soon as it is open
        load_predictor(args.model)
    source, name = _make_source(args)
    mains = {"auto": "auto", "none": None, "50": 50.0, "60": 60.0}[args.mains]
    classifier = make_classifier(args.model, source.fs)
    sinks = []
    if args.record:
        from .recorder import Recorder

        sinks.append(RecorderSink(Recorder(args.record, source.fs, tuple(source.channels)), on_fail=_warn))
    view = None if args.quiet or not out_con.is_terminal else _LiveView(source, out_con)
    tags = [_stream_tag(t) for t in args.tag]
    regions = _regions(args.regions, len(source.channels))
    store = _store(args)
    import datetime as dt
    started = dt.datetime.now(dt.timezone.utc)
    _stop_on_sigterm()
    try:
        if view is not None:
            with view:
                res = run_stream(source, duration_s=args.duration, mains_hz=mains, sinks=tuple(sinks),
                                 on_update=view.update, classifier=classifier)
        else:
            res = run_stream(source, duration_s=args.duration, mains_hz=mains, sinks=tuple(sinks),
                             classifier=classifier)
    finally:
        source.stop()
    doc = {"source": name, "fs": float(res.fs), "channels": list(res.channels),
           "duration_s": round(res.duration_s, 6),
           "events": [e.to_event() for e in res.episodes],
           "lost_samples": int(res.lost_samples),
           "gaps": [{"start_s": round(a / res.fs, 6), "samples": int(n)} for a, n in res.gaps if n > 0]}
    if args.tag:
        doc["tags"] = list(args.tag)
    if store is not None:
        end = started + dt.timedelta(seconds=res.duration_s)
        store.log_session(source_key=f"stream:{name}:{started.isoformat()}", source=name, start=started,
                          duration_s=res.duration_s, fs=res.fs, channels=res.channels, regions=regions,
                          episodes=res.episodes)
        for t in tags:
            store.add_tag(t.tag, at=started, start=started, end=end, value=t.value, unit=t.unit, text=t.text,
                          flag=t.flag, note="given with stream --tag")
        store.close()
    if args.json:
        write_json(args.json, doc)
        truth = getattr(source, "truth", None)
        if truth is not None:
            write_json(_truth_path(Path(args.json)), _truth_until(truth, res.duration_s))
    counts = Counter(e.kind for e in res.episodes)
    minutes = max(res.duration_s / 60.0, 1e-9)
    err_con.print(f"{name}: {res.duration_s:.1f} s, {counts.get('twitch', 0)} twitches "
                  f"({counts.get('twitch', 0) / minutes:.1f}/min), {counts.get('spasm', 0)} spasms, "
                  f"{counts.get('artifact', 0)} artifacts; lost samples {res.lost_samples}"
                  + (" (interrupted)" if res.interrupted else ""), highlight=False)
    if res.error:  # what came before is written and logged; then the reason, exit 2
        raise UserError(f"stream stopped after {res.duration_s:.1f} s: {res.error}")
    return 0


def _stream_tag(text: str):
    """--tag TAG or TAG=VALUE, checked like `twitchwatch log`."""
    from .tags import parse_tag

    tag, _, value = text.partition("=")
    return parse_tag(tag.strip(), value.strip() or None)


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, ``kill``) stops a stream as Ctrl-C does: cleanly, with
    the recording closed and the events written."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def _truth_path(json_path: Path) -> Path:
    name = json_path.name
    stem = name[:-5] if name.lower().endswith(".json") else name
    return json_path.with_name(stem + ".truth.json")


def _truth_until(truth: dict, duration_s: float) -> dict:
    """The truth of a synthetic stream, cut to what was streamed."""
    out = dict(truth)
    out["events"] = [e for e in truth["events"] if e["start_s"] < duration_s]
    out["duration_s"] = round(duration_s, 6)
    return out


class _LiveView:
    """The terminal while streaming: level and noise floor per channel, twitch rate, latest events."""

    def __init__(self, source, console):
        from rich.live import Live

        self.source, self.console = source, console
        self.live = Live(console=console, refresh_per_second=4, transient=False)
        self.recent: list = []
        self.counts = Counter()
        self.seconds = 0.0

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def update(self, pipe, chunk, episodes) -> None:
        from rich.console import Group
        from rich.table import Table

        self.seconds = chunk.stop / chunk.fs
        for e in episodes:
            self.counts[(e.channel, e.kind)] += 1
        self.recent = (self.recent + episodes)[-6:]
        level = pipe.det.level()
        floors = pipe.det.floor.floors[:, -1] if pipe.det.floor.floors.shape[1] else np.full(len(level), np.nan)
        table = Table(title=f"twitchwatch: {self.seconds:7.1f} s streamed, {self.source.lost_samples} samples lost")
        for col in ("channel", "EMG level (uV rms, 20 Hz+)", "noise floor uV", "twitches/min", "spasms", "artifacts"):
            table.add_column(col)
        minutes = max(self.seconds / 60.0, 1e-9)
        for c, name in enumerate(self.source.channels):
            ratio = level[c] / floors[c] if np.isfinite(floors[c]) and floors[c] > 0 else 0.0
            bar = "#" * int(min(20, 4 * np.log2(max(ratio, 1.0))))
            table.add_row(f"{c} {name}", f"{bar:<20} {level[c]:7.1f}", f"{floors[c]:.2f}",
                          f"{self.counts[(c, 'twitch')] / minutes:.1f}", str(self.counts[(c, 'spasm')]),
                          str(self.counts[(c, 'artifact')]))
        latest = Table(title="latest episodes")
        for col in ("time s", "channel", "kind", "peak-to-peak uV", "confidence"):
            latest.add_column(col)
        for e in self.recent[::-1]:
            latest.add_row(f"{e.start_s:.2f}", e.channel_name, e.kind, f"{e.peak_uv:.0f}", f"{e.confidence:.2f}")
        self.live.update(Group(table, latest))


# ---------------------------------------------------------------- doctor

def cmd_doctor(args: argparse.Namespace) -> int:
    """Check a setup and say what to fix: exit 1 when a check fails, 0 when all are OK or warn."""
    import json

    from .doctor import FAIL, diagnose, print_report
    from .report_json import write_json

    to_stdout = args.json == "-"
    _writable(("--json", None if to_stdout else args.json))
    if args.replay:
        from .formats import open_recording

        report = diagnose(replay=open_recording(Path(args.replay), fs=args.fs, columns=args.columns),
                          seconds=args.seconds)
    else:
        if args.board != "synthetic" and not args.port:
            raise UserError(f"doctor: --board {args.board} needs --port (e.g. /dev/ttyUSB0)")
        fixed = 250.0 if args.board == "synthetic" else BOARD_FS.get(args.board)
        if args.fs is not None and fixed is not None and args.fs != fixed:
            raise UserError(f"--fs {args.fs:g} conflicts with --board {args.board} ({fixed:g} Hz); drop --fs")
        report = diagnose(args.board, args.port, seconds=args.seconds, expected_fs=args.fs)
    doc = report.as_dict()
    if to_stdout:
        print(json.dumps(doc, indent=1, allow_nan=False))
    else:
        out_con, _ = _consoles()
        print_report(report, out_con)
        if args.json:
            write_json(args.json, doc)
    return 1 if report.status == FAIL else 0


def _log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH", default=None,
                   help="the episode log (SQLite) to write to (default: $TWITCHWATCH_DB, else "
                        "~/.local/share/twitchwatch/episodes.sqlite)")
    p.add_argument("--no-log", action="store_true", help="do not write the episodes to the episode log")
    p.add_argument("--regions", metavar="R[,R...]", default=None,
                   help="body region of the electrodes: one for all channels or one per channel "
                        "(eyelid, face, jaw, neck, shoulder, arm, forearm, hand, chest, back, abdomen, thigh, "
                        "calf, foot, other)")


def _source_options(p: argparse.ArgumentParser, board_help: str, replay_help: str) -> None:
    """--board or --replay, and --port: where `stream` and `doctor` take their samples from."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--board", choices=["synthetic", "cyton", "cyton-daisy", "ganglion", "serial"], help=board_help)
    src.add_argument("--replay", metavar="FILE", help=replay_help)
    p.add_argument("--port", metavar="DEV", default=None, help="serial port of the board, e.g. /dev/ttyUSB0")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Find muscle twitches (fasciculations) in surface EMG, tell them "
                                       "from spasms and artifacts.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("simulate", help="write a synthetic recording and its truth file",
                       description="Write a synthetic sEMG recording (BDF+ or EDF+, with the truth events as "
                                   "annotations) and OUT's truth file: /x/rec.bdf -> /x/rec.truth.json.")
    s.add_argument("out", metavar="OUT", help="recording to write; .bdf (BDF+, 24-bit, the default when OUT has "
                                              "no extension) or .edf (EDF+, 16-bit)")
    s.add_argument("--minutes", type=_positive("--minutes", high=MAX_MINUTES), default=2.0, metavar="M",
                   help="length in minutes (default 2)")
    s.add_argument("--seed", type=_positive("--seed", integer=True, allow_low=True, high=2**63 - 1), default=0,
                   metavar="N", help="random seed; the same seed gives the same recording (default 0)")
    s.add_argument("--fs", type=_fs, default=None, metavar="HZ",
                   help="sampling rate in Hz (default 250, or the --board's rate)")
    s.add_argument("--channels", type=_positive("--channels", high=64, integer=True), default=4, metavar="C",
                   help="number of EMG channels, 1-64 (default 4)")
    s.add_argument("--noise", type=_positive("--noise", high=1000), default=None, metavar="UV",
                   help="amplifier noise in microvolts rms (default: drawn from the seed, 1-10)")
    s.add_argument("--mains", choices=["50", "60"], default=None,
                   help="mains hum frequency in Hz (default: drawn from the seed)")
    s.add_argument("--start", metavar="TIME", default=None,
                   help="wall-clock start of the recording, e.g. 2026-11-20T09:00 (default: unknown)")
    s.add_argument("--twitch-rate", type=_positive("--twitch-rate", high=600), default=None, metavar="PER_MIN",
                   help="twitches per minute over the whole recording (default: drawn from the seed, 3-60)")
    s.add_argument("--board", choices=["cyton", "ganglion", "cyton-daisy", "serial"], default=None,
                   help="board profile: sets the rate and band limit (cyton 250 Hz, ganglion 200 Hz, "
                        "cyton-daisy 125 Hz); serial keeps --fs")
    s.set_defaults(func=cmd_simulate)

    a = sub.add_parser("analyze", help="find twitches, spasms and artifacts in recordings",
                       description="Analyse recordings (EDF/BDF, BrainFlow CSV, OpenBCI GUI txt, delimited "
                                   "numbers; the format is sniffed). With several inputs or a folder, files "
                                   "that are not recordings are skipped, failures are reported and the rest "
                                   "go on (exit status 2 at the end if any failed).")
    a.add_argument("paths", nargs="+", metavar="PATH",
                   help="recording file(s), folder(s) of recordings, or quoted glob patterns ('data/*.bdf', "
                        "'data/**/*.edf')")
    a.add_argument("--board", metavar="NAME", default=None,
                   help="BrainFlow board of a BrainFlow CSV (synthetic, cyton, cyton-daisy, ganglion, a "
                        "BoardIds name or number); BrainFlow CSV has no header: without this the board "
                        "with its column count is taken and its timestamps give the rate (with a warning)")
    a.add_argument("--fs", type=_fs, default=None, metavar="HZ",
                   help="sampling rate in Hz; needed for plain text without a rate in its header, and "
                        "overrides the file's rate otherwise")
    a.add_argument("--columns", metavar="SPEC", default=None,
                   help="channels to keep, 0-based, e.g. 0-7, 1,3,5 or 0-3,6 (for plain text: file columns)")
    a.add_argument("--json", metavar="OUT", default=None,
                   help="write events JSON: with one input, the file OUT; with several inputs or a folder, "
                        "the folder OUT gets <recording name>.json per recording and summary.csv")
    a.add_argument("--mains", choices=["auto", "50", "60", "none"], default="auto",
                   help="mains frequency to notch out: auto (found from the first second), 50, 60 or none "
                        "(default auto)")
    a.add_argument("--model", metavar="PATH", default=None, help=MODEL_HELP)
    _log_options(a)
    a.add_argument("--jobs", type=_positive("--jobs", high=256, integer=True), default=None, metavar="N",
                   help="with several recordings: analyse N at a time in N local processes (default 1); "
                        "with --scheduler local: the number of Dask workers (default 2)")
    a.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="with several recordings: run them on the Dask cluster whose scheduler is at ADDRESS "
                        "(e.g. tcp://10.0.0.5:8786; twitchwatch installed and the paths readable on its "
                        "workers), or 'local' for a LocalCluster on this machine")
    a.add_argument("--quiet", action="store_true",
                   help="no progress bar and no summary tables (warnings and errors still go to stderr)")
    a.set_defaults(func=cmd_analyze)

    e = sub.add_parser("evaluate", help="score events against truth: one file, or a folder of recordings",
                       description="Precision, recall and F1 per kind of event, matched one to one per channel. "
                                   "Either --truth with --events (one recording's events JSON), or recordings "
                                   "and folders: each recording X with a truth file X.truth.json beside it is "
                                   "analysed (with --model) and scored, split by sampling rate, with a "
                                   "confusion matrix (--plot for a picture of it).")
    e.add_argument("paths", nargs="*", metavar="PATH", help="recordings or folders of recordings with truth files")
    e.add_argument("--truth", metavar="T.json", help="truth events JSON (e.g. from simulate)")
    e.add_argument("--events", metavar="E.json", help="events JSON to score (from analyze --json)")
    e.add_argument("--model", metavar="PATH", default=None,
                   help="with recordings: the classifier (a .skops file from `twitchwatch train`, or 'rules'; "
                        "default: the shipped model)")
    e.add_argument("--plot", metavar="OUT.png", default=None, help="with recordings: save the confusion matrix plot")
    e.add_argument("--board", metavar="NAME", default=None, help="with recordings: the board of BrainFlow CSV files")
    e.add_argument("--fs", type=_fs, default=None, metavar="HZ",
                   help="with recordings: the rate of every recording (default: the fs of its truth file)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument("--min-snr", type=_positive("--min-snr", allow_low=True, high=1e6), default=6.0, metavar="X",
                   help="set aside truth twitches whose peak-to-peak is below X times their channel's noise "
                        "rms (default 6)")
    e.add_argument("--json", metavar="OUT", default=None, help="also write the scores as JSON to OUT")
    e.add_argument("--errors", metavar="OUT.csv", default=None,
                   help="also write every twitch and spasm missed or falsely reported to OUT.csv, one a row: "
                        "recording, channel, times, and what the other side holds there")
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("stream", help="live detection from a board, a serial EMG board or a replayed recording",
                       description="Live detection. A live view on the terminal; --record keeps the raw signal "
                                   "(BDF+/EDF+, flushed every second); --json writes the events with lost samples "
                                   "and gaps. Ctrl-C stops cleanly. `--board synthetic` needs no hardware: it "
                                   "streams twitchwatch's synthetic EMG through BrainFlow's playback board in real "
                                   "time, and --json OUT also writes OUT.truth.json.")
    _source_options(t, "the board: synthetic (no hardware), an OpenBCI board (with --port), or serial (a "
                       "firmware-bridge board, with --port)", "stream a recording through the live path")
    t.add_argument("--speed", default="1", metavar="1|N|max",
                   help="replay speed: 1 (real time, default), N times faster, or max (as fast as it runs)")
    t.add_argument("--duration", type=_positive("--duration", high=7 * 24 * 3600), default=None, metavar="S",
                   help="stop after S seconds of signal (default: until the source ends or Ctrl-C)")
    t.add_argument("--record", metavar="FILE", default=None,
                   help="record the raw signal to FILE (.bdf BDF+ or .edf EDF+), episodes and gaps as annotations")
    t.add_argument("--json", metavar="OUT", default=None, help="write the events JSON to OUT when the stream ends")
    t.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="a context tag for this session, TAG or TAG=VALUE (e.g. caffeine=200mg); may be repeated; "
                        "kept in the JSON and logged over the session")
    t.add_argument("--mains", choices=["auto", "50", "60", "none"], default="auto",
                   help="mains frequency to notch out (default auto: found from the first second)")
    t.add_argument("--fs", type=_fs, default=None, metavar="HZ", help="with --replay: the file's rate, if it needs one")
    t.add_argument("--columns", metavar="SPEC", default=None, help="with --replay: channels to keep")
    t.add_argument("--model", metavar="PATH", default=None, help=MODEL_HELP)
    _log_options(t)
    t.add_argument("--quiet", action="store_true", help="no live view (events still go to --json)")
    t.set_defaults(func=cmd_stream)

    d = sub.add_parser("doctor", help="check a setup (port, board, rate, electrodes, mains) and say what to fix",
                       description="Check a setup: the serial port (exists, permissions), the board (reachable, "
                                   "the rate measured against the wall clock, lost samples), each channel (noise "
                                   "floor of the 20 Hz+ band: good contact, high noise or flat; railed or clipped; "
                                   "DC drift) and mains hum (50/60 Hz and its strength). A table of OK/WARN/FAIL "
                                   "rows with what to fix; exit status 1 when a check fails, 0 otherwise.")
    _source_options(d, "the board to check (as for stream)", "check a recording's signal instead of a board")
    d.add_argument("--fs", type=_fs, default=None, metavar="HZ",
                   help="with a serial board: the rate you expect it to send; with --replay: the file's rate, "
                        "if it needs one")
    d.add_argument("--columns", metavar="SPEC", default=None, help="with --replay: channels to keep")
    d.add_argument("--seconds", type=_positive("--seconds", low=1.0, allow_low=True, high=600), default=None,
                   metavar="S", help="how long to listen to the board, 1-600 (default 5); with --replay: check the "
                                     "first S seconds (default: all of it)")
    d.add_argument("--json", metavar="OUT", nargs="?", const="-", default=None,
                   help="write the checks as JSON to OUT; --json alone prints them on stdout instead of the table")
    d.set_defaults(func=cmd_doctor)

    r = sub.add_parser("train", help="train the twitch/spasm/artifact classifier",
                       description="Train the learned classifier on synthetic recordings across sampling rates "
                                   "(125, 200, 250, 500, 1000 Hz), noise levels and mains, plus labelled real "
                                   "recordings (--real). Deterministic from --seed. The model is saved with skops; "
                                   "use it with `analyze --model` or `stream --model`.")
    r.add_argument("--out", required=True, metavar="MODEL.skops", help="where to write the model")
    r.add_argument("--seed", type=_positive("--seed", allow_low=True, high=2**31, integer=True), default=0,
                   help="seed of everything random (default 0)")
    r.add_argument("--per-rate", type=_positive("--per-rate", high=10000, integer=True), default=None, metavar="N",
                   help="synthetic recordings per sampling rate (default: as many as the shipped model's, 360)")
    r.add_argument("--minutes", type=_positive("--minutes", high=60), default=3.0, metavar="M",
                   help="length of each synthetic recording (default 3)")
    r.add_argument("--real", metavar="DIR", default=None,
                   help="folder with the labelled real recordings (twitchwatch's shared/recordings/real)")
    r.add_argument("--jobs", type=_positive("--jobs", high=256, integer=True), default=None, metavar="N",
                   help="processes for simulating (default: one per core)")
    r.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    r.set_defaults(func=cmd_train)

    lg = sub.add_parser("log", help="log a context tag (caffeine, sleep, stress, ...), or list/edit/delete them",
                        description="Context tags for the episode log. `twitchwatch log TAG [VALUE]` logs a tag "
                                    "(a point in time covers its whole day; --from/--to an interval): caffeine "
                                    "200mg|2cups, sleep 6.5h, stress 0-10, exercise [KIND], medication NAME, alcohol "
                                    "[DRINKS], hydration 1.5L, weakness|numbness|tingling|pain|cramps [0-10], "
                                    "potassium|calcium|magnesium VALUE (mmol/L, flagged against the reference range), "
                                    "note TEXT. Also: `log list`, `log edit ID [VALUE] [--at ...] [--note ...]`, "
                                    "`log delete ID`, `log import DIARY.csv` (columns tag,value,at,from,to,note), "
                                    "`log export FOLDER` (episodes.csv and tags.csv).")
    lg.add_argument("words", nargs="+", metavar="TAG [VALUE]", help="a tag and its value, or an action")
    lg.add_argument("--at", metavar="TIME", default=None, help="when: 2026-11-20 or 2026-11-20T08:00 (default now)")
    lg.add_argument("--from", dest="start", metavar="TIME", default=None, help="start of an interval")
    lg.add_argument("--to", dest="end", metavar="TIME", default=None, help="end of an interval")
    lg.add_argument("--note", metavar="TEXT", default=None, help="a free-text note")
    lg.add_argument("--db", metavar="PATH", default=None, help="the episode log (default as for analyze)")
    lg.set_defaults(func=cmd_log)

    rp = sub.add_parser("report", help="twitch rates by day, region and tag, with 'worth a doctor's look' flags",
                        description="What the episode log says: twitch rate per recorded hour by day, body region "
                                    "and week, rate ratios with and without each tag (95%% confidence intervals), "
                                    "spasms, and patterns worth a doctor's look. Not a diagnosis.")
    rp.add_argument("--db", metavar="PATH", default=None, help="the episode log (default as for analyze)")
    rp.add_argument("--json", metavar="OUT", default=None, help="write the whole report as JSON")
    rp.add_argument("--html", metavar="OUT.html", default=None, help="write a self-contained HTML report with plots")
    rp.set_defaults(func=cmd_report)

    return p


def _os_message(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else ""
    why = exc.strerror or str(exc)
    return f"{name}: {why}" if name else why


def main(argv: Sequence[str] | None = None) -> int:
    keep_temporaries()
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        if extra:
            raise UserError(f"unrecognized arguments: {' '.join(extra)}")
        return int(args.func(args) or 0)
    except UserError as exc:
        msg = str(exc).replace("\n", " ")
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
