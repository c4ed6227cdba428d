"""The course pipeline with the real nbgrader: release, hand-in, autograde, feedback, grades.

One demo class is built per session (every assignment, three submissions each) and one more
autograde run of it grades the adversarial submissions on the smallest assignment, safely as
always: a sandbox per submission, the judge outside (tests/test_safe_autograde.py has the hostile
ones of the grading issue; these are a student's mistakes and tricks with the notebook).
"""
import ast
import copy
import html
import json
import re
from datetime import datetime

import nbformat
import pytest

import fedlab
from course import demo, safe_grade
from course import histories as course_histories
from course.classroom import COURSE, Classroom
from course.submissions import answered
from course.tasks import independent, is_test, max_autograded, nbgrader
from test_safe_autograde import judge_lines

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Classroom().assignments(), reason="no assignment under solutions/ yet")]

EXPERIMENT = re.compile(r"fedlab\.experiment\(\s*['\"]([\w-]+)['\"]")
HISTORY = re.compile(r"fedlab\.history\(\s*['\"]([\w-]+)['\"]")
ADVERSARIAL = "01_fedavg"  # graded again with hostile submissions: the first assignment, its histories named plainly


# ---------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def demo_class(tmp_path_factory):
    """The demo class, built and graded once: ``(class, expected scores, failures)``."""
    return demo.build(tmp_path_factory.mktemp("demo") / "class")


# ---------------------------------------------------------------------------------------- no drift

def comparable(nb):
    """What a release must keep: each cell's type, source and nbgrader metadata."""
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]


def test_notebooks_folder_is_what_generate_assignment_makes(demo_class):
    klass = demo_class[0]
    fresh, committed = klass.release_dir, COURSE / "notebooks"
    for assignment in klass.assignments():
        made = sorted(p.relative_to(fresh / assignment) for p in (fresh / assignment).rglob("*") if p.is_file())
        have = sorted(p.relative_to(committed / assignment) for p in (committed / assignment).rglob("*")
                      if p.is_file() and ".ipynb_checkpoints" not in p.parts)
        assert have == made, f"notebooks/{assignment} holds other files than a release; run `make notebooks`"
        for rel in made:
            if rel.suffix == ".ipynb":
                new, old = (nbformat.read(root / assignment / rel, as_version=4) for root in (fresh, committed))
                assert comparable(old) == comparable(new), \
                    f"notebooks/{assignment}/{rel} differs from solutions/; run `make notebooks`"
            else:
                assert (committed / assignment / rel).read_bytes() == (fresh / assignment / rel).read_bytes()


def test_release_has_no_solutions_and_no_hidden_tests(demo_class):
    klass = demo_class[0]
    for assignment in klass.assignments():
        for name, nb in klass.released(assignment).items():
            text = "\n".join(c.source for c in nb.cells)
            assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, f"{assignment}/{name}"
        assert not list((klass.release_dir / assignment).glob("*.history.json"))


# ---------------------------------------------------------------------------------------- the demo class

def test_demo_class_grades_exactly_as_expected(demo_class):
    klass, expected, failures = demo_class
    assert failures == {}
    got = {(g.student, g.assignment): g.score for g in klass.grades()}
    assert got == expected
    for assignment in klass.assignments():
        assert expected["solution", assignment] > expected["partial", assignment] > 0
        assert expected["untouched", assignment] == 0


def test_grades_csv_and_table(demo_class, tmp_path):
    klass = demo_class[0]
    grades = klass.grades()
    demo.write_grades(grades, tmp_path / "grades.csv")
    lines = (tmp_path / "grades.csv").read_text().splitlines()
    assert lines[0] == "student,assignment,score,max_score,histories_flagged"
    assert len(lines) == 1 + 3 * len(klass.assignments())
    table = demo.table(grades)
    for g in grades:
        assert f"{g.score:g} / {g.max_score:g}" in table


# ---------------------------------------------------------------------------------------- feedback

