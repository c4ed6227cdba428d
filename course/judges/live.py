"""The judge of assignment 05 (live.ipynb): its four graded test cells, outside the student's process.

One plan per graded test cell (its grade_id): the cell's visible test, then its hidden tests, as calls
answered inside the sandbox and verdicts given here, worded like the notebook's tests (the input used,
what was expected, what came back). Every expected value is computed here: the seeded positions from
numpy, the partitions and the reference ResNet-20's predictions from the CIFAR-100 that the notebook
loads, read here too. MyClient is made and its methods called inside; what comes back is its net's
state and round after each call. Partitions are judged on the release's MY_RANDOM_SEED and another
seed (the student's own seed is in a cell the responder does not run). Nothing here needs a federation.
"""
import functools

import numpy as np
import torch

import fedlab
from fedlab.augment import CIFAR100_MEAN, CIFAR100_STD

from . import ImageSetView, Plan, Ref, dataset, decode, type_name

NOTEBOOK = "live.ipynb"


@functools.lru_cache(maxsize=1)
def _cifar100():
    """(train100, test100, every train image's pixel sum): the splits the notebook's setup cell loads."""
    train100, test100 = dataset("cifar100")
    return train100, test100, _sums(train100.data)


def _sums(images):
    return images.reshape(len(images), -1).numpy().sum(1, dtype=np.int64)


def _picks(seed, size, n):
    return np.random.default_rng(seed).choice(size, size=n, replace=False)


def _equals(value, want):
    """``value == want`` as the notebook's assert reads it (a one-element tensor too); False where it cannot."""
    try:
        return bool(value == want)
    except (TypeError, ValueError, RuntimeError):
        return False


def _as_float(value):
    """``value`` as a float where Python would compare it as a number (a one-element tensor too), else None."""
    try:
        return None if isinstance(value, (bool, str)) else float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


# ---------------------------------------------------------------- test_parallel_seeded_choice (3 points)

SEEDED_HINT = "choose the positions once with np.random.default_rng(seed).choice(len, size=n, replace=False) " \
              "and index every array with them"
SEEDED_CASES = [(0, 50, 50, 1), (7, 1000, 3, 2), (20000101, 50000, 25000, 2), (123, 17, 5, 4)]


def _seeded_arrays(size, count):
    arrays = [np.arange(size) * (k + 1) for k in range(count)]
    arrays[-1] = np.arange(size * 2, dtype=np.float32).reshape(size, 2)
    return arrays


def _array_list(names, tensor=False):
    return {"fixture": "arrays", "arrays": names, **({"tensor": True, "report": True} if tensor else {})}


def _picked(got, given, used):
    """The answer as one numpy array per input array, after the check of its form."""
    count = len(given)
    if not isinstance(got, (list, tuple)):
        shape = f" of shape {tuple(got.shape)}" if hasattr(got, "shape") else ""
        raise AssertionError(f"{used}: expected a list of {count} arrays, one per input array (a list of 1 arrays "
                             f"for one input array), got a {type_name(got)}{shape}")
    assert len(got) == count, f"{used}: expected a list of {count} arrays, one per input array, got {len(got)}"
    out = []
    for k, item in enumerate(got):
        item = given[item.index] if isinstance(item, Ref) and 0 <= item.index < count else item
        if torch.is_tensor(item):
            item = item.numpy()
        assert isinstance(item, (np.ndarray, list, tuple)), \
            f"{used}: expected array {k} as a numpy array or tensor, got {type_name(item)}"
        out.append(np.asarray(item))
    return out


