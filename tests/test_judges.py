"""course/judges tell right from wrong like the assignments' hidden tests, from outside the sandbox.

For every assignment with a judge, every correct and wrong variant of its tests/test_checks_*.py is
defined in one submission (the release with the variants, and the helpers they use, in its first
solution cell); the judge asks the responder in a real sandbox about all of them in one run. Every
correct variant must pass; every wrong one must fail with a message that teaches (input used,
expected, got, or the exception raised) and holds the variant's phrase. The untouched release fails
every cell on every sandbox backend, and an answer that is no plain data fails its cell without
stopping the judge.
"""
import ast
import inspect
from pathlib import Path

import nbformat
import numpy as np
import pytest

import test_checks_fedavg
import test_checks_live
import test_checks_malicious
import test_checks_noniid
import test_checks_quantization
from course import judges, sandbox
from course.judges import fedavg, live, malicious, noniid, quantization

ROOT = Path(__file__).resolve().parents[1]
# assignment -> (judge, variants' module, {graded test cell: (plan, correct variants, wrong (variant, phrase))})
TABLES = {
    "01_fedavg": (fedavg, test_checks_fedavg, {
        "test_iid_sampler": (fedavg.iid_sampler_plan, test_checks_fedavg.IID_CORRECT, test_checks_fedavg.IID_WRONG),
        "test_average_weights": (fedavg.average_weights_plan, test_checks_fedavg.AVG_CORRECT,
                                 test_checks_fedavg.AVG_WRONG),
        "test_get_devices_for_round": (fedavg.get_devices_for_round_plan, test_checks_fedavg.ROUND_CORRECT,
                                       test_checks_fedavg.ROUND_WRONG)}),
    "02_noniid": (noniid, test_checks_noniid, {  # test_group first: a wrong split may sort testset's labels
        "test_test_group": (noniid.test_group_plan, test_checks_noniid.GROUP_TEST_CORRECT,
                            test_checks_noniid.GROUP_TEST_WRONG),
        "test_noniid_group_sampler": (noniid.noniid_group_sampler_plan, test_checks_noniid.SAMPLER_CORRECT,
                                      test_checks_noniid.SAMPLER_WRONG),
        "test_get_devices_for_round_GROUP": (noniid.get_devices_for_round_group_plan,
                                             test_checks_noniid.GROUP_ROUND_CORRECT,
                                             test_checks_noniid.GROUP_ROUND_WRONG),
        "test_cifar_noniid_group_test": (noniid.cifar_noniid_group_test_plan, test_checks_noniid.SPLIT_CORRECT,
                                         test_checks_noniid.SPLIT_WRONG)}),
    "03_quantization": (quantization, test_checks_quantization, {
        "test_quantizer": (quantization.quantizer_plan, test_checks_quantization.Q_CORRECT,
                           test_checks_quantization.Q_WRONG),
        "test_dorefa_g": (quantization.dorefa_g_plan, test_checks_quantization.D_CORRECT,
                          test_checks_quantization.D_WRONG)}),
    "04_malicious": (malicious, test_checks_malicious, {
        "test_generate_fake_weights": (malicious.generate_fake_weights_plan, test_checks_malicious.FAKE_CORRECT,
                                       test_checks_malicious.FAKE_WRONG),
        "test_secure_average_weights": (malicious.secure_average_weights_plan, test_checks_malicious.SECURE_CORRECT,
                                        test_checks_malicious.SECURE_WRONG)}),
    "05_live": (live, test_checks_live, {
        "test_parallel_seeded_choice": (live.parallel_seeded_choice_plan, test_checks_live.SEEDED_CORRECT,
                                        test_checks_live.SEEDED_WRONG),
        "test_partition_dataset": (live.partition_dataset_plan, test_checks_live.PARTITION_CORRECT,
                                   test_checks_live.PARTITION_WRONG),
        "test_learning_rate_for_round": (live.learning_rate_for_round_plan, test_checks_live.SCHEDULE_CORRECT,
                                         test_checks_live.SCHEDULE_WRONG),
        "test_my_client": (live.my_client_plan, test_checks_live.CLIENT_CORRECT, test_checks_live.CLIENT_WRONG)}),
}
# where a judge asks the notebook's inputs, not the check's, a wrong variant's message names those instead
JUDGE_PHRASES = {"first_half": "one parallel_seeded_choice([dataset.data, dataset.labels]",  # not the check's 30 images
                 "RoundOffByOne": "self.current_round == 1", "ForgetsTheRound": "self.current_round == 1"}
IMPORTS = "import copy\nimport math\nimport random\nfrom collections import OrderedDict\n\nimport numpy as np\n" \
          "import torch\n\nimport fedlab\n"


def release(assignment):
    return ROOT / "notebooks" / assignment / TABLES[assignment][0].NOTEBOOK


