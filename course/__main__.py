"""Instructor commands: ``python -m course release|autograde|demo``."""
import argparse
import os
import sys
from pathlib import Path

from fedlab import DataSourceError

from . import demo, safe_grade
from .classroom import Classroom
from .sandbox import SandboxUnavailable


def autograde(assignment: str, student=None, class_dir=None, unsandboxed=False,
              notebook_timeout=safe_grade.NOTEBOOK_TIMEOUT_S) -> int:
    """Grade the submissions of ``assignment`` (all, or ``student``'s); print their scores.

    ``class_dir``: a class folder made by :meth:`Classroom.create` (the demo class, a test class) instead of
    the course's own. Every submission runs in a sandbox and its judge scores it (course/safe_grade.py);
    ``unsandboxed`` runs its submissions without a sandbox; ``notebook_timeout`` bounds each notebook's run.
    """
    course = Classroom(class_dir) if class_dir else Classroom()
    if assignment not in course.assignments():
        print(f"no assignment {assignment!r}; the course has {', '.join(course.assignments())}", file=sys.stderr)
        return 2
    try:
        failures = safe_grade.autograde(course, assignment, student, unsandboxed=unsandboxed,
                                        notebook_timeout=notebook_timeout)
    except (SandboxUnavailable, DataSourceError) as err:  # no sandbox, or no data the notebooks could load
        print(err, file=sys.stderr)
        return 2
    grades = [g for g in course.grades() if g.assignment == assignment and student in (None, g.student)]
    print(demo.table(grades))
    for who, why in failures.items():
        print(f"NOT GRADED {who}: {why}")
    return 1 if failures else 0


def _seconds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of seconds, at least 1, e.g. 900")
    return int(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="regenerate notebooks/ from solutions/ (nbgrader generate_assignment)")
    rel.add_argument("--install-from", metavar="SPEC", default=None,
                     help="pip requirement the notebooks' setup cell installs fedlab from (overrides "
                          "c.StampRelease.install_from in nbgrader_config.py)")
    grade = sub.add_parser("autograde", help="autograde submitted/<student>/ASSIGNMENT and print the scores")
    grade.add_argument("assignment")
    grade.add_argument("--student", default=None, help="only this student (default: every new submission)")
    grade.add_argument("--class-dir", type=Path, default=None,
                       help="a class folder such as build/demo (default: this course's own submitted/)")
    grade.add_argument("--unsandboxed", action="store_true",
                       help="run submissions without a sandbox (they can then read and change everything the "
                            "grader can); only where no sandbox can be had, for trusted submissions")
    grade.add_argument("--notebook-timeout", type=_seconds, default=safe_grade.NOTEBOOK_TIMEOUT_S, metavar="S",
                       help="seconds one notebook may run in its sandbox before it is stopped (default "
                            f"{safe_grade.NOTEBOOK_TIMEOUT_S}); its tests are judged all the same")
    run = sub.add_parser("demo", help="release, then autograde a demo class and print its grades")
    run.add_argument("--out", type=Path, default=Path("build/demo"), help="the demo class folder (rebuilt)")
    args = parser.parse_args(argv)
    if args.command == "release":
        demo.release(Classroom(), install_from=args.install_from)
        return 0
    if args.command == "autograde":
        return autograde(args.assignment, args.student, args.class_dir, args.unsandboxed, args.notebook_timeout)
    os.environ.setdefault("FEDLAB_DATA", "synthetic")  # the demo runs offline unless told otherwise
    return demo.main(args.out.resolve())


if __name__ == "__main__":
    sys.exit(main())
