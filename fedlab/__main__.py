"""Command line: ``python -m fedlab doctor``, ``python -m fedlab validate NOTEBOOK``, ``python -m fedlab pack NOTEBOOK``."""
import argparse
import sys

parser = argparse.ArgumentParser(prog="python -m fedlab", description="fedlab course helper")
commands = parser.add_subparsers(dest="command", required=True)
commands.add_parser("doctor", help="print versions, device, data and quick mode")
check = commands.add_parser("validate", help="run a notebook as the grader does; exit 1 if a test or check fails, "
                                             "a cell runs out of time or raises")
check.add_argument("notebook", help="the notebook to validate, e.g. fedavg.ipynb")
pack = commands.add_parser("pack", help="validate a notebook, then archive it with its saved histories for hand-in")
pack.add_argument("notebook", help="your notebook, e.g. fedavg.ipynb")
pack.add_argument("--student", default=None, help="your student id (asked once and remembered if not given)")
pack.add_argument("--out", default=None, help="folder for the archive (default: the notebook's folder)")
pack.add_argument("--no-validate", action="store_true", help="skip running the notebook as the grader will")
args = parser.parse_args()

if args.command == "doctor":
    from . import doctor
    print(doctor.report())
elif args.command == "validate":
    from . import validate
    sys.exit(validate.main(args.notebook))
else:
    from .handin import PackError, pack as pack_notebook
    try:
        pack_notebook(args.notebook, student=args.student, out=args.out, validate=not args.no_validate)
    except PackError as err:
        print(f"python -m fedlab pack: {err}", file=sys.stderr)
        sys.exit(2)
