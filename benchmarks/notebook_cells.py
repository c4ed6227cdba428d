"""The grader's clock: how long each cell of a notebook takes in quick mode, slowest first.

nbgrader stops a cell after 60 s (``fedlab.validate.CELL_TIMEOUT_S``); the course aims at
under 10 s a cell and 60 s a notebook on an idle 2-core machine. This executes each notebook as
the autograder does (quick mode, a fresh kernel in a copy of the notebook's folder) and prints
each code cell's wall time, with the machine's load average so a busy machine is visible.

    .venv/bin/python benchmarks/notebook_cells.py [NOTEBOOK ...]   (default: every solution)
"""
import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from fedlab.validate import CELL_BUDGET_S

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = sorted((ROOT / "solutions").glob("*/*.ipynb"))
NOTEBOOK_BUDGET_S = 60


def cell_times(path: Path):
    """``[(seconds, cell index, first source line)]`` of every code cell, and the notebook's wall time."""
    nb = nbformat.read(path, as_version=4)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / path.name
        shutil.copy(path, work)
        client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": tmp}})
        start = time.perf_counter()
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                began = time.perf_counter()
                client.execute_cell(cell, index)
                first = next((line for line in cell.source.splitlines() if line.strip()), "")
                times.append((time.perf_counter() - began, index, first[:70]))
        total = time.perf_counter() - start
    return times, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=DEFAULT)
    args = parser.parse_args()
    os.environ["FEDLAB_QUICK"] = "1"  # as under nbgrader; kernels inherit it
    os.environ.setdefault("FEDLAB_DATA", "synthetic")
    print(f"{os.cpu_count()} CPUs, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for path in args.notebooks:
        times, total = cell_times(path.resolve())
        over = [t for t in times if t[0] >= CELL_BUDGET_S]
        print(f"\n{path.name}: {total:.1f} s in all (budget {NOTEBOOK_BUDGET_S} s), "
              f"{len(over)} cells at or over {CELL_BUDGET_S} s; load average now "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for seconds, index, first in sorted(times, reverse=True):
            print(f"  {seconds:6.2f} s  cell {index:2d}  {first}")


if __name__ == "__main__":
    main()
