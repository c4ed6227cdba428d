"""``python -m fedlab validate NOTEBOOK`` runs nbgrader's validation and fails loudly where nbgrader says Success.

Small notebooks with nbgrader metadata, validated by the real nbgrader in a real kernel: one that
passes, one whose test and check fail and whose plain cell raises, and one whose ungraded cell runs
past the time limit (nbgrader's own validation passes that one). tests/test_assignments.py validates
the assignments' solutions and untouched releases the same way.
"""
import os
import subprocess
import sys
from pathlib import Path

import nbformat

from fedlab import validate

ROOT = Path(__file__).resolve().parents[1]


def cell(source, **nbgrader):
    made = nbformat.v4.new_code_cell(source)
    if nbgrader:
        made.metadata["nbgrader"] = dict({"grade": False, "locked": True, "points": 0, "schema_version": 3,
                                          "solution": False, "task": False}, **nbgrader)
    return made


def notebook(tmp_path, name, *cells):
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def run_cli(path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), FEDLAB_DATA="synthetic")
    return subprocess.run([sys.executable, "-m", "fedlab", "validate", str(path)], cwd=path.parent, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_notebook_whose_tests_pass_exits_0(tmp_path):
    path = notebook(tmp_path, "good.ipynb", cell("def double(x):\n    return 2 * x"),
                    cell("assert double(2) == 4", grade=True, grade_id="test_double", points=2))
    done = run_cli(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "good.ipynb passed" in done.stdout


def test_a_failing_test_a_failing_check_and_an_error_exit_1_and_are_named(tmp_path):
    path = notebook(tmp_path, "bad.ipynb", cell("def double(x):\n    return x + 1"),
                    cell("fedlab = None  # a check in the notebook's style\n"
                         "def check():\n    raise AssertionError('double is not right yet')\n"
                         "check()  # fedlab.checks.check_double(double)"),
                    cell("assert double(3) == 6, 'double(3): expected 6'", grade=True, grade_id="test_double",
                         points=2),
                    cell("print(undefined_name)"))
    done = run_cli(path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "bad.ipynb is NOT ready (3 problems" in out
    assert "test test_double (2 points) failed: AssertionError: double(3): expected 6" in out
    assert "check cell 1" in out and "double is not right yet" in out
    assert "cell 3 (print(undefined_name)) raised an error: NameError" in out


def test_a_cell_past_the_time_limit_fails_although_nbgrader_passes_it(tmp_path):
    path = notebook(tmp_path, "slow.ipynb", cell("import time\ntime.sleep(60)"),
                    cell("assert True", grade=True, grade_id="test_nothing", points=1))
    found, _, results = validate.validate(path, timeout_s=3)
    assert results == {}  # nbgrader alone: no failed test, "Success!"
    assert len(found) == 1 and "cell 0 (import time) was stopped: it did not finish within 3 s" in found[0]


def test_a_path_that_is_no_notebook_is_named(tmp_path, capsys):
    assert validate.main(str(tmp_path / "missing.ipynb")) == 2
    assert "is not a notebook file" in capsys.readouterr().out


def test_the_grader_and_the_command_share_one_time_limit():
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.Execute.timeout == validate.CELL_TIMEOUT_S
