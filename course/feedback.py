"""Feedback that shows students their results without giving away the hidden tests.

nbgrader restores hidden tests into the autograded notebook and, by design, prints them in the
feedback HTML (jupyter/nbgrader#917); a failing hidden assert would also show its code in the
traceback. This preprocessor, run by ``nbgrader generate_feedback`` (see nbgrader_config.py),
removes each hidden-test region and shortens the tracebacks of those cells to the error's own
message, so a student reads what failed, never the test that found it.
"""
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests

HIDDEN_NOTE = "# (hidden tests ran here; their result is below)"


class HideHiddenTests(ClearHiddenTests):
    """Strip hidden-test code from graded cells; keep each error's type and message."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        if not self._remove_hidden_test_region(cell):
            return cell, resources
        cell.source = cell.source.rstrip("\n") + ("\n" if cell.source.strip() else "") + HIDDEN_NOTE
        for output in cell.outputs:
            if output.output_type == "error":
                message = f"{output.ename}: {output.evalue}" if output.evalue else output.ename
                output.traceback = [f"\x1b[0;31m{message}\x1b[0m"]
        return cell, resources
