"""The safe autograde: every submission runs in its own sandbox, the judge scores outside, the grader writes.

Used by ``python -m course autograde ASSIGNMENT`` for the assignments with a judge (course/judges).
For each student: the submitted notebook's nbgrader cells are reset from the release (metadata, and the
source of every cell that is not the student's; unknown nbgrader cells dropped, missing ones put back),
so a submission is always graded; a scratch copy holding only its notebooks and histories is executed in
a sandbox (visible tests only) for its outputs, plots and written answers; the judge asks the
submission's code about each graded test cell in a sandbox of its own, so a crash or time-out costs that
cell only; the verdicts become the test cells' outputs (messages, never hidden-test code). Only then,
with every sandboxed process gone, the trusted grader runs ``nbgrader autograde`` on that judged copy
without executing it again, which writes the gradebook, the autograded notebook and what
``generate_feedback``, formgrader and ``nbgrader export`` read.
"""
import copy
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from . import judges, sandbox
from .classroom import Classroom, NbgraderError

JUDGED = "judged"  # the class folder's copy of each submission as judged, what nbgrader autograde reads
NOTEBOOK_LIMITS = sandbox.Limits(wall_s=900, cpu_s=1800)  # one whole notebook in quick mode, with room
MAX_NOTEBOOK_BYTES = 64 * 2**20
SANITIZE = ["nbgrader.preprocessors.DeduplicateIds", "nbgrader.preprocessors.OverwriteKernelspec",
            "nbgrader.preprocessors.CheckCellMetadata"]
SCORE = ["nbgrader.preprocessors.IgnorePattern", "nbconvert.preprocessors.ClearMetadataPreprocessor",
         "nbgrader.preprocessors.LimitOutput", "nbgrader.preprocessors.SaveAutoGrades",
         "nbgrader.preprocessors.AssignLatePenalties", "nbgrader.preprocessors.CheckCellMetadata"]
