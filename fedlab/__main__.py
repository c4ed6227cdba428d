"""Command line: ``python -m fedlab doctor``."""
import argparse

from . import doctor

parser = argparse.ArgumentParser(prog="python -m fedlab", description="fedlab course helper")
parser.add_argument("command", choices=["doctor"], help="doctor: print versions, device, data and quick mode")
args = parser.parse_args()
print(doctor.report())
