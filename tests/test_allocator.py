"""allocator: freed chunk-sized temporaries are reused, not faulted in afresh."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import resource, sys
import numpy as np
from twitchwatch.allocator import keep_temporaries
if sys.argv[1] == "tuned":
    assert keep_temporaries()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a chunk's temporaries: several at once, then all freed
    a = np.ones(500_000)  # 4 MB each, touched
    b = a + 1.0
    c = a * b
    del a, b, c
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_temporaries_are_reused_after_keep_temporaries():
    """Twenty rounds of three 4 MB temporaries, touched and freed: by default glibc gives
    the freed memory back each round and the next round faults it in afresh (about 3,000
    faults a round); tuned, the first round's pages serve the rest."""
    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
        return int(out.stdout)

    default, tuned = faults("default"), faults("tuned")
    assert default > 10 * 3000, default
    assert tuned < 2 * 3000, tuned


def test_cli_main_tunes_and_still_runs(tmp_path):
    """The command line calls it first thing; a bad option still gives exit status 2."""
    from twitchwatch.cli import main

    assert main(["analyze", str(tmp_path / "missing.bdf")]) == 2
