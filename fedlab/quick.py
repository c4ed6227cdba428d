"""Quick mode: the same notebook, far fewer steps.

nbgrader stops a cell after 60 s and CI has minutes, not hours, for a notebook; the course aims
at under 10 s a cell (``benchmarks/notebook_cells.py`` measures it). In quick mode the outermost
loop driven by :func:`fedlab.trange` (rounds, or a lone device's epochs) stops after two steps,
and everything run inside it (a round's local epochs, the batches of ``train`` and ``evaluate``)
after one; outside any such loop ``train`` and ``evaluate`` stop after two batches. Data sizes and
indices are untouched, so student code sees what it would see in a full run.
"""
import os

QUICK_STEPS = 2        # the outermost loop, and train/evaluate called outside any loop
QUICK_INNER_STEPS = 1  # loops and batches inside a quick loop
_announced = False
_depth = 0  # how many quick trange loops are running around the current code


def quick_mode() -> bool:
    """True when ``FEDLAB_QUICK=1`` or nbgrader is executing the notebook (``NBGRADER_EXECUTION``)."""
    global _announced
    on = os.environ.get("FEDLAB_QUICK", "") not in ("", "0") or bool(os.environ.get("NBGRADER_EXECUTION"))
    if on and not _announced:
        _announced = True
        why = "FEDLAB_QUICK" if os.environ.get("FEDLAB_QUICK", "") not in ("", "0") else "NBGRADER_EXECUTION"
        print(f"fedlab: quick mode is on ({why} is set): the outermost loop stops after {QUICK_STEPS} steps, "
              f"loops and batches inside it after {QUICK_INNER_STEPS}; data sizes are unchanged. "
              f"Results are not meaningful.")
    return on


def limit(n: int) -> int:
    """How many of ``n`` steps to run: all of them, or, in quick mode, 2 (1 inside a quick loop)."""
    if not quick_mode():
        return n
    return min(n, QUICK_STEPS if _depth == 0 else QUICK_INNER_STEPS)


def loop(steps: int):
    """``range(steps)``, counted as a quick loop while it runs (used by :func:`fedlab.trange`)."""
    global _depth
    _depth += 1
    try:
        yield from range(steps)
    finally:
        _depth -= 1
