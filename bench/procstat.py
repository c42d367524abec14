"""What the benchmarks read from /proc: resident memory of a process."""

from __future__ import annotations


def rss_kib(pid: int | str = "self") -> int:
    """VmRSS of process ``pid`` (this one by default) in KiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
