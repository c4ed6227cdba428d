"""Where computation runs, in which precision, and how a run is made repeatable.

The original course hard-coded ``.cuda()`` and mixed an unseeded numpy generator with
Python's ``random``; both made runs machine-specific or unrepeatable.
"""
import contextlib
import os
import random

import numpy as np
import torch


def compute_device() -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA) from one call."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__}); pass e.g. seed_everything(0)")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


PRECISIONS = ("fp32", "bf16")
_precision = None  # set by set_precision; None: FEDLAB_PRECISION, else fp32


def set_precision(precision: str) -> None:
    """Train in ``"fp32"`` (the default) or ``"bf16"`` (autocast, on CUDA only) from now on.

    Overrides ``FEDLAB_PRECISION``. CPU and MPS runs stay in fp32 whatever is set, so their
    results do not change; used by ``fedlab.train`` and ``fedlab.train_round``.
    """
    global _precision
    _precision = _checked_precision(precision, f"set_precision({precision!r})")


def precision() -> str:
    """The training precision: what ``set_precision`` set, else ``FEDLAB_PRECISION``, else ``"fp32"``."""
    if _precision is not None:
        return _precision
    setting = os.environ.get("FEDLAB_PRECISION", "").strip().lower() or "fp32"
    return _checked_precision(setting, f"FEDLAB_PRECISION={setting!r}")


def _checked_precision(precision, where):
    if precision not in PRECISIONS:
        raise ValueError(f"{where}: the precision must be one of {', '.join(map(repr, PRECISIONS))}, e.g. "
                         f"fedlab.set_precision('bf16') on a recent NVIDIA GPU, or 'fp32' (the default)")
    return precision


def autocast(target: torch.device):
    """The context a training step's forward pass runs in: bf16 autocast on CUDA when asked, else nothing."""
    if precision() != "bf16" or target.type != "cuda":
        return contextlib.nullcontext()
    if not torch.cuda.is_bf16_supported():
        raise RuntimeError(f"precision 'bf16' needs a GPU with bfloat16 support; {torch.cuda.get_device_name(target)} "
                           f"has none: call fedlab.set_precision('fp32') or unset FEDLAB_PRECISION")
    return torch.autocast("cuda", dtype=torch.bfloat16)
