"""The checks of assignment 05 pass correct alternatives and fail plausible wrong answers, saying why.

The client check runs each candidate class against a real server on 127.0.0.1.
"""
import numpy as np
import pytest
import torch

import fedlab
import fedlab.live
from fedlab.checks import (check_client, check_learning_rate_schedule, check_parallel_seeded_choice,
                           check_partition_dataset)

CIFAR100 = dict(mean=(0.5074, 0.4867, 0.4411), std=(0.2011, 0.1987, 0.2025))


# ---------------------------------------------------------------- Task 1

def seeded_choice(array_list, seed, n):
    positions = np.random.default_rng(seed).choice(len(array_list[0]), size=n, replace=False)
    return [a[positions] for a in array_list]


def seeded_choice_take(array_list, seed, n):  # a tuple, np.take, a fresh generator per array: all fine
    return tuple(np.take(a, np.random.default_rng(seed).choice(len(a), size=n, replace=False), axis=0)
                 for a in array_list)


def one_generator_per_call_draws_twice(array_list, seed, n):
    rng = np.random.default_rng(seed)
    return [a[rng.choice(len(a), size=n, replace=False)] for a in array_list]


def with_replacement(array_list, seed, n):
    positions = np.random.default_rng(seed).choice(len(array_list[0]), size=n, replace=True)
    return [a[positions] for a in array_list]


def permutation_prefix(array_list, seed, n):
    positions = np.random.default_rng(seed).permutation(len(array_list[0]))[:n]
    return [a[positions] for a in array_list]


def legacy_numpy(array_list, seed, n):
    np.random.seed(seed)
    positions = np.random.choice(len(array_list[0]), size=n, replace=False)
    return [a[positions] for a in array_list]


def first_array_only(array_list, seed, n):
    return seeded_choice(array_list, seed, n)[0]


@pytest.mark.parametrize("fn", [seeded_choice, seeded_choice_take])
def test_parallel_seeded_choice_passes(fn, capsys):
    check_parallel_seeded_choice(fn)
    assert capsys.readouterr().out.startswith("PASSED parallel_seeded_choice")


@pytest.mark.parametrize("fn, says", [
    (one_generator_per_call_draws_twice, "[8, 9, 7, 4, 6, 2, 0, 3]"),
    (with_replacement, "replace=False"),
    (permutation_prefix, "choice(len, size=n, replace=False)"),
    (legacy_numpy, "default_rng"),
    (first_array_only, "a list of 1 arrays"),
])
def test_parallel_seeded_choice_fails(fn, says):
    with pytest.raises(AssertionError, match="parallel_seeded_choice is not right yet") as err:
        check_parallel_seeded_choice(fn)
    assert says in str(err.value) and "input used:" in str(err.value)


# ---------------------------------------------------------------- Task 2

