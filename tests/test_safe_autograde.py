"""``python -m course autograde 01_fedavg`` grades safely: an honest student and hostile submissions, one run.

A real class (nbgrader release, gradebook, submissions) is graded by the instructor's command with
the real sandbox, judge and nbgrader. The hostile submissions are those of the issue: a detached
process that waits to write full marks into gradebook.db, in-kernel tampering (an input transformer
that turns later cells into ``pass``, an AST transformer deleting asserts, rebound builtins and tensor
methods, a ``fedlab/`` package handed in beside the notebook), reading the solutions, the gradebook
and another student's notebook to copy the answers, a function that puts its caller's source in its
error, killing its parent and every process it can reach, edited test-cell metadata, a notebook
that is a link to the solution (findings 1-5); a kernel that dies after its first answers, a notebook
that runs past its time limit in cells under the per-cell one, a 50 MB output line (6), and a forged
history of 3 of 100 rounds at 99 % (7). Each gets its expected grade; the honest student keeps full marks;
nothing reaches the gradebook, the solutions or the other student, no process outlives grading, and
no hidden test reaches a notebook or feedback. Two cheap tests look at the parts on their own: the
reset from the release, and a notebook's run in its sandbox on each backend (its plots kept). Two more
grade an honest submission to 03 and to 05 (its Flower server on loopback in the sandbox) to full marks.
"""
import copy
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import fedlab
from course import judges, safe_grade, sandbox
from course.classroom import Classroom
from course.submissions import answered
from course.tasks import max_autograded

pytestmark = pytest.mark.slow  # minutes: `make test-slow` (CI runs it after `make test`)

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_fedavg"
MARKER = "hostile-writer-31337"  # in the argv of the detached process, to look for survivors


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def judge_lines(assignment) -> list:
    """The code lines of an assignment's judge (its hidden tests), long enough to be recognised."""
    source = Path(judges.judge(assignment).__file__).read_text()
    return [line.strip() for line in source.splitlines() if len(line.strip()) > 30 and line.strip()[0] not in "#\"'"]


