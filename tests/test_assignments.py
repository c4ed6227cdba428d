"""The assignments through ``python -m fedlab validate`` (nbgrader's validator), and their released versions.

Validating a solution notebook of 01-04 must pass every autograded test; validating the
untouched student notebook must fail every one of them (each stub raises) while the rest of the
notebook still runs to its last cell, and the command must name them. The released notebooks must
hold stubs and none of the solution text, and their section headings must add up to the total; no
notebook holds hidden tests (they live in course/judges, tests/test_judges.py). Notebooks run in
quick mode on a copy in a temporary folder. Each graded test cell, run on its own, passes the right
answers of tests/test_checks_*.py (their wrong ones fail its check there and its judge).
"""
import os
import re
import shutil
import traceback
from pathlib import Path

import nbformat
import pytest

from fedlab import validate as fedlab_validate

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = {"01_fedavg": ("fedavg.ipynb", 25), "02_noniid": ("noniid.ipynb", 30),
               "03_quantization": ("quantization.ipynb", 25), "04_malicious": ("malicious.ipynb", 20),
               "05_live": ("live.ipynb", 20)}
# 05 starts a live federation: tests/test_live.py and the demo class run it
VALIDATED = ["01_fedavg", "02_noniid", "03_quantization", "04_malicious"]
STUB_ERRORS = {"NotImplementedError", "NameError"}  # a stub raises; code after it misses its results


def source_path(assignment):
    return ROOT / "solutions" / assignment / ASSIGNMENTS[assignment][0]


def release_path(assignment):
    return ROOT / "notebooks" / assignment / ASSIGNMENTS[assignment][0]


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def is_autograded_test(cell):
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def validate(path, tmp_path, monkeypatch):
    """``python -m fedlab validate``'s look at a copy of ``path``: (problems, nbgrader's results, executed notebook)."""
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    monkeypatch.setenv("FEDLAB_DATA", os.environ.get("FEDLAB_DATA", "synthetic"))
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    found, slow, results = fedlab_validate.validate(copy)
    return found, results, slow


def errors(cell):
    return [out.ename for out in cell.get("outputs", []) if out.output_type == "error"]


@pytest.mark.parametrize("assignment", VALIDATED)
def test_validating_the_solution_passes_every_test(assignment, tmp_path, monkeypatch):
    found, results, slow = validate(source_path(assignment), tmp_path, monkeypatch)
    assert found == [] and results == {}, (found, results)
    executed = [cell for _, _, cell in sorted(slow, key=lambda t: t[1])]
    tests = [cell for cell in executed if is_autograded_test(cell)]
    assert tests and all(not errors(cell) for cell in tests)
    checks = [cell for cell in executed if "fedlab.checks.check_" in cell.source]
    assert checks and all(cell.outputs[0].text.startswith("PASSED ") for cell in checks)


@pytest.mark.parametrize("assignment", VALIDATED)
def test_validating_the_untouched_release_fails_every_test_and_runs_to_the_end(assignment, tmp_path, monkeypatch):
    found, results, slow = validate(release_path(assignment), tmp_path, monkeypatch)
    executed = [cell for _, _, cell in sorted(slow, key=lambda t: t[1])]
    failed = {entry["source"] for entry in results["failed"]}
    tests = [cell for cell in executed if is_autograded_test(cell)]
    assert tests
    for cell in tests:
        assert cell.source.strip() in failed, cell.source
        assert set(errors(cell)) <= STUB_ERRORS and errors(cell), (cell.source, errors(cell))
        # the command names every failed test, with its points
        grade_id = nbgrader_meta(cell)["grade_id"]
        assert any(line.startswith(f"test {grade_id} (") for line in found), (grade_id, found)
    assert not any("was stopped" in line for line in found), found
    # nothing crashed: every code cell ran, and the last one reported where the notebook ran
    assert all(cell.execution_count for cell in executed)
    last = executed[-1]
    assert not errors(last) and "wall time" in "".join(out.get("text", "") for out in last.outputs)