def parallel_seeded_choice_plan(name="parallel_seeded_choice") -> Plan:
    arrays = {"s|visible": np.arange(10), "s|double": np.arange(100) * 2, "s|labels": np.arange(100)}
    calls = [{"function": name, "args": [_array_list(["s|visible", "s|visible"]), 42, 8]}]
    for seed, size, n, count in SEEDED_CASES:
        arrays.update({f"s|{seed}|{k}": a for k, a in enumerate(_seeded_arrays(size, count))})
        calls.append({"function": name, "args": [_array_list([f"s|{seed}|{k}" for k in range(count)]), seed, n]})
    calls.append({"function": name, "args": [_array_list(["s|double", "s|labels"], tensor=True), 5, 10]})

    def verdict(answers):
        visible, *hidden, tensors = [call[0] for call in answers]
        used = "parallel_seeded_choice([np.arange(10), np.arange(10)], seed=42, n=8)"
        picks = _picks(42, 10, 8).tolist()
        got = _picked(visible.result(used, name), [np.arange(10)] * 2, used)
        assert all(o.tolist() == picks for o in got), \
            f"{used}: expected both arrays equal to {picks}, the positions default_rng(42).choice(10, size=8, " \
            f"replace=False) picks, got {[o.tolist()[:10] for o in got]}; {SEEDED_HINT}"
        for answer, (seed, size, n, count) in zip(hidden, SEEDED_CASES):
            given = _seeded_arrays(size, count)
            positions = _picks(seed, size, n)
            used = f"parallel_seeded_choice({count} arrays of length {size}, the last of shape ({size}, 2), " \
                   f"seed={seed}, n={n})"
            got = _picked(answer.result(used, name), given, used)
            for k, (a, o) in enumerate(zip(given, got)):
                want = a[positions]
                assert o.shape == want.shape, f"{used}: expected array {k} of shape {want.shape}, got {o.shape}"
                assert (o == want).all(), \
                    f"{used}: expected array {k} at the positions default_rng({seed}).choice({size}, size={n}, " \
                    f"replace=False) picks, starting {want[:4].tolist()}, got {o[:4].tolist()}; {SEEDED_HINT}"
        used = "parallel_seeded_choice([torch.arange(100) * 2, torch.arange(100)], seed=5, n=10)"
        positions = _picks(5, 100, 10).tolist()
        got = _picked(tensors.result(used, name), [np.arange(100) * 2, np.arange(100)], used)
        assert got[1].tolist() == positions, f"{used}: expected the labels {positions}, got {got[1].tolist()}"
        after = decode(tensors.after[0], tensors.arrays)
        given = [torch.arange(100) * 2, torch.arange(100)]
        assert isinstance(after, list) and len(after) == 2 and all(
            torch.is_tensor(a) and a.tolist() == b.tolist() for a, b in zip(after, given)), \
            f"{used}: expected the input arrays left as they were, got them changed (index them; do not shuffle " \
            f"or sort them in place)"

    return Plan(calls, verdict, arrays)


# ---------------------------------------------------------------- test_partition_dataset (3 points)

SEEDS = (20000101, 19990517)  # the release's MY_RANDOM_SEED and another birth date
TEST_SEED = 3
ROWS = [[0, 50], [-50, None]]  # the image rows sent back whole; every image's pixel sum is sent too
PARTITION_HINT = "train: one parallel_seeded_choice([dataset.data, dataset.labels], seed, len(dataset) // 2) call"


def _part(answer, used, name, what):
    part = answer.result(used, name)
    assert isinstance(part, ImageSetView), f"{used}: expected a fedlab.ImageSet of {what}, got {type_name(part)}"
    return part


def _near(got, want):
    try:
        values = [float(v) for v in got]
    except (TypeError, ValueError, RuntimeError):
        return False
    return len(values) == len(want) and max(abs(a - b) for a, b in zip(values, want)) < 1e-6


def _same_images(part, images, positions, sums):
    """True when the part holds ``images[positions]`` in order: every pixel of the rows it sent, every image's sum."""
    if part.rows is None or part.sums is None or part.sums.shape != sums.shape or (part.sums != sums).any():
        return False
    want = [images[positions[start:stop]] for start, stop in ROWS]
    return len(part.rows) == len(want) and all(got.shape == w.shape and torch.equal(got, w)
                                               for got, w in zip(part.rows, want))