def first_solution(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")


def tampering(root: Path, escaped: Path) -> str:
    """Findings 1-3 of the issue, after the stub of iid_sampler."""
    writer = (f"import sqlite3, time  # {MARKER}\n"
              "for _ in range(240):\n"
              "    time.sleep(0.5)\n"
              "    try:\n"
              f"        db = sqlite3.connect('file:{root / 'gradebook.db'}?mode=rw', uri=True)\n"
              "        db.execute('UPDATE grade SET manual_score = 100'); db.commit(); db.close()\n"
              f"        open({str(escaped)!r}, 'w').write('wrote the gradebook')\n"
              "    except Exception:\n"
              "        pass\n")
    stolen = [ROOT / "solutions" / ASSIGNMENT / "fedavg.ipynb", root / "gradebook.db",
              root / "submitted" / "honest" / ASSIGNMENT / "fedavg.ipynb", ROOT / "nbgrader_config.py"]
    return f'''import ast, builtins, inspect, json, os, subprocess, sys
subprocess.Popen([sys.executable, "-c", {writer!r}], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_stolen = False
for _path in {[str(p) for p in stolen]!r}:
    try:
        _text = open(_path, errors="replace").read()
    except OSError:
        continue
    open({str(escaped)!r}, "a").write("read " + _path + "\\n")
    if _path.endswith(".ipynb"):
        for _cell in json.loads(_text)["cells"]:
            _src = "".join(_cell["source"])
            if _cell["cell_type"] == "code" and _src.startswith("def "):
                exec(_src.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""), globals())
                _stolen = True
class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
try:  # in the notebook's kernel, where nbgrader would run the hidden tests
    _shell = get_ipython()
except NameError:
    _shell = None
if _shell is not None:
    import torch
    torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
    builtins.isinstance = lambda *args: True
    _shell.ast_transformers.append(_NoAsserts())
    _shell.input_transformers_post.append(lambda lines: ["pass\\n"])
if not _stolen:
    def iid_sampler(dataset, num_devices, data_pct):
        try:
            caller = inspect.getsource(sys._getframe(1))
        except Exception:
            caller = "?"
        raise NotImplementedError(caller)
'''


KILLER = '''import os, signal
for _kill in (lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.killpg(os.getpgid(0), signal.SIGKILL),
              lambda: os.kill(-1, signal.SIGKILL)):
    try:
        _kill()
    except OSError:
        pass
os._exit(0)
'''


DIES = "import os\nos._exit(1)  # the interpreter dies after the function is defined\n"
SLOW = ("import time\ntry:\n    get_ipython()  # the notebook's kernel only: the judge's answers come quickly\n"
        "    time.sleep(45)  # under the 60 s a cell may take, but three of them exceed the notebook's time\n"
        "except NameError:\n    pass\n")
LOUD = "print('x' * 50_000_000)\n"
NOTEBOOK_TIMEOUT_S = 120  # --notebook-timeout of this run: the slow notebook's three cells need 135 s
FORGED = {"values": [99.0] * 3, "provenance": {"fedlab": fedlab.__version__, "config": {"rounds": 3},
                                               "wall_time_s": 9.0, "device": "cuda", "quick_mode": False}}
FINDING_6_7 = ("e_dies", "f_slow", "g_loud", "h_forged")


def solutions(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]


def points_of(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("safe")
    klass = Classroom.create(tmp / "class")
    klass.release(ASSIGNMENT)
    release = klass.released(ASSIGNMENT)["fedavg"]
    source = klass.source(ASSIGNMENT)["fedavg"]
    escaped = tmp / "escaped.txt"

    honest = answered(release, source)
    tamper = copy.deepcopy(release)
    first_solution(tamper).source += "\n" + tampering(klass.root, escaped)
    killer = copy.deepcopy(release)
    first_solution(killer).source = KILLER + first_solution(killer).source
    metadata = answered(release, source)
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in metadata.cells
             if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")}
    tests["test_iid_sampler"].metadata["nbgrader"]["grade_id"] = "mine"
    tests["test_average_weights"].metadata["nbgrader"]["grade"] = False
    tests["test_get_devices_for_round"].metadata["nbgrader"]["solution"] = True
    tests["test_get_devices_for_round"].source = "pass"

    dies, slow, loud = (answered(release, source) for _ in range(3))
    functions = [c for c in solutions(dies) if c.source.startswith("def ")]
    functions[-1].source += "\n" + DIES  # after the first tests' functions: their points must stay
    for cell in solutions(slow):
        if cell.source.startswith("def "):
            cell.source += "\n" + SLOW
    first_solution(loud).source += "\n" + LOUD

    for student, nb in [("honest", honest), ("a_killer", killer), ("b_tamper", tamper), ("c_metadata", metadata),
                        ("e_dies", dies), ("f_slow", slow), ("g_loud", loud)]:
        klass.submit(student, ASSIGNMENT, {"fedavg.ipynb": nb})
    klass.submit("h_forged", ASSIGNMENT, {"fedavg.ipynb": answered(release, source),
                                          "fedavg_iid.history.json": json.dumps(FORGED)})
    linked = klass.root / "submitted" / "d_link" / ASSIGNMENT
    linked.mkdir(parents=True)
    (linked / "fedavg.ipynb").symlink_to(ROOT / "solutions" / ASSIGNMENT / "fedavg.ipynb")
    planted = klass.root / "submitted" / "b_tamper" / ASSIGNMENT / "fedlab"
    planted.mkdir()
    (planted / "__init__.py").write_text("def __getattr__(name):\n    return lambda *args, **kwargs: None\n")

    before = {"solutions": digest(ROOT / "solutions" / ASSIGNMENT),
              "honest": digest(klass.root / "submitted" / "honest")}
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", ASSIGNMENT, "--class-dir", str(klass.root),
                           "--notebook-timeout", str(NOTEBOOK_TIMEOUT_S)],
                          cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, FEDLAB_QUICK="1"))
    klass.feedback(ASSIGNMENT)
    return klass, proc, before, escaped, max_autograded(source), source


def test_every_submission_gets_its_expected_grade(graded):
    klass, proc, _, _, full, source = graded
    assert proc.returncode == 1 and "NOT GRADED d_link: fedavg.ipynb is a link" in proc.stdout, \
        proc.stdout + proc.stderr  # a link to the solutions is never read
    scores = {g.student: g.score for g in klass.grades()}
    last = points_of(source)["test_get_devices_for_round"]  # the only test after the cell that kills
    assert scores == {"honest": full, "c_metadata": full, "a_killer": 0.0, "b_tamper": 0.0, "e_dies": full - last,
                      "f_slow": full, "g_loud": full, "h_forged": full}, proc.stdout
    assert set(klass.cell_scores("c_metadata", ASSIGNMENT)) >= {"test_iid_sampler", "test_average_weights",
                                                                "test_get_devices_for_round"}


