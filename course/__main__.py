"""Instructor commands: ``python -m course release`` and ``python -m course demo``."""
import argparse
import os
import sys
from pathlib import Path

from . import demo
from .classroom import Classroom


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="regenerate notebooks/ from solutions/ (nbgrader generate_assignment)")
    run = sub.add_parser("demo", help="release, then autograde a demo class and print its grades")
    run.add_argument("--out", type=Path, default=Path("build/demo"), help="the demo class folder (rebuilt)")
    args = parser.parse_args(argv)
    if args.command == "release":
        demo.release(Classroom())
        return 0
    os.environ.setdefault("FEDLAB_DATA", "synthetic")  # the demo runs offline unless told otherwise
    return demo.main(args.out.resolve())


if __name__ == "__main__":
    sys.exit(main())
