"""``python -m fedlab validate NOTEBOOK``: run a notebook as the grader does, and say plainly what went wrong.

nbgrader's own ``validate`` judges only the graded cells: it prints "Success!" when a cell was
stopped for taking too long, and after it the plot cells had nothing to draw. This runs nbgrader's
validation (quick mode, each cell limited to :data:`CELL_TIMEOUT_S` as in grading) and then looks at
every cell: a failed test, a failed check, a cell stopped at the time limit or any other error makes
it exit non-zero with one line per problem. Used by students before they submit (README, "For students").
"""
import sys
import time
from datetime import datetime
from pathlib import Path

CELL_TIMEOUT_S = 60  # nbgrader's limit per cell when it grades (nbgrader_config.py reads it from here)
CELL_BUDGET_S = 10   # what each cell should need in quick mode on an idle 2-core machine
TIMEOUT_ERRORS = ("CellTimeoutError", "KeyboardInterrupt", "DeadKernelError")


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _seconds(cell) -> float:
    """How long an executed cell ran (nbclient's timing metadata), 0 if unknown."""
    run = cell.get("metadata", {}).get("execution", {})
    try:
        start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
    except (KeyError, ValueError):
        return 0.0
    return (end - start).total_seconds()


def _what(index, cell) -> str:
    """A cell as a student finds it: its grade id if it has one, else its number and first line."""
    name = _nbgrader(cell).get("grade_id")
    first = next((line.strip() for line in cell.source.splitlines() if line.strip() and not line.startswith("#")),
                 "")
    return f"cell {index}" + (f" ({name})" if name else f" ({first[:50]})" if first else "")


def problems(executed, timeout_s: int = CELL_TIMEOUT_S) -> list:
    """One line per problem in an executed notebook: failed tests and checks, cells stopped at the limit, errors."""
    found = []
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code":
            continue
        meta = _nbgrader(cell)
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.ename in TIMEOUT_ERRORS:
                found.append(f"{_what(index, cell)} was stopped: it did not finish within {timeout_s} s, the "
                             f"grader's limit; cells after it that need its results fail too")
                break
            message = (out.evalue or "").strip().splitlines()
            detail = f"{out.ename}: {message[0] if message else ''}".rstrip(": ")
            if meta.get("grade") and not meta.get("solution"):
                kind = f"test {meta.get('grade_id')} ({meta.get('points', 0):g} points) failed"
            elif "fedlab.checks.check_" in cell.source:
                kind = f"check {_what(index, cell)} failed"
            else:
                kind = f"{_what(index, cell)} raised an error"
            found.append(f"{kind}: {detail}")
            break
    return found


def validate(path, timeout_s: int = CELL_TIMEOUT_S):
    """nbgrader's validation of ``path``: ``(problems, slow cells, nbgrader's results)``."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    class Recording(Validator):
        """nbgrader's Validator, keeping the executed notebook so every cell can be looked at."""

        def _preprocess(self, nb):
            self.executed = super()._preprocess(nb)
            return self.executed

    config = Config()
    config.Execute.timeout = timeout_s
    validator = Recording(config=config)
    validator.executed = None
    results = validator.validate(str(Path(path).resolve()))
    found = []
    for cell in results.get("type_changed", []):
        found.append(f"a cell's type was changed from {cell['old_type']} to {cell['new_type']}; change it back: "
                     f"{cell['source'][:60]!r}")
    for cell in results.get("changed", []):
        found.append(f"a locked cell (a given cell or a test) was edited; undo the edit: {cell['source'][:60]!r}")
    slow = []
    if validator.executed is not None:
        found += problems(validator.executed, timeout_s)
        slow = sorted(((_seconds(c), i, c) for i, c in enumerate(validator.executed.cells) if c.cell_type == "code"),
                      key=lambda t: -t[0])
    return found, slow, results


def main(notebook: str) -> int:
    """Validate ``notebook``, print the verdict; the exit status: 0 when all is well, 1 otherwise."""
    path = Path(notebook)
    if not path.is_file() or path.suffix != ".ipynb":
        print(f"python -m fedlab validate NOTEBOOK: {notebook} is not a notebook file; give the path of your "
              f".ipynb, e.g. python -m fedlab validate fedavg.ipynb")
        return 2
    print(f"fedlab: running {path.name} as the grader does (quick mode, at most {CELL_TIMEOUT_S} s a cell) ...",
          flush=True)
    start = time.monotonic()
    try:
        found, slow, _ = validate(path)
    except Exception as err:  # not a notebook nbgrader can read, or its kernel failed to start
        print(f"fedlab: could not validate {path.name}: {type(err).__name__}: {err}")
        return 1
    wall = time.monotonic() - start
    for seconds, index, cell in slow:
        if seconds >= CELL_BUDGET_S:
            print(f"  slow: {_what(index, cell)} took {seconds:.0f} s (aim for under {CELL_BUDGET_S} s in quick mode)")
    if found:
        print(f"fedlab: {path.name} is NOT ready ({len(found)} problem{'s' if len(found) > 1 else ''}, {wall:.0f} s):")
        for line in found:
            print(f"  - {line}")
        return 1
    print(f"fedlab: {path.name} passed: every test and check passed and every cell finished in time ({wall:.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