def test_a_dead_kernel_or_a_slow_notebook_costs_only_what_it_must(graded):
    """Finding 6: each test is judged on its own, and a notebook past its time is stopped and named."""
    klass, proc = graded[:2]
    assert klass.cell_scores("e_dies", ASSIGNMENT)["test_get_devices_for_round"] == 0, proc.stdout
    assert "f_slow: fedavg.ipynb did not run to its end (stopped: wall time limit reached)" in proc.stdout, \
        proc.stdout
    assert "e_dies: fedavg.ipynb did not run to its end" in proc.stdout, proc.stdout


def test_a_huge_output_is_cut_before_the_gradebook_and_feedback(graded):
    klass = graded[0]
    files = [klass.root / "autograded" / "g_loud" / ASSIGNMENT / "fedavg.ipynb",
             *(klass.root / "feedback" / "g_loud" / ASSIGNMENT).glob("*.html")]
    assert len(files) == 2 and all(f.stat().st_size < 2 * 2**20 for f in files), [f.stat().st_size for f in files]
    assert "output cut by the grader" in files[0].read_text()


def test_a_forged_history_is_flagged_in_the_grade_table_and_drawn_as_such(graded):
    """Finding 7: 3 of 100 rounds at a flat 99 % is not the student's full run, and everyone is told so."""
    klass, proc = graded[:2]
    flagged = [line for line in proc.stdout.splitlines() if line.startswith("(!) ")]
    assert flagged == ["(!) h_forged 01_fedavg: fedavg_iid.history.json: not from a full run (made with rounds=3, "
                       "but this notebook's experiment has rounds=100)"], proc.stdout
    graded_nb = (klass.root / "autograded" / "h_forged" / ASSIGNMENT / "fedavg.ipynb").read_text()
    assert "fedavg_iid.history.json is NOT FROM A FULL RUN" in graded_nb


def test_nothing_a_submission_does_reaches_the_gradebook_the_solutions_or_another_student(graded):
    klass, proc, before, escaped, _, _ = graded
    assert not escaped.exists(), escaped.read_text()
    survivors = subprocess.run(["pgrep", "-f", MARKER], capture_output=True, text=True).stdout
    assert survivors == "", f"a submission's process outlived grading: {survivors}"
    with sqlite3.connect(klass.db) as db:
        assert db.execute("SELECT count(*) FROM grade WHERE manual_score IS NOT NULL").fetchone() == (0,)
    assert digest(ROOT / "solutions" / ASSIGNMENT) == before["solutions"]
    assert digest(klass.root / "submitted" / "honest") == before["honest"]


def test_no_hidden_test_reaches_a_graded_notebook_or_feedback(graded):
    klass = graded[0]
    hidden = judge_lines(ASSIGNMENT)
    assert hidden
    for student in ("honest", "a_killer", "b_tamper", "c_metadata", *FINDING_6_7):
        texts = [(klass.root / "autograded" / student / ASSIGNMENT / "fedavg.ipynb").read_text()]
        texts += [p.read_text() for p in (klass.root / "feedback" / student / ASSIGNMENT).glob("*.html")]
        assert len(texts) == 2, student
        for text in texts:
            assert not [line for line in hidden if line in text or json.dumps(line)[1:-1] in text], student


def test_test_cells_carry_the_judges_verdict(graded):
    """Passed cells show no error; a failed cell shows the judge's reason, and the caller's source a function
    sends back is the responder's, never a hidden test."""
    klass = graded[0]
    for student, reason in (("honest", None), ("b_tamper", "raised NotImplementedError"),
                            ("a_killer", "did not answer the hidden tests")):
        nb = nbformat.read(klass.root / "autograded" / student / ASSIGNMENT / "fedavg.ipynb", as_version=4)
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
        assert len(tests) == 3
        for cell in tests:
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert bool(errors) == bool(reason), (student, cell.outputs)
            assert not errors or reason in errors[0].evalue, errors
    nb = nbformat.read(klass.root / "autograded" / "b_tamper" / ASSIGNMENT / "fedavg.ipynb", as_version=4)
    iid = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_iid_sampler")
    assert "def answer(self, call)" in iid.outputs[-1].evalue  # the caller: the responder, asking


