"""course/judges/fedavg.py tells right from wrong like 01's hidden tests, from outside the sandbox.

Every correct and wrong variant of tests/test_checks_fedavg.py is defined in one submission (the
release with the variants in its solution cells); the judge asks the responder in a real sandbox
about all of them in one run. Every correct
variant must pass; every wrong one must fail with a message that teaches (input used, expected,
got, or the exception raised) and holds the variant's phrase. The untouched release fails every
cell on every sandbox backend, and an answer that is no plain data fails its cell without stopping the judge.
"""
import inspect
from pathlib import Path

import nbformat
import numpy as np
import pytest

import test_checks_fedavg as variants
from course import judges, sandbox
from course.judges import fedavg

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "notebooks" / "01_fedavg" / fedavg.NOTEBOOK
TABLE = {"test_iid_sampler": (fedavg.iid_sampler_plan, variants.IID_CORRECT, variants.IID_WRONG),
         "test_average_weights": (fedavg.average_weights_plan, variants.AVG_CORRECT, variants.AVG_WRONG),
         "test_get_devices_for_round": (fedavg.get_devices_for_round_plan, variants.ROUND_CORRECT,
                                        variants.ROUND_WRONG)}


def submission(tmp_path, sources):
    """The release with ``sources`` as the code of its first solution cell."""
    nb = nbformat.read(RELEASE, as_version=4)
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    solution.source = sources
    path = tmp_path / fedavg.NOTEBOOK
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """``{variant name: Verdict}`` of every variant, judged by its cell's plan."""
    fns = [fn for _, right, wrong in TABLE.values() for fn in right + [fn for fn, _ in wrong]]
    path = submission(tmp_path_factory.mktemp("variants"),
                      "import copy\nimport math\n\n" + "\n\n".join(inspect.getsource(fn) for fn in fns))
    return judges.ask(path, {fn.__name__: plan(fn.__name__) for plan, right, wrong in TABLE.values()
                             for fn in right + [f for f, _ in wrong]})


@pytest.mark.parametrize("cell, fn", [pytest.param(cell, fn, id=f"{cell}-{fn.__name__}")
                                      for cell, (_, right, _) in TABLE.items() for fn in right])
def test_correct_answers_pass(cell, fn, verdicts):
    verdict = verdicts[fn.__name__]
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("cell, fn, phrase", [pytest.param(cell, fn, phrase, id=f"{cell}-{fn.__name__}")
                                              for cell, (_, _, wrong) in TABLE.items() for fn, phrase in wrong])
def test_wrong_answers_fail_and_teach(cell, fn, phrase, verdicts):
    verdict = verdicts[fn.__name__]
    assert not verdict.passed, "the judge passed a wrong answer"
    message = verdict.message
    assert ("expected" in message and "got" in message) or " raised " in message, message
    assert phrase in message, f"the message should say {phrase!r}:\n{message}"


@pytest.mark.parametrize("backend", ["unshare", "bwrap"])
def test_the_untouched_release_fails_every_cell(backend):
    if backend not in sandbox.available():
        pytest.skip(f"{backend} is not installed or does not work here")
    found = judges.ask(RELEASE, {cell: plan() for cell, plan in fedavg.PLANS.items()}, backend=backend)
    assert set(found) == set(fedavg.PLANS)
    for cell, verdict in found.items():
        assert not verdict.passed and "raised NotImplementedError" in verdict.message, (cell, verdict)


def test_answers_that_are_no_plain_data_fail_their_cell_only():
    """What a hostile responder could write: each malformed answer is a failed cell with a reason."""
    plan = fedavg.iid_sampler_plan()
    for raw in (None, "x", [{"answers": [{"value": {"kind": "pickle", "data": "..."}}]}] * 9,
                [{"answers": [{"value": {"kind": "tensor", "dtype": "torch.float32", "array": "missing"}}]}] * 9,
                [{"answers": [{"value": {"kind": "dict", "items": [[{"kind": "list", "items": []},
                                                                    {"kind": "const", "value": None}]]}}]}] * 9):
        verdict = judges._verdict(plan, raw, {"a0": np.zeros(3)})
        assert not verdict.passed and "could not be judged" in verdict.message, (raw, verdict)
