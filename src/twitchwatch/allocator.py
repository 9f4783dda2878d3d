"""Keep the pipeline's chunk-sized temporaries in the heap.

glibc serves every block over 128 KiB-32 MiB (numpy's temporaries for a chunk of a
recording) from fresh mmap pages and hands them back on free, so each temporary pays a
page fault per 4 KiB on first touch: a third to a half of the time of some numpy steps.
With the mmap threshold at 32 MiB and the trim threshold at 1 GiB, freed blocks are
reused instead. Peak memory is what the largest step needs either way. Called by the
command line only (``cli.main``); elsewhere (macOS, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest
TRIM_THRESHOLD = 1 << 30


def keep_temporaries() -> bool:
    """Set glibc's thresholds for this process; False where there is no glibc ``mallopt``."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
