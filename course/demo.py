"""The course's main job: release, a demo class that hands in, autograding, feedback and grades.

It runs the instructor's whole workflow with nbgrader on every assignment under ``solutions/``,
offline on the synthetic stand-in, and checks that each demo submission scored what it must. Grading is
the safe autograde (course/safe_grade.py): a sandbox per submission, the assignment's judge outside it.
"""
import csv
import shutil
import time
from pathlib import Path

from . import safe_grade
from .classroom import CONFIG, COURSE, Classroom
from .submissions import demo_submissions


def release(course: Classroom, install_from=None) -> None:
    """Regenerate ``notebooks/`` from ``solutions/`` (``install_from``: see :meth:`Classroom.release`)."""
    for assignment in course.assignments():
        course.release(assignment, install_from=install_from)
        print(f"released {assignment} -> {course.release_dir.relative_to(course.root) / assignment}")


def build(out: Path, course_root: Path = COURSE) -> tuple:
    """Make the demo class in ``out``, hand in, autograde and give feedback; ``(class, expected, failures)``.

    ``expected`` maps ``(student, assignment)`` to the score each submission must get.
    """
    if out.exists() and any(out.iterdir()) and not (out / CONFIG).exists():
        raise SystemExit(f"{out} is not a demo class folder; give --out an empty or a demo folder")
    shutil.rmtree(out, ignore_errors=True)
    klass = Classroom.create(out, course_root)
    expected, failures = {}, {}
    for assignment in klass.assignments():
        klass.release(assignment)
        sources, released = klass.source(assignment), klass.released(assignment)
        handed_in = {}
        for name, source_nb in sources.items():
            for sub in demo_submissions(released[name], source_nb):
                handed_in.setdefault(sub.student, {})[f"{name}.ipynb"] = sub.notebook
                expected[sub.student, assignment] = expected.get((sub.student, assignment), 0.0) + sub.expected
                print(f"{assignment}/{name}: {sub.student} hands in {sub.why}")
        for student, files in handed_in.items():
            klass.submit(student, assignment, files)
        start = time.monotonic()
        for student, why in safe_grade.autograde(klass, assignment).items():
            failures[student, assignment] = why
        klass.feedback(assignment)
        print(f"autograded {assignment}: {len(handed_in)} submissions in {time.monotonic() - start:.0f} s")
    return klass, expected, failures


def write_grades(grades: list, path: Path) -> None:
    """``grades.csv``: student, assignment, score, max_score (score empty: not graded), histories_flagged."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", "score", "max_score", "histories_flagged"])
        for g in grades:
            writer.writerow([g.student, g.assignment, "" if g.score is None else f"{g.score:g}", f"{g.max_score:g}",
                             "; ".join(g.notes)])


def table(grades: list) -> str:
    """Students down, assignments across, ``score / max`` in each cell; then each flagged history, and (!) at
    its score (a history that is not a full run: look at its plots before grading them)."""
    students = sorted({g.student for g in grades})
    assignments = sorted({g.assignment for g in grades})
    cell = {(g.student, g.assignment): ("not graded" if g.score is None else f"{g.score:g} / {g.max_score:g}")
            for g in grades}
    for g in grades:
        if g.notes and g.score is not None:
            cell[g.student, g.assignment] += " (!)"
    rows = [["student", *assignments]] + [[s, *(cell.get((s, a), "-") for a in assignments)] for s in students]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    flagged = [f"(!) {g.student} {g.assignment}: {note}" for g in grades for note in g.notes]
    return "\n".join(["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows] + flagged)


def main(out: Path) -> int:
    start = time.monotonic()
    release(Classroom())
    klass, expected, failures = build(out)
    grades = klass.grades()
    write_grades(grades, out / "grades.csv")
    print(f"\nAutograded scores (written answers and plots are graded by hand, not included here):\n{table(grades)}")
    print(f"\nwritten {out / 'grades.csv'}; feedback in {out / 'feedback'}; "
          f"{time.monotonic() - start:.0f} s in all")
    wrong = [f"{g.student} / {g.assignment}: expected {expected[g.student, g.assignment]:g}, got {g.score}"
             for g in grades if g.score != expected.get((g.student, g.assignment))]
    for (student, assignment), why in failures.items():
        print(f"NOT GRADED {student} / {assignment}: {why}")
    for line in wrong:
        print(f"UNEXPECTED {line}")
    return 1 if wrong or failures else 0
