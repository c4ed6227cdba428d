"""nbgrader configuration of the course: sources in solutions/, student release in notebooks/.

Every path is anchored at this file, so nbgrader commands work from any folder, and a class
directory elsewhere (the demo class in build/demo) loads this file and moves only its paths.
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # nbgrader imports the course's preprocessors from course/

c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.course_id = "fedlab"
c.CourseDirectory.root = str(HERE)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
(HERE / "build").mkdir(exist_ok=True)
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'build' / 'gradebook.db'}"

# A student who deletes a graded test cell gets it back, and is graded on it. nbgrader 0.9.6 puts it
# back only when the cell before it is a graded or solution cell; course/restore.py fixes that.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "course.restore.RestoreMissingCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Under nbgrader the notebooks run in quick mode (NBGRADER_EXECUTION): each cell is written to
# finish in 10 s on an idle 2-core machine (benchmarks/notebook_cells.py); the limit leaves room for
# a slow or busy grading machine, while an endless loop still costs one minute. `python -m fedlab
# validate` applies the same limit.
from fedlab.validate import CELL_TIMEOUT_S  # noqa: E402

c.Execute.timeout = CELL_TIMEOUT_S

# nbgrader scores a test cell 0 when anything reached stderr, so one library warning (torch,
# matplotlib, a progress bar) would fail a right answer. Errors decide the grade; stderr does not.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# Full-run histories (<name>.history.json) are the student's: never let autograding overwrite a
# submitted one with a copy from solutions/ (`python -m course release` also keeps them out of notebooks/).
c.Autograde.exclude_overwriting = {
    folder.name: [p.name for p in folder.glob("*.history.json")]
    for folder in (HERE / "solutions").glob("*") if folder.is_dir()
}

# Released notebooks carry no trace of the run that made the solutions' outputs (execution timestamps).
c.ClearOutput.remove_metadata_fields = {"collapsed", "scrolled", "execution"}

# Where students install fedlab from (Colab, a fresh laptop): the setup cell of every released notebook
# installs this pip requirement when fedlab is missing. Set it before releasing, e.g. a tag of the course's
# repository "git+https://<host>/<you>/fedlab.git@v0.1.0", a wheel URL, or "fedlab-course" once published;
# `python -m course release --install-from SPEC` overrides it. Empty: the setup cell says none was set.
c.StampRelease.install_from = ""
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "course.stamp.StampRelease",  # before the checksums, so nbgrader records the stamped setup cell
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# `nbgrader zip_collect ASSIGNMENT` reads the archives `python -m fedlab pack` writes (put them in
# downloaded/ASSIGNMENT/archive/): every file in them is named <student id>+<file name>.
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[A-Za-z0-9][A-Za-z0-9_.-]*)\+(?P<file_id>[^/+]+)$"
c.FileNameCollectorPlugin.valid_ext = [".ipynb", ".json"]

# What a run of a solution notebook leaves beside it is not part of an assignment: the models a live run saves
# (05's fedlab_live/) never go into a release or get copied into a submission.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "fedlab_live"]