def _form(part, used, count):
    assert part.length == count, f"{used}: expected {count} images, got {part.length}"
    assert part.data_type == "Tensor" and part.data_dtype == "torch.uint8", \
        f"{used}: expected the images as a uint8 torch tensor, got {part.data_type} {part.data_dtype}"


def _normalization(part, used):
    assert _near(part.mean, CIFAR100_MEAN) and _near(part.std, CIFAR100_STD), \
        f"{used}: expected the CIFAR-100 normalization, mean {CIFAR100_MEAN} and std {CIFAR100_STD}, got " \
        f"{part.mean} and {part.std}"


def partition_dataset_plan(name="partition_dataset") -> Plan:
    whole = {"rows": ROWS, "sums": True}
    calls = [{"function": name, "args": [{"fixture": "train100"}, True, SEEDS[0]], "imageset": {}},
             {"function": name, "args": [{"fixture": "test100"}, False, SEEDS[0]], "imageset": {}}]
    calls += [{"function": name, "args": [{"fixture": "train100"}, True, seed], "imageset": whole} for seed in SEEDS]
    calls += [{"function": name, "args": [{"fixture": "test100"}, False, TEST_SEED],
               "imageset": dict(whole, batch=[0, 1])}]

    def verdict(answers):
        train100, test100, train_sums = _cifar100()
        half = len(train100) // 2
        visible_train, visible_test, *hidden, test = [call[0] for call in answers]
        used = f"partition_dataset(train100, True, {SEEDS[0]})"
        part = _part(visible_train, used, name, f"{half} train images")
        assert part.length == half, f"{used}: expected {half} train images, got {part.length}"
        used = f"partition_dataset(test100, False, {SEEDS[0]})"
        part = _part(visible_test, used, name, f"all {len(test100)} test images")
        assert part.length == len(test100), \
            f"{used}: expected all {len(test100)} test images, got {part.length}; the test split keeps all its " \
            f"images, in order"
        for answer, seed in zip(hidden, SEEDS):
            used = f"partition_dataset(train100, True, {seed})"
            part = _part(answer, used, name, f"{half} train images")
            _form(part, used, half)
            positions = _picks(seed, len(train100), half)
            want = train100.labels[positions]
            images_right = _same_images(part, train100.data, positions, train_sums[positions])
            hint = "pick images and labels in the same call so they stay paired" if images_right else PARTITION_HINT
            assert part.labels.tolist() == want.tolist(), \
                f"{used}: expected the labels at default_rng({seed})'s picks, starting {want[:5].tolist()}, got " \
                f"{part.labels[:5].tolist()}; {hint}"
            assert images_right, f"{used}: expected the images at the same picks as the labels, in the same " \
                                 f"order, got other images; {PARTITION_HINT}"
            _normalization(part, used)
            assert part.pad_mode == "reflect", f"{used}: expected pad_mode='reflect', got {part.pad_mode!r}"
        used = f"partition_dataset(test100, False, {TEST_SEED})"
        part = _part(test, used, name, f"all {len(test100)} test images")
        _form(part, used, len(test100))
        assert _same_images(part, test100.data, np.arange(len(test100)), _sums(test100.data)), \
            f"{used}: expected every test image, in order, got other images; the test split keeps all its images"
        assert part.labels.tolist() == test100.labels.tolist(), \
            f"{used}: expected every test label, in order, starting {test100.labels[:5].tolist()}, got " \
            f"{part.labels[:5].tolist()}"
        _normalization(part, used)
        mean, std = torch.tensor(CIFAR100_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR100_STD).view(1, 3, 1, 1)
        ref = (test100.data[:2].float() / 255 - mean) / std
        assert part.batch is not None and part.batch.shape == ref.shape and \
            float((part.batch.float() - ref).abs().max()) < 1e-5, \
            f"{used}: expected test images normalized with the CIFAR-100 mean and std, got other values from " \
            f"its batch([0, 1], 'cpu')"

    return Plan(calls, verdict)


