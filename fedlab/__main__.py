"""Command line: ``python -m fedlab doctor`` and ``python -m fedlab validate NOTEBOOK``."""
import argparse
import sys

parser = argparse.ArgumentParser(prog="python -m fedlab", description="fedlab course helper")
commands = parser.add_subparsers(dest="command", required=True)
commands.add_parser("doctor", help="print versions, device, data and quick mode")
check = commands.add_parser("validate", help="run a notebook as the grader does; exit 1 if a test or check fails, "
                                             "a cell runs out of time or raises")
check.add_argument("notebook", help="the notebook to validate, e.g. fedavg.ipynb")
args = parser.parse_args()
if args.command == "doctor":
    from . import doctor
    print(doctor.report())
else:
    from . import validate
    sys.exit(validate.main(args.notebook))
