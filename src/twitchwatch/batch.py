"""Many recordings at once: one by one, in a local process pool, or on a Dask cluster.

All three modes run the same module-level worker, ``analyze_one(path, options)``, which
opens and analyses one recording and returns a picklable ``Result`` (never raises for a
bad recording). Results arrive in any order; ``Batch.run`` hands them back in input order,
so everything written from them (events JSON names, summary rows, the episode log, which
the parent process alone writes) is the same whichever mode ran them.

A worker process that dies takes no other recording with it: a broken process pool is
replaced, the recordings it was running are tried again one at a time, and the one that
kills its worker again is reported as failed. On Dask, the scheduler retries a task whose
worker died and then gives it up (``KilledWorker``), which is reported the same way.
"""
from __future__ import annotations

import datetime as dt
import logging
import signal
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

from .errors import RecordingError, UserError
from .types import Episode

CONNECT_TIMEOUT_S = 5.0
LOCAL_WORKERS = 2


@dataclass(frozen=True)
class Options:
    """What every worker needs to know besides the path (the analyze options)."""

    board: str | None = None
    fs: float | None = None
    columns: str | None = None
    mains: str = "auto"
    model: str | None = None
    waveforms: bool = True  # snippets for the episode log; not needed with --no-log


@dataclass
class RecordingInfo:
    """What the parent needs of a recording it never opened (duck-types Recording for tables)."""

    fs: float
    channels: tuple[str, ...]
    duration_s: float
    start_time: dt.datetime | None
    format: str

    @property
    def n_channels(self) -> int:
        return len(self.channels)


@dataclass
class Result:
    """One recording's outcome. ``error`` is a one-line message naming the file ('' if it
    worked); ``unreadable`` says the file is not a recording twitchwatch reads."""

    path: str
    error: str = ""
    unreadable: bool = False
    warnings: list[str] = field(default_factory=list)
    info: RecordingInfo | None = None
    episodes: list[Episode] = field(default_factory=list)
    waveforms: dict[int, dict] = field(default_factory=dict)
    doc: dict | None = None


def analyze_one(path: str, options: Options) -> Result:
    """Open and analyse one recording; failures come back in the result, not as exceptions."""
    from .classify import make_classifier
    from .formats import open_recording
    from .pipeline import MAINS, analyze
    from .quality import SignalStats, signal_warnings, snippets
    from .report_json import events_doc

    result = Result(path)
    try:
        rec = open_recording(path, board=options.board, fs=options.fs, columns=options.columns)
    except RecordingError as exc:
        result.error, result.unreadable = str(exc), True
        return result
    except Exception as exc:  # a bug in a reader: report it, let the other recordings go on
        result.error = _internal(path, exc)
        return result
    try:
        stats = SignalStats(rec.n_channels)
        episodes = analyze(rec, mains_hz=MAINS[options.mains], classifier=make_classifier(options.model, rec.fs),
                           tap=stats.add)
        result.warnings = ([f"{path}: {w}" for w in rec.meta.get("warnings", [])]
                           + signal_warnings(stats, rec.channels, path))
        result.info = RecordingInfo(rec.fs, tuple(rec.channels), rec.duration_s, rec.start_time,
                                    str(rec.meta.get("format", "?")))
        result.episodes, result.doc = episodes, events_doc(rec, episodes)
        if options.waveforms:
            result.waveforms = snippets(rec, episodes)
    except UserError as exc:
        result.error = f"{path}: {exc}"
    except Exception as exc:
        result.error = _internal(path, exc)
    return result


def _internal(path: str, exc: BaseException) -> str:
    return f"{path}: internal error ({type(exc).__name__}: {exc}); please report it".replace("\n", " ")


def _died(path: str, why: str) -> Result:
    return Result(path, error=f"{path}: the worker process analysing it died ({why})")


def _pool_worker_init() -> None:
    """Ctrl-C is the parent's to handle; one compute thread per process (the pool is the parallelism)."""
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)


def _pool_context():
    """forkserver where there is one (workers fork from a process that has imported the
    pipeline once, not each importing it; plain fork is unsafe beside the progress bar's
    thread), else spawn. (multiprocessing and concurrent.futures are imported where a pool
    is made: a single analysis, which only needs this module's helpers, starts 20 ms sooner.)"""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, "twitchwatch.formats", "twitchwatch.pipeline",
                                    "twitchwatch.report_json"])
        return ctx
    return multiprocessing.get_context("spawn")


