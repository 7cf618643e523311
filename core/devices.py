"""Where torch runs: the device a config asks for, and how many CPU threads a process uses.

Thread counts are process-wide, so only entry points set them (the CLI's ``train``, a job, the
dashboard, the benchmark): two torch processes that each use every core of a small machine run
far slower than either alone.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from core.config import ConfigError

if TYPE_CHECKING:  # torch is imported by the functions that use it: a page without a model needs none
    import torch


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_threads(count: int | None) -> int:
    """Set torch's CPU threads for this process (None: every core it may use); return the count."""
    import torch

    count = count or available_cores()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; an unavailable choice is an error."""
    import torch

    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ConfigError(f"device {name!r} is not available on this machine; use --device auto or cpu")
    return torch.device(name)
