"""Progress bars for rounds and epochs that respect quick mode and never touch stderr.

nbgrader zeroes a graded cell that writes to stderr (plain tqdm does), and nbval compares
outputs, so the bar writes to stdout and, in quick mode, shows counts without timings.
"""
import sys

from . import quick


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def trange(n: int, desc: str = "", **kwargs):
    """Like ``range(n)`` with a progress bar; in quick mode one step and no bar."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"trange(n): n must be a non-negative int, got {n!r}")
    steps = quick.limit(n, loop=True)
    if quick.quick_mode():
        # no bar: one fixed line, so outputs repeat exactly from run to run
        print(f"{desc or 'steps'}: {steps} of {n} (quick mode)")
        return quick.loop(steps)
    if _in_notebook():
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
        kwargs.setdefault("file", sys.stdout)
    return tqdm(range(steps), desc=desc, total=steps, **kwargs)
