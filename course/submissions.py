"""Student submissions made from the release and the solution, each with the score it must get.

The demo class hands in three per assignment: the full solution, the untouched release, and a
partly correct notebook (every other student function right, the rest wrong). Their expected
autograded scores follow from the notebook layout (:mod:`course.tasks`).
"""
import copy
from dataclasses import dataclass

from .tasks import independent, is_solution, max_autograded, nbgrader, solution_source, tasks, wrong_answer


@dataclass
class Submission:
    student: str
    notebook: object          # the nbformat notebook handed in
    expected: float           # its autograded score
    why: str                  # what it is, in a few words


def answered(release_nb, source_nb, wrong=()) -> object:
    """The release notebook with every solution cell answered from ``source_nb``.

    Solution code cells named in ``wrong`` get :func:`course.tasks.wrong_answer` instead.
    """
    answers = {nbgrader(c)["grade_id"]: c for c in source_nb.cells if is_solution(c)}
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        if not is_solution(cell):
            continue
        grade_id = nbgrader(cell)["grade_id"]
        source = solution_source(answers[grade_id].source)
        cell.source = wrong_answer(source) if grade_id in wrong else source
    return nb


def partial_plan(source_nb):
    """Which solution cells the partly correct submission gets wrong, and the score that leaves.

    Of the tasks no other graded cell depends on, every second one (the 2nd, 4th, ...; the only
    one if there is one) is wrong; the score is the sum of the tests of the tasks that stay right.
    """
    candidates = independent(source_nb)
    wrong = {t.cell for t in (candidates[1::2] or candidates[:1])}
    return wrong, sum(t.points for t in tasks(source_nb) if t.cell not in wrong)


def demo_submissions(release_nb, source_nb) -> list:
    """The demo class's three submissions of one notebook."""
    wrong, partial_score = partial_plan(source_nb)
    return [
        Submission("solution", answered(release_nb, source_nb), max_autograded(source_nb),
                   "every answer from the solution"),
        Submission("untouched", copy.deepcopy(release_nb), 0.0, "the release as handed out"),
        Submission("partial", answered(release_nb, source_nb, wrong=wrong), partial_score,
                   f"wrong: {', '.join(sorted(wrong)) or 'nothing'}"),
    ]
