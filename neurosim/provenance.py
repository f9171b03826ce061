"""The settings a recorded result depends on, written beside it so that every number in the docs
can be traced to a run and repeated: seed, torch thread count, library versions, machine."""

from __future__ import annotations

import os
import platform
import sys
from typing import Dict, Optional

import numpy as np
import torch


def set_threads(threads: Optional[int]) -> int:
    """Sets torch's CPU thread count (None keeps torch's choice) and returns the count in use.
    Results of multi-threaded float reductions can depend on it, so examples fix it."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads: expected a positive int, got {threads!r}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def run_settings(seed=None, **extra) -> Dict:
    """seed, torch threads, versions of Python/torch/NumPy/neurosim, backends and the machine."""
    import neurosim

    settings = {
        "seed": seed,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "neurosim": neurosim.__version__,
        "backends": list(neurosim.backends()),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(),
        "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]) if sys.argv and sys.argv[0] else None,
    }
    settings.update(extra)
    return settings


def announce(seed, threads: Optional[int] = None, out=print) -> Dict:
    """Sets the thread count, prints the seed and thread count in one line, returns the settings."""
    set_threads(threads)
    settings = run_settings(seed)
    out(f"settings: seed {seed}, {settings['threads']} torch thread(s), torch {settings['torch']}, "
        f"neurosim {settings['neurosim']}")
    return settings
