"""Quick mode: the same notebook, far fewer steps.

nbgrader stops a cell after 60 s and CI has minutes, not hours, for a notebook; the course aims
at under 10 s a cell (``benchmarks/notebook_cells.py`` measures it). In quick mode every loop
driven by :func:`fedlab.trange` (rounds, a lone device's epochs, a round's local epochs) runs one
step, and ``train`` (on 32 images of each batch) and ``evaluate`` run one batch inside such a
loop or a live client's round (:func:`inside`); outside it they, and other loops (the live
server's rounds), stop after two steps. Data sizes and indices are untouched, so student code
sees what it would see in a full run.
"""
import contextlib
import os
import threading

QUICK_STEPS = 2        # steps of train/evaluate and other loops outside any trange loop
QUICK_INNER_STEPS = 1  # steps of every trange loop, and of anything run inside one
QUICK_TRAIN_IMAGES = 32  # images of a training step (a device's batch is 128): a step costs a quarter
_announced = False
_local = threading.local()  # .depth: how many quick loops run around the current code, in this thread


def quick_mode() -> bool:
    """True when ``FEDLAB_QUICK=1`` or nbgrader is executing the notebook (``NBGRADER_EXECUTION``)."""
    global _announced
    on = os.environ.get("FEDLAB_QUICK", "") not in ("", "0") or bool(os.environ.get("NBGRADER_EXECUTION"))
    if on and not _announced:
        _announced = True
        why = "FEDLAB_QUICK" if os.environ.get("FEDLAB_QUICK", "") not in ("", "0") else "NBGRADER_EXECUTION"
        print(f"fedlab: quick mode is on ({why} is set): every fedlab.trange loop runs {QUICK_INNER_STEPS} step, "
              f"training and testing {QUICK_INNER_STEPS} batch inside it ({QUICK_STEPS} outside), a training "
              f"batch at most {QUICK_TRAIN_IMAGES} images; data sizes are unchanged. Results are not meaningful.")
    return on


def limit(n: int, loop: bool = False) -> int:
    """How many of ``n`` steps to run: all of them, or, in quick mode, 1 for a trange ``loop`` or inside one, else 2."""
    if not quick_mode():
        return n
    return min(n, QUICK_INNER_STEPS if loop or getattr(_local, "depth", 0) else QUICK_STEPS)


def train_images(batch_size: int) -> int:
    """How many images of a ``batch_size`` training batch to use: all, or at most 32 in quick mode."""
    return min(batch_size, QUICK_TRAIN_IMAGES) if quick_mode() else batch_size


@contextlib.contextmanager
def inside():
    """Code in this block counts as inside a quick loop: one batch per train/evaluate (a live round, 05)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def loop(steps: int):
    """``range(steps)``, counted as a quick loop while it runs (used by :func:`fedlab.trange`)."""
    with inside():
        yield from range(steps)
