"""Checks students run on their own functions: fixed expected values and properties, never a reference solution.

Each ``check_*`` takes the student's function (``check_test_group`` also the notebook's test set),
prints one ``PASSED`` line when all is well, and otherwise raises an AssertionError that names
the input, the expected and the actual result. The hidden grading tests live in the source notebooks, not here.
"""
from .fedavg import *  # noqa: F401,F403
from .live import *  # noqa: F401,F403
from .malicious import *  # noqa: F401,F403
from .noniid import *  # noqa: F401,F403
from .quantization import *  # noqa: F401,F403