def text_of(html_page: str) -> str:
    """What a reader sees in an HTML page: tags and styles removed, entities decoded."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", html_page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_feedback_shows_results_and_messages_but_not_hidden_tests(demo_class):
    klass = demo_class[0]
    for assignment in klass.assignments():
        secret = judge_lines(assignment)
        assert secret, f"{assignment} has no judge"
        for name, source_nb in klass.source(assignment).items():
            graded = nbformat.read(klass.root / "autograded/partial" / assignment / f"{name}.ipynb", as_version=4)
            graded_text = nbformat.writes(graded)
            handed_in = nbformat.read(klass.root / "submitted/partial" / assignment / f"{name}.ipynb", as_version=4)
            # a judge's line that is also the student's own code (levels = 2 ** nbit - 1) is not a leak
            own = {line.strip() for c in handed_in.cells for line in c.source.split("\n")}
            assert not [line for line in secret if line in graded_text and line not in own], assignment
            page = text_of((klass.root / "feedback/partial" / assignment / f"{name}.html").read_text())
            leaked = [line for line in secret if line in page and line not in own]
            assert not leaked, f"feedback of {assignment}/{name} shows hidden test code: {leaked[:3]}"
            messages = [o.evalue.strip().splitlines()[0] for c in graded.cells if is_test(c)
                        for o in c.outputs if o.output_type == "error" and o.evalue.strip()]
            assert messages, "the partly correct submission fails some test with a message"
            assert all(m in page for m in messages)
            assert "Score:" in page


# ---------------------------------------------------------------------------------------- adversarial run

STDERR_ON_PURPOSE = "prints a warning on purpose"

REBIND_EVERY_CHECK = '''\
import math, sys
import numpy, torch
import fedlab.checks

def always_passes(*args, **kwargs):
    return True

for module_name, module in list(sys.modules.items()):
    if module_name.startswith("fedlab.checks"):
        for name, value in list(vars(module).items()):
            if callable(value) and not isinstance(value, type) and not name.startswith("__"):
                setattr(module, name, always_passes)
for name in dir(numpy.testing):
    if name.startswith("assert"):
        setattr(numpy.testing, name, always_passes)
torch.testing.assert_close = torch.allclose = torch.equal = always_passes
numpy.allclose = numpy.array_equal = numpy.isclose = math.isclose = always_passes
'''

DAMAGE_CACHE = '''\
import fedlab
for path in (fedlab.data.cache_dir() / "synthetic").glob("*.pt"):
    with open(path, "r+b") as f:
        f.write(b"overwritten by a submission")
'''


def warns_when_called(source: str) -> str:
    """``source`` with every top-level function first writing a warning to stderr."""
    tree = ast.parse(source)
    noise = ast.parse("import sys, warnings\n"
                      f"warnings.warn('{STDERR_ON_PURPOSE}')\n"
                      f"print('warning: {STDERR_ON_PURPOSE}', file=sys.stderr)").body
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            node.body = noise + node.body
    return ast.unparse(tree)


def cell_index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if nbgrader(c).get("grade_id") == grade_id)


def code(source):
    return nbformat.v4.new_code_cell(source)


def seconds(cell) -> float:
    """How long a cell ran in an autograded notebook (nbclient records it)."""
    run = cell.get("metadata", {}).get("execution", {})
    if "iopub.execute_input" not in run:
        return 0.0
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00"))
                  for k in ("iopub.execute_input", "shell.execute_reply"))
    return (end - start).total_seconds()


def without_experiments(nb, graded_solution):
    """``nb`` less the ungraded code cells after the first answer that took the solution's run over 5 s.

    Those are training runs and slow checks; graded tests never need them, and a student may
    delete them. The setup before the first answer stays.
    """
    first = next(i for i, c in enumerate(graded_solution.cells) if nbgrader(c).get("solution"))
    slow = {i for i, c in enumerate(graded_solution.cells) if i > first and c.cell_type == "code"
            and not (nbgrader(c).get("grade") or nbgrader(c).get("solution")) and seconds(c) > 5}
    lean = copy.deepcopy(nb)
    lean.cells = [c for i, c in enumerate(nb.cells) if i not in slow]
    return lean


def full_run_history(plot_source: str, config: dict):
    """A recognisable saved full run of an experiment with ``config`` (what its release plans), as
    fedlab.experiment writes it: accuracies climbing to 77 %, per group if plotted so, with its provenance."""
    count = fedlab.experiments.planned(config)
    accs = [round(10 + 67 * r / (count - 1), 3) for r in range(count)]
    values = {str(g): accs for g in range(3)} if "plot_group_accuracy" in plot_source else accs
    return {"values": values, "provenance": {"fedlab": fedlab.__version__, "config": config, "completed": count,
                                             "wall_time_s": 3600.0, "device": "cuda (a GPU)", "quick_mode": False}}


@pytest.fixture(scope="session")
def adversarial(demo_class):
    """One more autograde run of the demo class on assignment 01, with adversarial submissions.

    Each case is a student with its expected score (None: not graded). Cases 1-7 leave out the
    training runs and slow checks to keep CI short. Students are graded in name order: the one
    that tries to damage the dataset cache comes before the full one carrying histories, which
    must be graded normally. Returns (class, assignment, notebook, target task, cases,
    failures, history names).
    """
    klass = demo_class[0]
    assignment = ADVERSARIAL
    name, source_nb = next(iter(klass.source(assignment).items()))
    release_nb = klass.released(assignment)[name]
    target = independent(source_nb)[0]
    full = max_autograded(source_nb)
    solved = answered(release_nb, source_nb)
    ran = graded_nb(klass, "solution", assignment, name)
    lean_solved = without_experiments(solved, ran)
    lean_wrong = without_experiments(answered(release_nb, source_nb, wrong={target.cell}), ran)
    first_test = next(iter(target.tests))
    cases, files = {}, {}

    nb = copy.deepcopy(lean_wrong)  # 1. the graded test of a wrong answer edited to `pass`
    nb.cells[cell_index(nb, first_test)].source = "pass"
    files["adv1-test-made-pass"], cases["adv1-test-made-pass"] = nb, full - target.points

    nb = copy.deepcopy(lean_solved)  # 2. a test cell deleted from a right answer
    del nb.cells[cell_index(nb, first_test)]
    files["adv2-test-deleted"], cases["adv2-test-deleted"] = nb, full

    nb = copy.deepcopy(lean_solved)  # 3. an endless loop in one solution cell
    at = cell_index(nb, target.cell)
    nb.cells[at].source = "while True:\n    pass\n" + nb.cells[at].source
    files["adv3-endless-loop"], cases["adv3-endless-loop"] = nb, full - target.points

    nb = copy.deepcopy(lean_wrong)  # 4. a wrong answer with every check and assert helper made to pass
    nb.cells.insert(cell_index(nb, target.cell) + 1, code(REBIND_EVERY_CHECK))
    files["adv4-checks-rebound"], cases["adv4-checks-rebound"] = nb, full - target.points

    nb = copy.deepcopy(lean_solved)  # 5. a right answer that writes warnings to stderr when called
    at = cell_index(nb, target.cell)
    nb.cells[at].source = warns_when_called(nb.cells[at].source)
    files["adv5-warns"], cases["adv5-warns"] = nb, full

    files["adv6-not-json"], cases["adv6-not-json"] = "{ this is not a notebook", None  # 6.

    nb = copy.deepcopy(lean_solved)  # 7. a right answer that then tries to damage the shared dataset cache
    nb.cells.append(code(DAMAGE_CACHE))
    files["adv7-damages-cache"], cases["adv7-damages-cache"] = nb, full

    # 8. after the damage: the whole notebook, handed in with the histories of a full run
    histories = {h: c.source for c in source_nb.cells for h in HISTORY.findall(c.source)}
    files["adv8-full-run-history"], cases["adv8-full-run-history"] = solved, full

    for student, nb in files.items():
        plans = course_histories.plans(release_nb)
        extra = {f"{h}.history.json": json.dumps(full_run_history(src, plans[h])) for h, src in histories.items()}
        klass.submit(student, assignment, {f"{name}.ipynb": nb, **(extra if student.startswith("adv8") else {})})
    cache = {p: fedlab.data._sha256(p) for p in (fedlab.data.cache_dir() / "synthetic").glob("*.pt")}
    failures = safe_grade.autograde(klass, assignment)
    return klass, assignment, name, target, cases, failures, sorted(histories), cache


def graded_nb(klass, student, assignment, name):
    return nbformat.read(klass.root / "autograded" / student / assignment / f"{name}.ipynb", as_version=4)


def outputs_text(cell) -> str:
    return "\n".join(o.get("text", "") + o.get("evalue", "") for o in cell.get("outputs", []))


@pytest.mark.parametrize("student", ["adv1-test-made-pass", "adv2-test-deleted", "adv3-endless-loop",
                                     "adv4-checks-rebound", "adv5-warns", "adv7-damages-cache",
                                     "adv8-full-run-history"])
def test_adversarial_submission_gets_its_expected_grade(adversarial, student):
    klass, assignment, name, target, cases, failures, *_ = adversarial
    assert student not in failures
    got = {g.student: g.score for g in klass.grades() if g.assignment == assignment}
    assert got[student] == cases[student]


def test_restored_test_cells_are_the_real_tests(adversarial):
    klass, assignment, name, target, *_ = adversarial
    source_nb = klass.source(assignment)[name]
    first_test = next(iter(target.tests))
    real = source_nb.cells[cell_index(source_nb, first_test)].source
    for student in ("adv1-test-made-pass", "adv2-test-deleted"):
        nb = graded_nb(klass, student, assignment, name)
        assert real in nb.cells[cell_index(nb, first_test)].source
    scores = klass.cell_scores("adv1-test-made-pass", assignment)
    assert all(scores[t] == 0 for t in target.tests)


def test_endless_loop_times_out_in_its_own_cell(adversarial):
    klass, assignment, name, target, *_ = adversarial
    nb = graded_nb(klass, "adv3-endless-loop", assignment, name)
    errors = [o.ename for o in nb.cells[cell_index(nb, target.cell)].outputs if o.output_type == "error"]
    assert errors and errors[0] in ("CellTimeoutError", "KeyboardInterrupt")
    scores = klass.cell_scores("adv3-endless-loop", assignment)
    assert [scores[t] for t in target.tests] == [0] * len(target.tests)


def test_warnings_on_stderr_do_not_cost_points(adversarial):
    klass, assignment, name, target, *_ = adversarial
    scores = klass.cell_scores("adv5-warns", assignment)
    assert all(scores[t] == p for t, p in target.tests.items())


def test_a_file_that_is_not_a_notebook_is_named_and_explained(adversarial):
    klass, assignment, name, target, cases, failures, *_ = adversarial
    assert set(failures) == {"adv6-not-json"}
    assert f"{name}.ipynb is not a valid notebook" in failures["adv6-not-json"]
    assert not [g for g in klass.grades() if g.student == "adv6-not-json" and g.score is not None]


def test_the_dataset_cache_cannot_be_damaged(adversarial):
    """The sandbox sees the cache read-only: the attempt fails in its own cell, the cache stays whole."""
    klass, assignment, name, *_, cache = adversarial
    assert cache and {p: fedlab.data._sha256(p) for p in cache} == cache
    tried = graded_nb(klass, "adv7-damages-cache", assignment, name).cells[-1]
    assert [o.ename for o in tried.outputs if o.output_type == "error"] == ["OSError"], tried.outputs
    after = "\n".join(outputs_text(c) for c in graded_nb(klass, "adv8-full-run-history", assignment, name).cells)
    assert "failed its checksum" not in after


def test_plots_draw_the_submitted_full_run_history(adversarial):
    klass, assignment, name, target, cases, failures, histories, _ = adversarial
    assert histories, f"{assignment}/{name} plots nothing through fedlab.history"
    nb = graded_nb(klass, "adv8-full-run-history", assignment, name)
    for history in histories:
        # the experiment cell takes the saved run instead of running; the plot cell draws it
        ran = next(c for c in nb.cells if c.cell_type == "code" and history in EXPERIMENT.findall(c.source))
        assert f"using the full run saved in {history}.history.json" in outputs_text(ran)
        cell = next(c for c in nb.cells if c.cell_type == "code" and history in HISTORY.findall(c.source))
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"{history}: no plot drawn"
        assert not [o for o in ran.outputs + cell.outputs if o.output_type == "error"]
    quick = graded_nb(klass, "solution", assignment, name)
    assert "using the full run" not in "\n".join(outputs_text(c) for c in quick.cells)
