"""What a source notebook asks: its student functions and the graded test cells that check each.

Every assignment follows one layout: a solution cell (what the student writes) is followed by
the graded test cells that check it. Reading that layout lets the course tools build
submissions and know, without running anything, what each one must score.
"""
import ast
import re
from dataclasses import dataclass, field

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    """An autograded test cell: graded code the student cannot change."""
    meta = nbgrader(cell)
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def is_solution(cell) -> bool:
    """A cell the student writes (code or a written answer)."""
    return nbgrader(cell).get("solution", False)


@dataclass
class Task:
    """One solution cell and the test cells after it, up to the next solution cell."""
    cell: str                       # grade_id of the solution code cell ("" for tests before any)
    functions: tuple = ()           # the top-level functions that cell defines
    tests: dict = field(default_factory=dict)  # test grade_id -> points

    @property
    def points(self) -> float:
        return sum(self.tests.values())


def tasks(nb) -> list:
    """The tasks of a source notebook, in notebook order."""
    found = [Task(cell="")]
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution(cell):
            found.append(Task(cell=nbgrader(cell)["grade_id"], functions=functions(solution_source(cell.source))))
        elif is_test(cell):
            found[-1].tests[nbgrader(cell)["grade_id"]] = float(nbgrader(cell).get("points", 0))
    return [t for t in found if t.cell or t.tests]


def independent(nb) -> list:
    """The tasks whose functions no other graded cell uses, in order.

    Getting one of these wrong costs exactly its own tests, which is what lets a submission's
    expected score be summed task by task.
    """
    graded = [c for c in nb.cells if c.cell_type == "code" and (is_solution(c) or is_test(c))]
    found = []
    for task in tasks(nb):
        own = {task.cell, *task.tests}
        others = "\n".join(c.source for c in graded if nbgrader(c)["grade_id"] not in own)
        if task.functions and task.tests and not any(re.search(rf"\b{f}\b", others) for f in task.functions):
            found.append(task)
    return found


def max_autograded(nb) -> float:
    """Points the autograder can give: the sum over the test cells."""
    return sum(t.points for t in tasks(nb))


def solution_source(source: str) -> str:
    """A solution cell's code as a student who solved it would submit it (markers removed)."""
    return "\n".join(line for line in source.split("\n") if line.strip() not in SOLUTION_MARKERS)


def functions(source: str) -> tuple:
    """Names of the top-level functions ``source`` defines (none if it is not plain Python)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    return tuple(node.name for node in tree.body if isinstance(node, ast.FunctionDef))


def wrong_answer(source: str) -> str:
    """``source`` with every top-level function kept by name and signature but returning None.

    A plausible wrong submission: it runs and defines what the tests call, and answers nothing.
    """
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            node.body = [ast.Return(value=ast.Constant(value=None))]
    return ast.unparse(ast.fix_missing_locations(tree))
