"""Give a deleted graded cell back to a submission, in its place, so it is graded.

nbgrader 0.9.6 (``OverwriteCells.add_missing_cells``) re-inserts a deleted grade cell after the
cell that precedes it in the source, and crashes with a KeyError, failing the whole submission,
when that cell is a read-only cell or was deleted too. Our notebooks put a read-only check cell
before every graded test, so that is the usual case. This subclass, run by ``nbgrader
autograde`` (see nbgrader_config.py), inserts it after the nearest source cell the submission
still has.
"""
import uuid

from nbgrader.preprocessors import OverwriteCells


def _positions(nb) -> dict:
    """``{grade_id: index}`` of the nbgrader cells a notebook holds."""
    return {cell.metadata["nbgrader"]["grade_id"]: i for i, cell in enumerate(nb.cells)
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


class RestoreMissingCells(OverwriteCells):
    """OverwriteCells that puts a missing grade cell back after its nearest surviving predecessor."""

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        cells = {cell.name: cell for cell in source_nb.source_cells}
        solutions = {cell.name for cell in source_nb.solution_cells}
        points = {cell.name: cell.max_score for cell in source_nb.grade_cells}
        for name in sorted(set(points) - set(_positions(nb)), key=order.index):
            self.log.warning("Missing grade cell %s encountered, adding it back to the notebook", name)
            present = _positions(nb)
            before = [other for other in order[:order.index(name)] if other in present]
            at = present[before[-1]] + 1 if before else 0
            cell = self.missing_cell_transform(cells[name], points[name], is_solution=name in solutions)
            cell.id = f"restored-{uuid.uuid4().hex[:8]}"  # nbformat 4.5 wants every cell to have an id
            nb.cells.insert(at, cell)
        return nb, resources