# ---------------------------------------------------------------- test_learning_rate_for_round (2 points)

INITIALS = (0.1, 0.05, 1.0, 3e-4)
ROUNDS = 100


def _schedule(current_round, initial):
    return initial if current_round <= 20 else initial / 10 if current_round <= 40 else initial / 100


def learning_rate_for_round_plan(name="learning_rate_for_round") -> Plan:
    calls = [{"function": name, "args": [1, 0.1]}]
    calls += [{"function": name, "args": [{"fixture": "repeat"}, initial], "repeat": ROUNDS} for initial in INITIALS]

    def verdict(answers):
        (visible,), *hidden = answers
        assert [len(rounds) for rounds in hidden] == [ROUNDS] * len(INITIALS), "an answer missing for some round"
        got = visible.result("learning_rate_for_round(1, 0.1)", name)
        assert _equals(got, 0.1), f"round 1, initial 0.1: expected 0.1, got {got!r}"
        for rounds, initial in zip(hidden, INITIALS):
            for current_round, answer in enumerate(rounds, 1):
                used = f"learning_rate_for_round({current_round}, {initial})"
                got = answer.result(used, name)
                expected = _schedule(current_round, initial)
                assert isinstance(got, float), \
                    f"{used}: expected a float for every round, got {type_name(got)} {got!r}"
                hint = "rounds count from 1: round 20 still has the initial rate, round 21 a tenth of it" \
                    if current_round <= 40 else "from round 41 on the rate stays at a hundredth of the initial rate"
                assert abs(got - expected) <= 1e-12 * initial, f"{used}: expected {expected!r}, got {got!r}; {hint}"

    return Plan(calls, verdict)


# ---------------------------------------------------------------- test_my_client (5 points)

def _reference():
    """The received model of the hidden tests: a ResNet-20 whose BatchNorm statistics a fresh one lacks."""
    with torch.random.fork_rng():
        torch.manual_seed(11)
        ref = fedlab.resnet20(100)
        for module in ref.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(23)
    return ref.eval()


def _client_steps(answers, used, name, methods):
    """The answers of making the client and calling ``methods`` in turn: each one's (value, report)."""
    answers[0].result(used, name)
    steps = []
    for answer, (method, step_used) in zip(answers[1:], methods):
        value = answer.result(step_used, f"{name}.{method}")
        report = answer.after[0]
        assert isinstance(report, dict) and type(report.get("same_net")) is bool, "a report of the wrong form"
        steps.append((value, report))
    assert len(steps) == len(methods), f"{used}: expected an answer from every call, got {len(steps)}"
    return steps


def _state(report, arrays, used):
    state = decode(report["state"], arrays)
    assert isinstance(state, dict) and all(torch.is_tensor(v) for v in state.values()), \
        f"{used}: expected self.net's state_dict, got {type_name(state)}"
    return state


@functools.lru_cache(maxsize=1)
def _client_inputs():
    """(the message's state dict, labels the received model gets every other one right of, all wrong)."""
    test100 = _cifar100()[1]
    ref = _reference()
    with torch.no_grad():
        predicted = ref(test100.batch(torch.arange(64), "cpu")[0]).argmax(1)
    wrong = (predicted + 1) % 100
    return ref.state_dict(), torch.where(torch.arange(64) % 2 == 0, predicted, wrong), wrong


