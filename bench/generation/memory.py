"""Peak memory of a case: the CUDA allocator's and the driver's counters, or the process's RSS.

``peak GB`` (10^9 bytes): on CUDA ``torch.cuda.max_memory_allocated`` over the case's generations
(reset at the case's start, so it includes the weights); on the CPU the process's peak RSS
(``VmHWM``, reset per case) above its RSS before the model was loaded. ``dev GB``: CUDA only,
device memory in use after the case less the free memory before the load
(``torch.cuda.mem_get_info``).
"""

from __future__ import annotations

import gc

from tests.memory import peak_bytes, reset_peak, rss_bytes

__all__ = ["GB", "Memory", "release_memory"]

GB = 1e9


class Memory:
    """Peak memory of a case: CUDA allocator and driver counters, or process RSS on the CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.device = device
        self.before_load = 0

    def start_precision(self) -> None:
        """Call before loading the model: the baseline the case's peaks are measured from."""
        release_memory()
        if self.cuda:
            import torch

            self.before_load, _total = torch.cuda.mem_get_info(torch.device(self.device))
        else:
            self.before_load = rss_bytes()

    def start_case(self) -> None:
        release_memory()
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(torch.device(self.device))
        else:
            reset_peak()

    def end_case(self) -> tuple[float, float | None]:
        """(peak GB, device GB in use or None): see the module docstring."""
        if self.cuda:
            import torch

            dev = torch.device(self.device)
            torch.cuda.synchronize(dev)
            peak = torch.cuda.max_memory_allocated(dev)
            free, _total = torch.cuda.mem_get_info(dev)
            return peak / GB, (self.before_load - free) / GB
        return max(0, peak_bytes() - self.before_load) / GB, None


def release_memory() -> None:
    """A collection pass, then PyTorch's cached GPU blocks back to the driver."""
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
