"""Assignments 03 and 04 through nbgrader's own validator, and their released student versions.

The same proofs as for 01 and 02 (tests/test_assignments_0102.py, whose notebook helpers this
file uses): validating a solution passes every autograded test; validating the untouched release
fails every one of them and still runs to its last cell; the release holds stubs and no solution
or hidden test; hidden tests use their own comparisons. Each graded test cell, run on its own,
passes the right answers of tests/test_checks_quantization.py and tests/test_checks_malicious.py
and fails their wrong ones, also when every fedlab check has been rebound to pass.
"""
from pathlib import Path

import nbformat
import pytest

from test_assignments import STUB_ERRORS, errors, is_autograded_test, marked_blocks, nbgrader_meta, validate

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = {"03_quantization": ("quantization.ipynb", 25), "04_malicious": ("malicious.ipynb", 20)}
# the points of each section, as the notebook's headings give them
SECTIONS = {"03_quantization": {"3.1": 5, "3.2": 10, "3.3": 10}, "04_malicious": {"4.1": 10, "4.2": 10}}


def source_path(assignment):
    return ROOT / "solutions" / assignment / ASSIGNMENTS[assignment][0]


def release_path(assignment):
    return ROOT / "notebooks" / assignment / ASSIGNMENTS[assignment][0]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validating_the_solution_passes_every_test(assignment, tmp_path, monkeypatch):
    found, results, slow = validate(source_path(assignment), tmp_path, monkeypatch)
    assert found == [] and results == {}, (found, results)
    executed = [cell for _, _, cell in sorted(slow, key=lambda t: t[1])]
    tests = [cell for cell in executed if is_autograded_test(cell)]
    assert tests and all(not errors(cell) for cell in tests)
    checks = [cell for cell in executed if "fedlab.checks.check_" in cell.source]
    assert checks and all(cell.outputs[0].text.startswith("PASSED ") for cell in checks)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validating_the_untouched_release_fails_every_test_and_runs_to_the_end(assignment, tmp_path, monkeypatch):
    found, results, slow = validate(release_path(assignment), tmp_path, monkeypatch)
    executed = [cell for _, _, cell in sorted(slow, key=lambda t: t[1])]
    failed = {entry["source"] for entry in results["failed"]}
    tests = [cell for cell in executed if is_autograded_test(cell)]
    assert tests
    for cell in tests:
        assert cell.source.strip() in failed, cell.source
        assert set(errors(cell)) <= STUB_ERRORS and errors(cell), (cell.source, errors(cell))
    assert all(cell.execution_count for cell in executed if cell.cell_type == "code")
    last = executed[-1]  # the last code cell
    assert not errors(last) and "wall time" in "".join(out.get("text", "") for out in last.outputs)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_holds_stubs_and_no_solution_or_hidden_test(assignment):
    source = nbformat.read(source_path(assignment), as_version=4)
    release = nbformat.read(release_path(assignment), as_version=4)
    released = {nbgrader_meta(c).get("grade_id"): c for c in release.cells if nbgrader_meta(c)}
    graded = [(nbgrader_meta(c)["grade_id"], nbgrader_meta(c).get("points")) for c in source.cells if nbgrader_meta(c)]
    assert graded == [(nbgrader_meta(c)["grade_id"], nbgrader_meta(c).get("points"))
                      for c in release.cells if nbgrader_meta(c)]
    assert sum(points or 0 for _, points in graded) == ASSIGNMENTS[assignment][1]

    text = "\n".join(cell.source for cell in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            stub = released[meta["grade_id"]].source
            hidden = cell.source.splitlines() if cell.cell_type == "markdown" else \
                marked_blocks(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
            assert ("YOUR ANSWER HERE" if cell.cell_type == "markdown" else "raise NotImplementedError()") in stub
        else:
            hidden = marked_blocks(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        for line in hidden:
            if len(line) > 12:
                assert line not in text, f"{meta.get('grade_id')}: {line}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_section_headings_add_up_to_the_graded_points(assignment):
    """Each '## N.M ... (P points)' heading gives P, the sum of the graded cells up to the next heading."""
    import re
    cells = nbformat.read(source_path(assignment), as_version=4).cells
    points, section = {}, None
    for cell in cells:
        heading = re.match(r"## (\d\.\d) .*\((\d+) points\)", cell.source) if cell.cell_type == "markdown" else None
        if heading:
            section = heading.group(1)
            assert int(heading.group(2)) == SECTIONS[assignment][section], cell.source.splitlines()[0]
            points[section] = 0
        elif nbgrader_meta(cell).get("grade") and section:
            points[section] += nbgrader_meta(cell)["points"]
    assert points == SECTIONS[assignment]
    assert f"({ASSIGNMENTS[assignment][1]} points)" in cells[0].source.splitlines()[0]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_use_their_own_comparisons(assignment):
    """A student who rebinds a fedlab check or a numpy/torch assert helper must not pass a hidden test."""
    source = nbformat.read(source_path(assignment), as_version=4)
    hidden = [marked_blocks(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
              for cell in source.cells if is_autograded_test(cell)]
    assert hidden and all(hidden)
    for block in hidden:
        for helper in ("fedlab.checks", "np.testing", "numpy.testing", "torch.testing", "assert_close",
                       "torch.allclose", "torch.isclose"):
            assert not any(helper in line for line in block), helper


# ---------------------------------------------------------------- the graded test cells judge answers like the checks

@pytest.fixture(scope="module")
def notebook_globals(cifar10):
    """What the notebooks' setup cells define, for running a graded test cell on its own."""
    import random
    import time
    from collections import OrderedDict

    import numpy as np
    import torch

    import fedlab

    trainset, testset = cifar10
    return dict(fedlab=fedlab, np=np, torch=torch, random=random, time=time, OrderedDict=OrderedDict,
                trainset=trainset, testset=testset)


def graded_cell(assignment, grade_id):
    cells = nbformat.read(source_path(assignment), as_version=4).cells
    return next(cell.source for cell in cells if nbgrader_meta(cell).get("grade_id") == grade_id)


def variants():
    """(assignment, test cell, function name, answer, whether it is right) for the checks' variants."""
    import test_checks_malicious as malicious
    import test_checks_quantization as quantization
    table = [("03_quantization", "test_quantizer", "quantizer", quantization.Q_CORRECT, quantization.Q_WRONG),
             ("03_quantization", "test_dorefa_g", "dorefa_g", quantization.D_CORRECT, quantization.D_WRONG),
             ("04_malicious", "test_generate_fake_weights", "generate_fake_weights",
              malicious.FAKE_CORRECT, malicious.FAKE_WRONG),
             ("04_malicious", "test_secure_average_weights", "secure_average_weights",
              malicious.SECURE_CORRECT, malicious.SECURE_WRONG)]
    for assignment, cell, name, right, wrong in table:
        for fn in right:
            yield pytest.param(assignment, cell, name, fn, True, id=f"{cell}-{fn.__name__}")
        for fn in wrong:
            yield pytest.param(assignment, cell, name, fn, False, id=f"{cell}-{fn.__name__}")


@pytest.mark.parametrize("assignment, cell, name, answer, right", variants())
def test_graded_cells_pass_right_answers_and_fail_wrong_ones(assignment, cell, name, answer, right,
                                                             notebook_globals, monkeypatch, capsys):
    # a student who made every check pass by rebinding it must gain nothing
    for check in [c for c in dir(notebook_globals["fedlab"].checks) if c.startswith("check_")]:
        monkeypatch.setattr(notebook_globals["fedlab"].checks, check, lambda fn: None)
    namespace = dict(notebook_globals, **{name: answer})
    if right:
        exec(graded_cell(assignment, cell), namespace)
    else:
        # a failure teaches: an assert that says what was used and what is wrong, or the stub's own error
        with pytest.raises((AssertionError, NotImplementedError)) as failure:
            exec(graded_cell(assignment, cell), namespace)
        assert failure.type is NotImplementedError or str(failure.value).strip(), "a graded test failed silently"
    assert capsys.readouterr().err == ""