def marked_blocks(text, begin, end):
    """The lines between ``begin`` and ``end`` markers."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside:
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_holds_stubs_and_no_solution_or_hidden_test(assignment):
    source = nbformat.read(source_path(assignment), as_version=4)
    release = nbformat.read(release_path(assignment), as_version=4)
    released = {nbgrader_meta(c).get("grade_id"): c for c in release.cells if nbgrader_meta(c)}
    # the release is generated from the current source: same graded cells, same points, the assignment's total
    graded = [(nbgrader_meta(c)["grade_id"], nbgrader_meta(c).get("points")) for c in source.cells if nbgrader_meta(c)]
    assert graded == [(nbgrader_meta(c)["grade_id"], nbgrader_meta(c).get("points"))
                      for c in release.cells if nbgrader_meta(c)]
    assert sum(points or 0 for _, points in graded) == ASSIGNMENTS[assignment][1]
    # the title's points and the sections' "(N points)" add up to the same total
    text = "\n".join(c.source for c in source.cells if c.cell_type == "markdown")
    title = [int(n) for n in re.findall(r"^# .*\((\d+) points\)", text, flags=re.M)]
    sections = [int(n) for n in re.findall(r"^## .*\((\d+) points?\)", text, flags=re.M)]
    assert title == [ASSIGNMENTS[assignment][1]] and sum(sections) == title[0], (title, sections)
    # each section's "(N points)" is what its graded cells give
    given, section = {}, None
    for cell in source.cells:
        heading = re.match(r"## (\S+) .*\((\d+) points?\)", cell.source) if cell.cell_type == "markdown" else None
        if heading:
            section = heading.group(1)
            given[section] = [int(heading.group(2)), 0]
        elif nbgrader_meta(cell).get("grade") and section:
            given[section][1] += nbgrader_meta(cell)["points"]
    assert all(said == got for said, got in given.values()), given

    text = "\n".join(cell.source for cell in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    # the hidden tests' one home is the assignment's judge: a student's kernel never runs them
    assert "HIDDEN TESTS" not in "\n".join(cell.source for cell in source.cells)
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        stub = released[meta["grade_id"]].source
        hidden = cell.source.splitlines() if cell.cell_type == "markdown" else \
            marked_blocks(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
        assert ("YOUR ANSWER HERE" if cell.cell_type == "markdown" else "raise NotImplementedError()") in stub
        for line in hidden:
            if len(line) > 12:  # long enough to be the solution's own text
                assert line not in text, f"{meta.get('grade_id')}: {line}"


# ---------------------------------------------------------------- the graded test cells judge answers like the checks

@pytest.fixture(scope="module")
def notebook_globals(cifar10, cifar100):
    """What the notebooks' setup cells define, for running a graded test cell on its own."""
    import random
    import time
    from collections import OrderedDict

    import numpy as np
    import torch

    import fedlab
    import fedlab.live
    import test_checks_live as live

    trainset, testset = cifar10
    train100, test100 = cifar100
    return dict(fedlab=fedlab, np=np, torch=torch, random=random, time=time, OrderedDict=OrderedDict,
                trainset=trainset, testset=testset, train100=train100, test100=test100, MY_RANDOM_SEED=20000101,
                learning_rate_for_round=live.schedule,
                GROUP_CLASSES={0: [0, 1, 2, 3], 1: [4, 5, 6], 2: [7, 8, 9]}, DEVICES_PER_GROUP=20)


def graded_cell(assignment, grade_id):
    cells = nbformat.read(source_path(assignment), as_version=4).cells
    return next(cell.source for cell in cells if nbgrader_meta(cell).get("grade_id") == grade_id)