def variant_sources(module):
    """The module's plain constants (``GROUPS``), functions (variants and the helpers they call, not its tests
    or fixtures), classes (05's clients) and aliases (``quantizer = q_...``); the notebook's own trainset and
    testset stay."""
    constants = [f"{name} = {obj!r}" for name, obj in vars(module).items()
                 if name.isupper() and isinstance(obj, (int, float, str, list, tuple, dict)) and _literal(obj)]
    functions = [(name, obj) for name, obj in vars(module).items()
                 if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("test_")]
    sources = [source for name, obj in functions if obj.__name__ == name
               and not (source := inspect.getsource(obj)).startswith("@")]
    sources += [f"{name} = {obj.__name__}" for name, obj in functions if obj.__name__ != name]
    sources += [inspect.getsource(obj) for name, obj in vars(module).items()
                if inspect.isclass(obj) and obj.__module__ == module.__name__ and obj.__name__ == name]
    return IMPORTS + "\n" + "\n".join(constants) + "\n\n\n" + "\n\n".join(sources)


def _literal(obj):
    try:
        return ast.literal_eval(repr(obj)) == obj
    except (ValueError, SyntaxError):
        return False


def submission(folder, assignment, sources):
    """The release with ``sources`` as the code of its first solution cell."""
    nb = nbformat.read(release(assignment), as_version=4)
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    solution.source = sources
    path = folder / release(assignment).name
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """``verdicts(assignment)``: ``{variant name: Verdict}`` of every variant, judged by its cell's plan (one run)."""
    found = {}

    def judged(assignment):
        if assignment not in found:
            _, module, table = TABLES[assignment]
            path = submission(tmp_path_factory.mktemp(assignment), assignment, variant_sources(module))
            found[assignment] = judges.ask(path, {fn.__name__: plan(fn.__name__) for plan, right, wrong in
                                                  table.values() for fn in right + [f for f, _ in wrong]})
        return found[assignment]
    return judged


def cases(kind):
    for assignment, (_, _, table) in TABLES.items():
        for cell, (_, right, wrong) in table.items():
            for entry in (right if kind == "right" else wrong):
                fn, phrase = (entry, None) if kind == "right" else entry
                yield pytest.param(assignment, fn, phrase, id=f"{cell}-{fn.__name__}")


@pytest.mark.parametrize("assignment, fn, phrase", cases("right"))
def test_correct_answers_pass(assignment, fn, phrase, verdicts):
    verdict = verdicts(assignment)[fn.__name__]
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("assignment, fn, phrase", cases("wrong"))
def test_wrong_answers_fail_and_teach(assignment, fn, phrase, verdicts):
    verdict = verdicts(assignment)[fn.__name__]
    assert not verdict.passed, "the judge passed a wrong answer"
    message, phrase = verdict.message, JUDGE_PHRASES.get(fn.__name__, phrase)
    assert ("expected" in message and "got" in message) or " raised " in message, message
    assert phrase in message, f"the message should say {phrase!r}:\n{message}"


def test_every_judge_is_registered_and_has_a_plan_per_graded_test_cell():
    for assignment, (judge, _, table) in TABLES.items():
        assert judges.judge(assignment) is judge
        nb = nbformat.read(release(assignment), as_version=4)
        graded = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.cell_type == "code"
                  and c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}
        assert set(judge.PLANS) == graded == set(table), assignment


@pytest.mark.parametrize("assignment", list(TABLES))
def test_the_solution_passes_every_cell(assignment):
    """The instructor's solution as a submission: its functions, with the notebook's own definitions (02's groups)."""
    solution = ROOT / "solutions" / assignment / release(assignment).name
    plans = TABLES[assignment][0].PLANS
    found = judges.ask(solution, {cell: plan() for cell, plan in plans.items()})
    assert {cell: verdict.message for cell, verdict in found.items() if not verdict.passed} == {}


@pytest.mark.parametrize("backend", ["unshare", "bwrap"])
@pytest.mark.parametrize("assignment", list(TABLES))
def test_the_untouched_release_fails_every_cell(assignment, backend):
    if backend not in sandbox.available():
        pytest.skip(f"{backend} is not installed or does not work here")
    plans = TABLES[assignment][0].PLANS
    found = judges.ask(release(assignment), {cell: plan() for cell, plan in plans.items()}, backend=backend)
    assert set(found) == set(plans)
    for cell, verdict in found.items():
        assert not verdict.passed and "raised NotImplementedError" in verdict.message, (cell, verdict)


MALFORMED = (None, "x", [{"answers": [{"value": {"kind": "pickle", "data": "..."}}]}] * 12,
             [{"answers": [{"value": {"kind": "tensor", "dtype": "torch.float32", "array": "missing"}}]}] * 12,
             [{"answers": [{"value": {"kind": "dict", "items": [[{"kind": "list", "items": []},
                                                                 {"kind": "const", "value": None}]]}}]}] * 12,
             [{"answers": [{"value": {"kind": "imageset", "length": 3, "data": {"type": "Tensor", "dtype": "x",
                                                                                "shape": [3]},
                                      "labels": {"kind": "str", "value": "not a tensor"}}}]}] * 12)


@pytest.mark.parametrize("assignment, cell", [(a, c) for a, (judge, _, _) in TABLES.items() for c in judge.PLANS])
def test_answers_that_are_no_plain_data_fail_their_cell_only(assignment, cell):
    """What a hostile responder could write: each malformed answer is a failed cell with a reason."""
    plan = TABLES[assignment][0].PLANS[cell]()
    for raw in MALFORMED:
        verdict = judges._verdict(plan, raw, {"a0": np.zeros(3)})
        assert not verdict.passed and "could not be judged" in verdict.message, (raw, verdict)