def partition(dataset, train, seed, pick=seeded_choice, **overrides):
    if train:
        images, labels = pick([dataset.data, dataset.labels], seed, len(dataset) // 2)
    else:
        images, labels = dataset.data, dataset.labels
    spec = {**CIFAR100, "pad_mode": "reflect", **overrides}
    return fedlab.ImageSet(images, labels, name="part", source=dataset.source, **spec)


def partition_numpy_then_tensor(dataset, train, seed):
    if not train:
        return partition(dataset, train, seed)
    images, labels = seeded_choice([dataset.data.numpy(), np.array(dataset.targets)], seed, len(dataset) // 2)
    return fedlab.ImageSet(torch.as_tensor(images), labels.tolist(), name="part", source=dataset.source,
                           pad_mode="reflect", **CIFAR100)


def unpaired_labels(dataset, train, seed):
    part = partition(dataset, train, seed)
    if train:
        part = fedlab.ImageSet(part.data, seeded_choice([dataset.labels], seed + 1, len(dataset) // 2)[0],
                               name="part", source=dataset.source, pad_mode="reflect", **CIFAR100)
    return part


def first_half(dataset, train, seed):
    return partition(dataset, train, seed, pick=lambda arrays, s, n: [a[:n] for a in arrays])


def halves_test_split_too(dataset, train, seed):
    return partition(dataset, True, seed)


def numpy_images(dataset, train, seed):
    part = partition(dataset, train, seed)
    part.data = part.data.numpy()
    return part


@pytest.mark.parametrize("fn", [partition, partition_numpy_then_tensor])
def test_partition_dataset_passes(fn, capsys):
    check_partition_dataset(fn)
    assert capsys.readouterr().out.startswith("PASSED partition_dataset")


@pytest.mark.parametrize("fn, says", [
    (unpaired_labels, "stay paired"),
    (first_half, "positions [1, 2, 11"),
    (halves_test_split_too, "the test split keeps all its images"),
    (lambda d, t, s: partition(d, t, s, pad_mode="constant"), "reflect"),
    (lambda d, t, s: partition(d, t, s, mean=(0.4914, 0.4822, 0.4465)), "CIFAR-100 normalization"),
    (numpy_images, "uint8 torch tensor"),
    (lambda d, t, s: (d.data, d.labels), "a fedlab.ImageSet"),
])
def test_partition_dataset_fails(fn, says):
    with pytest.raises(AssertionError, match="partition_dataset is not right yet") as err:
        check_partition_dataset(fn)
    assert says in str(err.value)


# ---------------------------------------------------------------- Task 3

def schedule(current_round, initial_learning_rate):
    if current_round <= 20:
        return initial_learning_rate
    return initial_learning_rate / (10 if current_round <= 40 else 100)


def schedule_by_power(current_round, initial_learning_rate):
    return initial_learning_rate * 0.1 ** min((current_round - 1) // 20, 2)


@pytest.mark.parametrize("fn", [schedule, schedule_by_power])
def test_learning_rate_schedule_passes(fn, capsys):
    check_learning_rate_schedule(fn)
    assert capsys.readouterr().out.startswith("PASSED learning_rate_for_round")


@pytest.mark.parametrize("fn, says", [
    (lambda r, lr: lr if r < 20 else lr / 10 if r < 40 else lr / 100, "round 20"),  # rounds counted from 0
    (lambda r, lr: lr * 0.1 ** ((r - 1) // 20), "stays at a hundredth"),          # keeps dropping after 60
    (lambda r, lr: lr if r <= 20 else lr / 10, "round 41"),                       # one drop only
    (lambda r, lr: torch.tensor(schedule(r, lr)), "a float for every round"),
])
def test_learning_rate_schedule_fails(fn, says):
    with pytest.raises(AssertionError, match="learning_rate_for_round is not right yet") as err:
        check_learning_rate_schedule(fn)
    assert says in str(err.value)


# ---------------------------------------------------------------- Task 4, against a real server

@pytest.fixture(autouse=True)
def quick_synthetic(monkeypatch):
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    monkeypatch.setenv("FEDLAB_DATA", "synthetic")


class RightClient(fedlab.live.Client):
    """A correct client written differently from the notebook's: from_numpy, a plain dict, its own eval loop."""

    def handle_message(self, message):
        self.current_round = message["config"]["current_round"]
        self.net.load_state_dict({k: torch.from_numpy(np.array(w)) for k, w in
                                  zip(self.net.state_dict(), message["weights"])})

    def validate(self):
        self.net.eval()
        with torch.no_grad():
            x, y = self.testset.batch(torch.arange(len(self.testset)), next(self.net.parameters()).device)
            return 100.0 * (self.net(x).argmax(1) == y).float().mean().item()


class KeepsItsOwnWeights(RightClient):
    def handle_message(self, message):
        self.current_round = message["config"]["current_round"]


class RoundOffByOne(RightClient):
    def handle_message(self, message):
        super().handle_message(message)
        self.current_round += 1


class ForgetsTheRound(RightClient):
    def handle_message(self, message):
        super().handle_message(message)
        self.current_round = None


class ValidatesOnTrainset(RightClient):
    def validate(self):
        return fedlab.evaluate(self.net, self.trainset)[1]


class ReportsAFraction(RightClient):
    def validate(self):
        return fedlab.evaluate(self.net, self.testset)[1] / 100


def test_client_check_passes(capsys):
    check_client(RightClient)
    out = capsys.readouterr().out
    assert out.startswith("PASSED your client") and out.count("\n") == 1, out  # nothing but the PASSED line


@pytest.mark.parametrize("cls, says", [
    (KeepsItsOwnWeights, "self.net holds the weights the server sent"),
    (RoundOffByOne, "self.current_round == 1"),
    (ForgetsTheRound, "store the round the server sent"),
    (ValidatesOnTrainset, "on self.testset"),
    (ReportsAFraction, "validate() == 50.00"),
])
def test_client_check_fails(cls, says):
    with pytest.raises(AssertionError, match="your client") as err:
        check_client(cls)
    assert says in str(err.value)


def test_client_check_wants_a_client_class():
    with pytest.raises(AssertionError, match="a subclass of fedlab.live.Client"):
        check_client(RightClient.validate)  # a function, not the class

