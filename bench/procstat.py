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


def memory_kib(pid: int | str = "self") -> dict:
    """``{"rss", "pss", "uss"}`` of process ``pid`` in KiB, from smaps_rollup (PSS shares
    each page among the processes mapping it; USS counts only this process's own pages).
    Zeros if it is gone."""
    out = {"rss": 0, "pss": 0, "uss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Rss":
                    out["rss"] = int(rest.split()[0])
                elif key == "Pss":
                    out["pss"] = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    out["uss"] += int(rest.split()[0])
    except OSError:
        pass
    return out