def test_metadata_and_cells_are_reset_from_the_release():
    """Deleted, duplicated, unknown and edited nbgrader cells: the notebook that is graded has the release's."""
    release = nbformat.read(ROOT / "notebooks" / ASSIGNMENT / "fedavg.ipynb", as_version=4)
    nb = copy.deepcopy(release)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    test = nb.cells[ids.index("test_average_weights")]
    nb.cells.append(copy.deepcopy(test))                   # a second copy of a test cell
    test.metadata["nbgrader"].update(grade=False, points=0)  # its grade flag and points edited
    test.source = "pass"
    del nb.cells[ids.index("test_iid_sampler")]             # a test cell deleted
    unknown = nbformat.v4.new_code_cell("print('extra points')")
    unknown.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "points": 100, "solution": False}
    nb.cells.insert(0, unknown)
    answer = nb.cells[[c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("average_weights")]
    answer.source = "def average_weights(devices):\n    return 'mine'\n"
    answer.metadata["nbgrader"]["solution"] = False

    graded = safe_grade.reset_from_release(nb, release)

    def shape(notebook):
        return [(c.metadata.get("nbgrader", {}).get("grade_id"), c.metadata.get("nbgrader")) for c in notebook.cells]
    assert shape(graded) == shape(release)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded.cells}
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in release.cells}
    assert by_id["test_average_weights"].source == released["test_average_weights"].source
    assert by_id["average_weights"].source == answer.source  # the student's answer stays theirs


@pytest.mark.parametrize("backend", ["unshare", "bwrap"])
def test_a_notebook_runs_in_its_sandbox_on_every_backend(backend, tmp_path):
    if backend not in sandbox.available():
        pytest.skip(f"{backend} is not installed or does not work here")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.getcwd(), 6 * 7)"),
                                         nbformat.v4.new_code_cell("1 / 0"),
                                         nbformat.v4.new_code_cell("print('after the error')"),
                                         nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])")])
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    ran, note = safe_grade._executed(nb, tmp_path, "tiny.ipynb", False, backend)
    assert note == ""
    assert ran.cells[0].outputs[0].text == f"{sandbox.INSIDE} 42\n"
    assert ran.cells[1].outputs[0].ename == "ZeroDivisionError"
    assert ran.cells[2].outputs[0].text == "after the error\n"
    assert any("image/png" in o.get("data", {}) for o in ran.cells[3].outputs)  # the plot a hand-grader looks at


def honest_graded(tmp_path, assignment, name):
    """An honest submission to ``assignment`` (notebook ``name``) graded by the instructor's command: (class, its
    output, the source notebook, the honest notebook)."""
    klass = Classroom.create(tmp_path / "class")
    klass.release(assignment)
    source = klass.source(assignment)[name]
    honest = answered(klass.released(assignment)[name], source)
    klass.submit("honest", assignment, {f"{name}.ipynb": honest})
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", assignment, "--class-dir", str(klass.root)],
                          cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, FEDLAB_QUICK="1"))
    return klass, proc, source, honest


def assert_full_marks_and_no_hidden_test(graded, assignment, name, cells):
    klass, proc, source, honest = graded
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {g.student: g.score for g in klass.grades()} == {"honest": max_autograded(source)}, proc.stdout
    assert set(klass.cell_scores("honest", assignment)) >= cells
    text = (klass.root / "autograded" / "honest" / assignment / f"{name}.ipynb").read_text()
    hidden = [line for line in judge_lines(assignment) if line not in nbformat.writes(honest)]  # not the student's
    assert hidden and not [line for line in hidden if line in text or json.dumps(line)[1:-1] in text]


def test_an_honest_submission_to_03_gets_full_marks_through_its_judge(tmp_path):
    """Assignment 03 is graded by course/judges/quantization.py: the honest student's cells pass there, the
    gradebook holds full marks, and the graded notebook holds none of the hidden tests."""
    assert_full_marks_and_no_hidden_test(honest_graded(tmp_path, "03_quantization", "quantization"),
                                         "03_quantization", "quantization", {"test_quantizer", "test_dorefa_g"})


def test_an_honest_submission_to_05_gets_full_marks_with_its_federation_in_the_sandbox(tmp_path):
    """Assignment 05's notebook starts a Flower server and its client on loopback inside its sandbox (its checks
    and its live run) while course/judges/live.py grades the honest student to full marks (13/13)."""
    graded = honest_graded(tmp_path, "05_live", "live")
    assert_full_marks_and_no_hidden_test(graded, "05_live", "live", {
        "test_parallel_seeded_choice", "test_partition_dataset", "test_learning_rate_for_round", "test_my_client"})
    klass, proc = graded[:2]
    assert "did not run to its end" not in proc.stdout, proc.stdout
    ran = nbformat.read(klass.root / "autograded" / "honest" / "05_live" / "live.ipynb", as_version=4)
    check = next(c for c in ran.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_client")
    assert [o.get("text", "")[:6] for o in check.outputs] == ["PASSED"], check.outputs  # a real server answered
