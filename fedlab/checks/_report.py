"""How every check speaks: one success line on stdout, or an AssertionError that teaches.

A failing check says which input it used, what it expected and what came back, so the
student can reproduce the case in a cell of their own. Nothing goes to stderr (nbgrader
zeroes cells that write there).
"""


def fail(task: str, used: str, expected, got, hint: str = "") -> None:
    """Raise the teaching AssertionError for ``task``."""
    lines = [f"{task} is not right yet.", f"  input used: {used}", f"  expected:   {expected}", f"  got:        {got}"]
    if hint:
        lines.append(f"  hint:       {hint}")
    raise AssertionError("\n".join(lines))


def passed(task: str, what: str) -> None:
    """Print the one success line of a check."""
    print(f"PASSED {task}: {what}")


def call(task: str, fn, used: str, *args, **kwargs):
    """Call the student's ``fn``; an exception inside it becomes a teaching failure that names the input."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # the student's code raised: report it with the input that triggered it
        raise AssertionError(f"{task} raised {type(err).__name__}: {err}\n  input used: {used}") from err
