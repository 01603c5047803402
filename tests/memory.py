"""Process memory as Linux reports it, for benchmarks and memory-bound tests.

``reset_peak`` sets the kernel's peak-RSS mark (VmHWM) back to the current RSS, so a peak read
afterwards belongs to what ran since, not to imports or to a parent this process was forked from.
"""

from __future__ import annotations

import os
import resource

__all__ = ["peak_bytes", "reset_peak", "rss_bytes"]


def rss_bytes() -> int:
    """The resident set size now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_bytes() -> int:
    """The peak resident set size since start or since the last :func:`reset_peak`."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
