"""An nbgrader course directory driven through nbgrader's own command line.

The course itself is one (the repository: sources in ``solutions/``, release in ``notebooks/``);
:meth:`Classroom.create` makes another elsewhere (the demo class, a test class) that reads the
course's ``nbgrader_config.py`` and keeps its own release, submissions and sqlite gradebook.
Running the real ``nbgrader`` commands is the point: what works here works for an instructor.
"""
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import histories

COURSE = Path(__file__).resolve().parent.parent
CONFIG = "nbgrader_config.py"
COURSE_ID = "fedlab"  # as nbgrader_config.py names it


@dataclass
class Grade:
    """One student's autograded result on one assignment (test cells only; written answers are manual)."""
    student: str
    assignment: str
    score: float | None       # None: the submission could not be graded
    max_score: float
    notes: tuple = ()         # handed-in histories that are not a full run (course/histories.py)


class NbgraderError(RuntimeError):
    """An nbgrader command failed for a reason that is not one student's submission."""


class Classroom:
    def __init__(self, root: Path = COURSE, course: Path = COURSE):
        self.root, self.course = Path(root).resolve(), Path(course).resolve()
        own = self.root == self.course  # the course itself keeps its state under build/
        self.release_dir = self.course / "notebooks" if own else self.root / "release"
        self.db = self.course / "build" / "gradebook.db" if own else self.root / "gradebook.db"
        self.logs = (self.course / "build" if own else self.root) / "logs"

    @classmethod
    def create(cls, root: Path, course: Path = COURSE) -> "Classroom":
        """A new class in ``root`` for the course in ``course``: same config, its own files."""
        root, course = Path(root).resolve(), Path(course).resolve()
        root.mkdir(parents=True, exist_ok=True)
        (root / CONFIG).write_text(
            '"""A class of the fedlab course: the course\'s configuration, with this folder\'s files."""\n'
            "c = get_config()  # noqa: F821\n"
            f"load_subconfig({str(course / CONFIG)!r})  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(root)!r}\n"
            f"c.CourseDirectory.source_directory = {str(course / 'solutions')!r}\n"
            'c.CourseDirectory.release_directory = "release"\n'
            f"c.CourseDirectory.db_url = {'sqlite:///' + str(root / 'gradebook.db')!r}\n")
        return cls(root, course)

    # ------------------------------------------------------------------ the course's notebooks

    def assignments(self) -> list:
        """Every assignment: each folder of ``solutions/`` that holds a notebook."""
        return sorted(p.name for p in (self.course / "solutions").iterdir()
                      if p.is_dir() and any(p.glob("*.ipynb")))

    def source(self, assignment: str) -> dict:
        """``{notebook name: source notebook}`` of an assignment."""
        return {p.stem: nbformat.read(p, as_version=4)
                for p in sorted((self.course / "solutions" / assignment).glob("*.ipynb"))}

    def released(self, assignment: str) -> dict:
        """``{notebook name: student notebook}`` as released."""
        return {p.stem: nbformat.read(p, as_version=4) for p in sorted((self.release_dir / assignment).glob("*.ipynb"))}

    # ------------------------------------------------------------------ nbgrader steps

    def nbgrader(self, *args: str, env=None) -> subprocess.CompletedProcess:
        """Run ``nbgrader args`` in this class; its log is kept under ``logs/``."""
        env = dict(os.environ if env is None else env)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader calls alembic
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.root, env=env,
                              capture_output=True, text=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / f"{'-'.join(args[:2])}.log").write_text(proc.stdout + proc.stderr)
        return proc

    def release(self, assignment: str, install_from=None) -> None:
        """``nbgrader generate_assignment``: write the student notebooks and record the assignment.

        ``install_from`` overrides the course's install source stamped into the notebooks (course/stamp.py).
        """
        stamp = () if install_from is None else (f"--StampRelease.install_from={install_from}",)
        self._check(self.nbgrader("generate_assignment", assignment, "--force", *stamp))
        for history in (self.release_dir / assignment).glob("*.history.json"):
            history.unlink()  # an instructor's full run is not the students' to start from
            print(f"release {assignment}: left out {history.name} (a history from solutions/)")

    def submit(self, student: str, assignment: str, files: dict) -> Path:
        """Put a student's files where ``nbgrader collect`` would: ``submitted/<student>/<assignment>/``.

        ``files`` maps file names to a notebook, text or bytes.
        """
        folder = self.root / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            if isinstance(content, nbformat.NotebookNode):
                nbformat.write(content, folder / name)
            elif isinstance(content, bytes):
                (folder / name).write_bytes(content)
            else:
                (folder / name).write_text(content)
        return folder

    def feedback(self, assignment: str) -> None:
        """``nbgrader generate_feedback``: an HTML report per graded student (judged: no hidden test in it)."""
        self._check(self.nbgrader("generate_feedback", assignment))

    def grades(self) -> list:
        """Every submission's autograded score, from the gradebook, with its flagged histories."""
        from nbgrader.api import Gradebook, MissingEntry

        rows = []
        releases = {a: list(self.released(a).values()) for a in self.assignments()}
        with Gradebook(f"sqlite:///{self.db}", COURSE_ID) as gb:
            for assignment in sorted(gb.assignments, key=lambda a: a.name):
                tests = {(nb.name, c.name): c.max_score for nb in assignment.notebooks for c in nb.grade_cells
                         if c.cell_type == "code" and c.name not in {s.name for s in nb.solution_cells}}
                for student in sorted(gb.students, key=lambda s: s.id):
                    try:
                        submission = gb.find_submission(assignment.name, student.id)
                    except MissingEntry:
                        continue
                    graded = all((self.root / "autograded" / student.id / assignment.name / f"{nb.name}.ipynb").exists()
                                 for nb in submission.notebooks)
                    score = sum(g.score for nb in submission.notebooks for g in nb.grades
                                if (nb.name, g.name) in tests)
                    folder = self.root / "submitted" / student.id / assignment.name
                    rows.append(Grade(student.id, assignment.name, score if graded else None,
                                      sum(tests.values()), tuple(histories.flags(folder, releases.get(assignment.name, [])))))
        return rows

    def cell_scores(self, student: str, assignment: str) -> dict:
        """``{test cell grade_id: score}`` of one graded submission."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.db}", COURSE_ID) as gb:
            submission = gb.find_submission(assignment, student)
            return {g.name: g.score for nb in submission.notebooks for g in nb.grades}

    # ------------------------------------------------------------------ helpers

    def _check(self, proc) -> None:
        if proc.returncode:
            raise NbgraderError(f"nbgrader {' '.join(proc.args[3:])} failed:\n{proc.stderr[-3000:]}")

    def _why_not_graded(self, student: str, assignment: str) -> str:
        for path in sorted((self.root / "submitted" / student / assignment).glob("*.ipynb")):
            try:
                nbformat.validate(nbformat.read(path, as_version=4))
            except Exception as err:  # unreadable JSON or not a notebook: say which file and why
                reason = str(err).strip().splitlines()[0][:200]
                return f"{path.name} is not a valid notebook ({type(err).__name__}: {reason}); ask for a new copy"
        return f"nbgrader could not grade it; see {self.logs / f'autograde-{assignment}.log'}"

