"""The safe autograde: every submission runs in its own sandbox, the judge scores outside, the grader writes.

Used by ``python -m course autograde ASSIGNMENT`` and ``make demo``; every assignment has a judge (course/judges).
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
NOTEBOOK_TIMEOUT_S = 900  # one whole notebook in quick mode, with room (``--notebook-timeout``)
MAX_NOTEBOOK_BYTES = 64 * 2**20
MAX_OUTPUT_CHARS = 20_000  # what one output keeps of its text, in the graded notebook and the feedback
MAX_OUTPUT_DATA = 2 * 2**20  # a rich output (a plot) larger than this is replaced by a line saying so
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


def _executed(notebook: nbformat.NotebookNode, scratch: Path, name: str, unsandboxed, backend,
              timeout_s=NOTEBOOK_TIMEOUT_S):
    """The notebook's outputs from a run in a sandbox: ``(notebook with outputs, what went wrong or '')``.

    Only outputs cross back, cell by cell and each cut to size, onto the notebook as it was judged; a
    notebook that did not run to the end (its kernel died, or ``timeout_s`` ran out) keeps no outputs.
    """
    run = sandbox.run(["jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                       f"--ExecutePreprocessor.timeout={_cell_timeout()}",  # a cell past it fails alone, as in
                       "--ExecutePreprocessor.interrupt_on_timeout=True",   # nbgrader: the next cells still run
                       "--output", "executed.ipynb", name],
                      scratch, sandbox.Limits(wall_s=timeout_s, cpu_s=2 * timeout_s),
                      env={"NBGRADER_EXECUTION": "autograde"},  # the kernel's own inline plots
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
            cell.outputs, cell.execution_count = [_cut(o) for o in out.outputs], out.execution_count
    return result, run.report()


def _cut(output):
    """One output at most MAX_OUTPUT_CHARS of text, its rich data dropped past MAX_OUTPUT_DATA: a 50 MB line
    printed by a submission must not go whole into the graded notebook, the gradebook and the feedback."""
    def short(text):
        text = "".join(text) if isinstance(text, list) else str(text)
        return text if len(text) <= MAX_OUTPUT_CHARS else \
            text[:MAX_OUTPUT_CHARS] + f"\n... [output cut by the grader: {len(text):,} characters]\n"
    if output.output_type == "stream":
        output.text = short(output.text)
    elif output.output_type == "error":
        output.ename, output.evalue = short(output.ename)[:200], short(output.evalue)
        output.traceback = [short(line) for line in output.traceback[:100]]
    elif "data" in output:
        size = sum(len(v) if isinstance(v, str) else len(str(v)) for v in output.data.values())
        if size > MAX_OUTPUT_DATA:
            output.data = {"text/plain": f"[output cut by the grader: {size:,} characters of "
                                         f"{', '.join(sorted(output.data))}]"}
            output.metadata = {}
        elif "text/plain" in output.data:
            output.data["text/plain"] = short(output.data["text/plain"])
    return output


def before(notebook, grade_id):
    """The notebook up to (not with) the cell ``grade_id``: what a test cell sees when it runs in order, so a
    later cell that kills its interpreter or never ends costs the tests after it only."""
    ids = [_meta(c).get("grade_id") for c in notebook.cells]
    nb = copy.deepcopy(notebook)
    if grade_id in ids:
        nb.cells = nb.cells[:ids.index(grade_id)]
    return nb


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


def judge_submission(klass: Classroom, assignment: str, student: str, unsandboxed=False, backend=None,
                     notebook_timeout=NOTEBOOK_TIMEOUT_S) -> dict:
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
            scratch, judged = Path(scratch), Path(judged) / path.name  # what the judge asks about: out of the
            nbformat.write(notebook, scratch / path.name)                # running notebook's reach
            for history in submitted.glob("*.history.json"):
                if history.is_file() and not history.is_symlink():
                    shutil.copy(history, scratch / history.name)
                    shutil.copy(history, out / history.name)
            with ThreadPoolExecutor(max_workers=2) as pool:  # the notebook runs while the judge asks
                running = pool.submit(_executed, notebook, scratch, path.name, unsandboxed, backend,
                                      notebook_timeout)
                verdicts = {}
                if path.name == judge.NOTEBOOK:
                    for grade_id, plan in judge.PLANS.items():  # one sandbox per graded test cell
                        nbformat.write(before(notebook, grade_id), judged)
                        verdicts.update(judges.ask(judged, {grade_id: plan()},
                                                   unsandboxed=unsandboxed, backend=backend))
                executed, note = running.result()
        nbformat.write(_with_verdicts(executed, verdicts), out / path.name)
        found[name] = note
    return found


def _fill_cache(releases):
    """Make (or fetch) into the cache, here, the data sets the assignment's notebooks load: a sandbox sees the
    cache read-only and has no network, so a notebook there can only read what the grader prepared."""
    code = "\n".join(c.source for nb in releases for c in nb.cells if c.cell_type == "code")
    for name in ("cifar10", "cifar100"):
        if f"load_{name}(" in code:
            judges.dataset(name)


def autograde(klass: Classroom, assignment: str, student=None, unsandboxed=False, backend=None,
              notebook_timeout=NOTEBOOK_TIMEOUT_S) -> dict:
    """Safe-grade every submission of ``assignment`` (or ``student``'s); ``{student: why not graded}``.

    ``notebook_timeout``: seconds one notebook may run in its sandbox (its tests are judged all the same).
    """
    if judges.judge(assignment) is None:
        raise ValueError(f"autograde {assignment}: it has no judge; add course/judges/<module>.py and name it in "
                         f"course.judges.JUDGES (its hidden tests live there, never in the notebook)")
    if unsandboxed:
        print(UNSANDBOXED_WARNING)
    elif not sandbox.available():
        raise sandbox.SandboxUnavailable(f"autograde {assignment}: no sandbox works on this machine, so "
                                         f"submissions cannot be graded safely: {sandbox.HOW_TO_GET_ONE}")
    _fill_cache(klass.released(assignment).values())
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
        for name, note in judge_submission(klass, assignment, who, unsandboxed=unsandboxed, backend=backend,
                                           notebook_timeout=notebook_timeout).items():
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