def variants():
    """(assignment, test cell, function name, answer, right) for every variant of the checks."""
    import test_checks_fedavg as fedavg
    import test_checks_live as live
    import test_checks_malicious as malicious
    import test_checks_noniid as noniid
    import test_checks_quantization as quantization
    table = [("01_fedavg", "test_iid_sampler", "iid_sampler", fedavg.IID_CORRECT, fedavg.IID_WRONG),
             ("01_fedavg", "test_average_weights", "average_weights", fedavg.AVG_CORRECT, fedavg.AVG_WRONG),
             ("01_fedavg", "test_get_devices_for_round", "get_devices_for_round",
              fedavg.ROUND_CORRECT, fedavg.ROUND_WRONG),
             ("02_noniid", "test_noniid_group_sampler", "noniid_group_sampler",
              noniid.SAMPLER_CORRECT, noniid.SAMPLER_WRONG),
             ("02_noniid", "test_get_devices_for_round_GROUP", "get_devices_for_round_GROUP",
              noniid.GROUP_ROUND_CORRECT, noniid.GROUP_ROUND_WRONG),
             ("02_noniid", "test_cifar_noniid_group_test", "cifar_noniid_group_test",
              noniid.SPLIT_CORRECT, noniid.SPLIT_WRONG),
             ("02_noniid", "test_test_group", "test_group", noniid.GROUP_TEST_CORRECT, noniid.GROUP_TEST_WRONG),
             ("03_quantization", "test_quantizer", "quantizer", quantization.Q_CORRECT, quantization.Q_WRONG),
             ("03_quantization", "test_dorefa_g", "dorefa_g", quantization.D_CORRECT, quantization.D_WRONG),
             ("04_malicious", "test_generate_fake_weights", "generate_fake_weights",
              malicious.FAKE_CORRECT, malicious.FAKE_WRONG),
             ("04_malicious", "test_secure_average_weights", "secure_average_weights",
              malicious.SECURE_CORRECT, malicious.SECURE_WRONG),
             ("05_live", "test_parallel_seeded_choice", "parallel_seeded_choice",
              live.SEEDED_CORRECT, live.SEEDED_WRONG),
             ("05_live", "test_partition_dataset", "partition_dataset", live.PARTITION_CORRECT, live.PARTITION_WRONG),
             ("05_live", "test_learning_rate_for_round", "learning_rate_for_round",
              live.SCHEDULE_CORRECT, live.SCHEDULE_WRONG),
             ("05_live", "test_my_client", "MyClient", live.CLIENT_CORRECT, live.CLIENT_WRONG)]
    for assignment, cell, name, right, wrong in table:
        for fn in right:
            yield pytest.param(assignment, cell, name, fn, True, id=f"{cell}-{fn.__name__}")
        for fn, _ in wrong:
            yield pytest.param(assignment, cell, name, fn, False, id=f"{cell}-{fn.__name__}")


def raised_in_the_cell(info, where):
    """True when the innermost frame of the exception that stays in notebook or variant code is the graded cell."""
    frames = [frame.filename for frame in traceback.extract_tb(info.tb)]
    ours = [f for f in frames if f == where or "test_checks_" in f]
    return bool(ours) and ours[-1] == where


@pytest.mark.parametrize("assignment, cell, name, answer, right", variants())
def test_graded_cells_pass_right_answers_and_teach_when_they_fail(assignment, cell, name, answer, right,
                                                                  notebook_globals, monkeypatch, tmp_path):
    """A graded cell's visible lines pass every right answer; where they stop a wrong one, they say why.
    (Its points come from its judge, which fails every wrong answer: tests/test_judges.py.)"""
    import test_checks_noniid
    monkeypatch.setattr(test_checks_noniid, "testset", notebook_globals["testset"])  # what test_group reads
    monkeypatch.setattr(test_checks_noniid, "trainset", notebook_globals["trainset"])
    # a student who made every check pass by rebinding it changes nothing here
    for check in [c for c in dir(notebook_globals["fedlab"].checks) if c.startswith("check_")]:
        monkeypatch.setattr(notebook_globals["fedlab"].checks, check, lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    for data in ("trainset", "testset", "train100", "test100"):  # a wrong answer may sort or shuffle the labels
        monkeypatch.setattr(notebook_globals[data], "targets", list(notebook_globals[data].targets))
    namespace = dict(notebook_globals, **{name: answer})
    where = f"<graded cell {cell}>"
    code = compile(graded_cell(assignment, cell), where, "exec")
    if right:
        exec(code, namespace)
        return
    try:
        exec(code, namespace)
    except Exception:  # noqa: BLE001 the wrong answer's own exception, or the cell's assert
        info = pytest.ExceptionInfo.from_current()
        if raised_in_the_cell(info, where):
            # the cell's own failure teaches: an AssertionError with a message that says what was used and expected
            assert info.type is AssertionError, f"{info.type.__name__} reached the student: {info.value}"
            message = str(info.value)
            assert "expected" in message, f"the failure does not teach: {message!r}"