class Batch:
    """Where recordings are analysed: ``jobs`` local processes (1: here, one by one), or a
    Dask cluster at ``scheduler`` ('local': a LocalCluster of ``jobs`` workers, default 2).
    Use as a context manager: entering connects to (or starts) the cluster."""

    def __init__(self, jobs: int | None = None, scheduler: str | None = None,
                 work: Callable[[str, Options], Result] = analyze_one):
        if scheduler is not None and scheduler != "local" and jobs is not None:
            raise UserError(f"--jobs {jobs}: the cluster at --scheduler {scheduler} has its own workers; "
                            "drop --jobs (or use --scheduler local)")
        self.jobs, self.scheduler, self.work = jobs, scheduler, work
        self.client = self.cluster = None

    def __enter__(self) -> "Batch":
        if self.scheduler is None:
            return self
        from distributed import Client, LocalCluster

        if self.scheduler == "local":
            # workers start with Ctrl-C ignored (inherited): the parent shuts them down, quietly
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.cluster = LocalCluster(n_workers=self.jobs or LOCAL_WORKERS, threads_per_worker=1,
                                            processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL)
            finally:
                signal.signal(signal.SIGINT, previous)
            self.client = Client(self.cluster)
            return self
        try:
            self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:
            raise UserError(f"--scheduler {self.scheduler}: cannot connect to a Dask scheduler there "
                            f"({type(exc).__name__}: {exc}); start one (dask scheduler) or use "
                            "--scheduler local") from None
        return self

    def __exit__(self, *exc) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                part.close()

    def run(self, paths: list[str], options: Options, done: Callable[[], None] | None = None) -> Iterator[Result]:
        """Each path's Result, in the order of ``paths``; ``done()`` as each one finishes."""
        jobs = min(self.jobs or 1, len(paths))
        if self.client is not None:
            finished = self._on_dask(paths, options)
        elif jobs > 1:
            finished = self._in_pool(paths, options, jobs)
        else:
            finished = ((i, self.work(p, options)) for i, p in enumerate(paths))
        ready: dict[int, Result] = {}
        nxt = 0
        for i, result in finished:
            if done is not None:
                done()
            ready[i] = result
            while nxt in ready:
                yield ready.pop(nxt)
                nxt += 1

    def _in_pool(self, paths: list[str], options: Options, jobs: int) -> Iterator[tuple[int, Result]]:
        """(index, result) as they finish, at most ``jobs`` at a time. A pool that breaks
        (a worker died) is replaced; what it was running is tried again alone."""
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        todo, suspects = deque(range(len(paths))), deque()
        ctx = _pool_context()
        while todo or suspects:
            source, width = (suspects, 1) if suspects else (todo, min(jobs, len(todo)))
            pool = ProcessPoolExecutor(width, mp_context=ctx, initializer=_pool_worker_init)
            running: dict = {}
            broken = False
            try:
                while source or running:
                    while source and len(running) < width and not broken:
                        i = source[0]
                        try:
                            running[pool.submit(self.work, paths[i], options)] = i
                        except BrokenProcessPool:
                            broken = True
                            break
                        source.popleft()
                    if not running:
                        break
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for f in finished:
                        i = running.pop(f)
                        exc = f.exception()
                        if isinstance(exc, BrokenProcessPool):
                            broken = True
                            if width == 1:  # it ran alone: it is the one that kills its worker
                                yield i, _died(paths[i], "killed or crashed")
                            else:
                                suspects.append(i)
                        elif exc is not None:
                            yield i, Result(paths[i], error=_internal(paths[i], exc))
                        else:
                            yield i, f.result()
            except BaseException:
                _kill(pool)
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _on_dask(self, paths: list[str], options: Options) -> Iterator[tuple[int, Result]]:
        """(index, result) as the cluster finishes them."""
        from distributed import KilledWorker, as_completed

        futures = {self.client.submit(self.work, p, options, pure=False): i for i, p in enumerate(paths)}
        try:
            for f in as_completed(futures):
                i = futures[f]
                if f.status == "finished":
                    yield i, f.result()
                else:
                    exc = f.exception()
                    yield i, (_died(paths[i], "Dask gave up on it after it killed its workers: KilledWorker")
                              if isinstance(exc, KilledWorker) else
                              Result(paths[i], error=f"{paths[i]}: the Dask cluster could not analyse it "
                                                     f"({type(exc).__name__}: {exc})".replace("\n", " ")))
                f.release()
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:  # the caller stopped early (an error, Ctrl-C)
                self.client.cancel(pending)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (on Ctrl-C or an error in the parent), not after their
    recording (Python 3.14 has ProcessPoolExecutor.terminate_workers() for this)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()