def my_client_plan(name="MyClient") -> Plan:
    sent, test_labels, wrong = _client_inputs()
    arrays = {f"c|sent|{i}": v.numpy().copy() for i, v in enumerate(sent.values())}
    arrays["c|test"], arrays["c|train"] = test_labels.numpy(), wrong.numpy()
    small = {"fixture": "imageset", "of": "test100", "rows": [0, 64]}
    weights = [f"c|sent|{i}" for i in range(len(sent))]

    def made(trainset, testset, steps):
        return {"construct": name, "args": [trainset, testset, {"fixture": "schedule"}, 5],
                "kwargs": {"local_epochs": 0}, "steps": steps}

    calls = [made(small, small, [{"method": "handle_message", "message": {"weights": "own", "current_round": 1}},
                                 {"method": "validate"}]),
             made(dict(small, labels="c|train", pad_mode="reflect"), dict(small, labels="c|test"),
                  [{"method": "handle_message", "message": {"weights": weights, "current_round": 17}, "state": True},
                   {"method": "validate", "state": True},
                   {"method": "handle_message", "message": {"weights": weights, "current_round": 3}}])]

    def verdict(answers):
        visible, hidden = answers
        used = f"{name}(the first 64 test images as its train and test set, learning_rate_for_round, 5, " \
               f"local_epochs=0)"
        message = "handle_message(a round-1 message carrying the client's own weights)"
        (_, first), (accuracy, _) = _client_steps(visible, used, name, [("handle_message", message),
                                                                         ("validate", "validate()")])
        current = decode(first["current_round"], visible[1].arrays)
        assert _equals(current, 1), f"a round-1 message: expected self.current_round == 1, got {current!r}"
        assert _as_float(accuracy) is not None and 0 <= _as_float(accuracy) <= 100, \
            f"expected validate() in percent (0-100), got {accuracy!r}"

        used = f"{name}(64 test images the received model gets all wrong as its train set, 64 it gets every " \
               f"other one right as its test set, learning_rate_for_round, 5, local_epochs=0)"
        message = "handle_message(a round-17 message carrying a ResNet-20 whose BatchNorm running statistics are " \
                  "random and num_batches_tracked is 23)"
        (_, loaded), (accuracy, validated), (_, again) = _client_steps(
            hidden, used, name, [("handle_message", message), ("validate", "validate() after that message"),
                                 ("handle_message", "handle_message(a round-3 message)")])
        arrays = hidden[1].arrays
        assert loaded["same_net"], \
            f"{message}: expected the weights loaded into the client's own self.net (load_state_dict), got: " \
            f"self.net is a new network, which fedlab never trains"
        current = decode(loaded["current_round"], arrays)
        assert current == 17 and isinstance(current, int) and not isinstance(current, bool), \
            f"{message}: expected self.current_round == 17 (an int), got {current!r}"
        state = _state(loaded, arrays, message)
        assert list(state) == list(sent), \
            f"{message}: expected self.net's state_dict keys unchanged, got {list(state)[:3]} ..."
        for key, value in sent.items():
            if not torch.equal(state[key].to(value.dtype), value):
                diff = (state[key].double() - value.double()).abs().max().item()
                raise AssertionError(
                    f"{message}: expected that after handle_message, self.net holds every entry the server sent "
                    f"(buffers too), got '{key}' differing from it (largest difference {diff:.3g}); zip "
                    f"self.net.state_dict() keys with message['weights'] (same order), make tensors, and load "
                    f"them with self.net.load_state_dict(...), strict as it is by default")
        got = _as_float(accuracy)
        assert got is not None and abs(got - 50.0) <= 2 * 100 / 64, \
            f"validate() after that message: expected validate() == 50.00 (accuracy in %, of the received model, " \
            f"on self.testset), got {accuracy!r}; evaluate self.net as loaded, on self.testset, as a percentage " \
            f"(fedlab.evaluate returns (loss, accuracy %))"
        after = _state(validated, arrays, "validate()")
        changed = [key for key, value in state.items() if not torch.equal(after[key], value)]
        assert not changed, \
            f"validate(): expected the model left unchanged (evaluate in eval mode, without gradients), got " \
            f"'{changed[0]}' changed"
        current = decode(again["current_round"], arrays)
        assert _equals(current, 3), f"a round-3 message: expected self.current_round == 3, got {current!r}"

    return Plan(calls, verdict, arrays)


PLANS = {"test_parallel_seeded_choice": parallel_seeded_choice_plan, "test_partition_dataset": partition_dataset_plan,
         "test_learning_rate_for_round": learning_rate_for_round_plan, "test_my_client": my_client_plan}