UNSANDBOXED_WARNING = ("--unsandboxed: submissions run with the grader's rights. They can read the solutions, the "
                       "gradebook and other students' work, change grades, and leave processes running; use it "
                       "only for submissions you trust.")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def reset_from_release(submitted, release):
    """``submitted`` with every known nbgrader cell's metadata (and, unless it is the student's, source) from
    ``release``; nbgrader cells the release lacks dropped; release cells the submission lacks put back."""
    known = {_meta(c)["grade_id"]: c for c in release.cells if _meta(c).get("grade_id")}
    order = list(known)
    nb = copy.deepcopy(release)
    cells, seen = [], set()
    for cell in submitted.cells:
        grade_id = _meta(cell).get("grade_id")
        if "nbgrader" in cell.get("metadata", {}) and (grade_id not in known or grade_id in seen):
            continue  # an nbgrader cell the release does not have (or a second copy): dropped
        if grade_id in known:
            seen.add(grade_id)
            theirs, cell = cell, copy.deepcopy(known[grade_id])
            if _meta(cell).get("solution"):
                cell.source = theirs.get("source", "")
                if cell.cell_type == "code":
                    cell.outputs = []
        cells.append(cell)
    for grade_id in order:
        if grade_id not in seen:
            present = [_meta(c).get("grade_id") for c in cells]
            before = [g for g in order[:order.index(grade_id)] if g in present]
            at = present.index(before[-1]) + 1 if before else 0
            cell = copy.deepcopy(known[grade_id])
            cell.id = f"restored-{uuid.uuid4().hex[:8]}"
            cells.insert(at, cell)
    nb.cells = cells
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _executed(notebook: nbformat.NotebookNode, scratch: Path, name: str, unsandboxed, backend):
    """The notebook's outputs from a run in a sandbox: ``(notebook with outputs, what went wrong or '')``.

    Only outputs cross back, cell by cell, onto the notebook as it was judged; a notebook that did not run
    to the end keeps the outputs it has (none if its kernel died).
    """
    run = sandbox.run(["jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                       f"--ExecutePreprocessor.timeout={_cell_timeout()}", "--output", "executed.ipynb", name],
                      scratch, NOTEBOOK_LIMITS, env={"NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg"},
                      unsandboxed=unsandboxed, backend=backend)
    path = scratch / "executed.ipynb"
    result = copy.deepcopy(notebook)
    try:
        if path.is_symlink() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError("too large")
        ran = nbformat.read(path, as_version=4)
        nbformat.validate(ran)
        if [c.get("id") for c in ran.cells] != [c.get("id") for c in notebook.cells]:
            raise ValueError("its cells changed while it ran")
    except (OSError, ValueError, nbformat.ValidationError) as err:
        return result, run.report() or f"no executed notebook ({err})"
    for cell, out in zip(result.cells, ran.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = out.outputs, out.execution_count
    return result, run.report()


def _cell_timeout() -> int:
    from fedlab.validate import CELL_TIMEOUT_S
    return CELL_TIMEOUT_S


def _with_verdicts(notebook, verdicts: dict):
    """The graded test cells' outputs: their printed lines, then the judge's failure (if any) as the error."""
    for cell in notebook.cells:
        verdict = verdicts.get(_meta(cell).get("grade_id"))
        if cell.cell_type != "code" or verdict is None:
            continue
        cell.outputs = [o for o in cell.outputs if o.output_type == "stream" and o.get("name") == "stdout"]
        if not verdict.passed:
            cell.outputs.append(nbformat.v4.new_output("error", ename="AssertionError", evalue=verdict.message,
                                                       traceback=[f"AssertionError: {verdict.message}"]))
    return notebook


def judge_submission(klass: Classroom, assignment: str, student: str, unsandboxed=False, backend=None) -> dict:
    """Judge one submission into ``judged/<student>/<assignment>/``: ``{notebook: what went wrong in its run}``."""
    judge = judges.judge(assignment)
    submitted = klass.root / "submitted" / student / assignment
    out = klass.root / JUDGED / student / assignment
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for extra in ("timestamp.txt",):
        if (submitted / extra).is_file() and not (submitted / extra).is_symlink():
            shutil.copy(submitted / extra, out / extra)
    found = {}
    for name, release in klass.released(assignment).items():
        path = submitted / f"{name}.ipynb"
        if not path.is_file() or path.is_symlink():
            continue
        notebook = reset_from_release(nbformat.read(path, as_version=4), release)
        with tempfile.TemporaryDirectory(prefix=f"submission-{student}-") as scratch, \
                tempfile.TemporaryDirectory(prefix=f"judged-{student}-") as judged:
            scratch, judged = Path(scratch), Path(judged) / path.name
            nbformat.write(notebook, scratch / path.name)
            nbformat.write(notebook, judged)  # what the judge asks about, out of the running notebook's reach
            for history in submitted.glob("*.history.json"):
                if history.is_file() and not history.is_symlink():
                    shutil.copy(history, scratch / history.name)
                    shutil.copy(history, out / history.name)
            with ThreadPoolExecutor(max_workers=2) as pool:  # the notebook runs while the judge asks
                running = pool.submit(_executed, notebook, scratch, path.name, unsandboxed, backend)
                verdicts = {}
                if judge and path.name == judge.NOTEBOOK:
                    for grade_id, plan in judge.PLANS.items():  # one sandbox per graded test cell
                        verdicts.update(judges.ask(judged, {grade_id: plan()},
                                                   unsandboxed=unsandboxed, backend=backend))
                executed, note = running.result()
        nbformat.write(_with_verdicts(executed, verdicts), out / path.name)
        found[name] = note
    return found


def autograde(klass: Classroom, assignment: str, student=None, unsandboxed=False, backend=None) -> dict:
    """Safe-grade every submission of ``assignment`` (or ``student``'s); ``{student: why not graded}``."""
    if unsandboxed:
        print(UNSANDBOXED_WARNING)
    elif not sandbox.available():
        raise sandbox.SandboxUnavailable(f"autograde {assignment}: no sandbox works on this machine, so "
                                         f"submissions cannot be graded safely: {sandbox.HOW_TO_GET_ONE}")
    folder = klass.root / "submitted"
    students = [student] if student else sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())
    failures = {}
    for who in students:
        odd = [p.name for p in (folder / who / assignment).glob("*.ipynb") if p.is_symlink() or not p.is_file()]
        if odd:  # never read: a link may point at the solutions, a device or a pipe may never end
            failures[who] = f"{odd[0]} is a link or not a regular file; ask for a new copy"
            continue
        try:
            for path in (folder / who / assignment).glob("*.ipynb"):
                nbformat.validate(nbformat.read(path, as_version=4))
        except Exception:  # noqa: BLE001 not a notebook: named with the reason, the others are graded
            failures[who] = klass._why_not_graded(who, assignment)
            continue
        for name, note in judge_submission(klass, assignment, who, unsandboxed=unsandboxed, backend=backend).items():
            if note:
                print(f"{who}: {name}.ipynb did not run to its end ({note}); its test cells are judged all the same")
        # the trusted grader: nbgrader scores the judged copy without running any of it
        proc = klass.nbgrader("autograde", assignment, "--student", who, "--force",
                              f"--CourseDirectory.submitted_directory={JUDGED}",
                              *(f"--Autograde.sanitize_preprocessors={p}" for p in SANITIZE),
                              *(f"--Autograde.autograde_preprocessors={p}" for p in SCORE))
        if proc.returncode:
            raise NbgraderError(f"nbgrader autograde {assignment} --student {who} failed:\n{proc.stderr[-3000:]}")
    return failures


def grade(klass: Classroom, assignment: str, student=None, env=None, unsandboxed=False) -> dict:
    """Autograde ``assignment``: safely where it has a judge, else by nbgrader with its hidden tests (saying so).

    ``{student: why not graded}``. Used by ``python -m course autograde`` and ``make demo``; ``env`` is
    the environment of the unsandboxed nbgrader path (a sandbox sets its own).
    """
    if judges.judge(assignment) is None:
        print(f"note: {assignment} has no judge yet; nbgrader autograde runs it unsandboxed, hidden tests in "
              f"the student's kernel")
        return klass.autograde(assignment, env=env, student=student)
    return autograde(klass, assignment, student, unsandboxed=unsandboxed)

