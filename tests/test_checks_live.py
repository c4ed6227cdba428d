"""The checks of assignment 05 pass correct alternatives and fail plausible wrong answers, saying why.

One table of variants, judged by tests/check_variants.py; tests/test_assignments.py runs the same
variants against the graded test cells. The client check runs each candidate class against a real
server on 127.0.0.1.
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import fedlab
import fedlab.live
from check_variants import assert_passes, assert_teaches, cases
from fedlab.augment import CIFAR10_MEAN, CIFAR100_MEAN, CIFAR100_STD
from fedlab.checks import (check_client, check_learning_rate_schedule, check_parallel_seeded_choice,
                           check_partition_dataset)

CIFAR100 = dict(mean=CIFAR100_MEAN, std=CIFAR100_STD)


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


SEEDED_CORRECT = [seeded_choice, seeded_choice_take]
SEEDED_WRONG = [(one_generator_per_call_draws_twice, "[8, 9, 7, 4, 6, 2, 0, 3]"), (with_replacement, "replace=False"),
                (permutation_prefix, "choice(len, size=n, replace=False)"), (legacy_numpy, "default_rng"),
                (first_array_only, "a list of 1 arrays")]


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


def constant_padding(dataset, train, seed):
    return partition(dataset, train, seed, pad_mode="constant")


def cifar10_normalization(dataset, train, seed):
    return partition(dataset, train, seed, mean=CIFAR10_MEAN)


def returns_a_tuple(dataset, train, seed):
    return dataset.data, dataset.labels


PARTITION_CORRECT = [partition, partition_numpy_then_tensor]
PARTITION_WRONG = [(unpaired_labels, "stay paired"), (first_half, "positions [1, 2, 11"),
                   (halves_test_split_too, "the test split keeps all its images"), (constant_padding, "reflect"),
                   (cifar10_normalization, "CIFAR-100 normalization"), (numpy_images, "uint8 torch tensor"),
                   (returns_a_tuple, "a fedlab.ImageSet")]


# ---------------------------------------------------------------- Task 3

def schedule(current_round, initial_learning_rate):
    if current_round <= 20:
        return initial_learning_rate
    return initial_learning_rate / (10 if current_round <= 40 else 100)


def schedule_by_power(current_round, initial_learning_rate):
    return initial_learning_rate * 0.1 ** min((current_round - 1) // 20, 2)


def rounds_from_0(current_round, initial_learning_rate):
    lr = initial_learning_rate
    return lr if current_round < 20 else lr / 10 if current_round < 40 else lr / 100


def keeps_dropping(current_round, initial_learning_rate):
    return initial_learning_rate * 0.1 ** ((current_round - 1) // 20)


def one_drop_only(current_round, initial_learning_rate):
    return initial_learning_rate if current_round <= 20 else initial_learning_rate / 10


def returns_a_tensor(current_round, initial_learning_rate):
    return torch.tensor(schedule(current_round, initial_learning_rate))


SCHEDULE_CORRECT = [schedule, schedule_by_power]
SCHEDULE_WRONG = [(rounds_from_0, "round 20"), (keeps_dropping, "stays at a hundredth"), (one_drop_only, "round 41"),
                  (returns_a_tensor, "a float for every round")]


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


class NotebookClient(fedlab.live.Client):
    """The notebook's way: an OrderedDict of as_tensor()s, fedlab.evaluate."""

    def handle_message(self, message):
        state = OrderedDict((k, torch.as_tensor(w)) for k, w in zip(self.net.state_dict(), message["weights"]))
        self.net.load_state_dict(state)
        self.current_round = int(message["config"]["current_round"])

    def validate(self):
        return fedlab.evaluate(self.net, self.testset)[1]


class ReplacesTheNet(RightClient):
    def handle_message(self, message):
        self.current_round = message["config"]["current_round"]
        self.net = fedlab.resnet20(100).to(fedlab.compute_device())
        self.net.load_state_dict({k: torch.from_numpy(np.array(w)) for k, w in
                                  zip(self.net.state_dict(), message["weights"])})


class SkipsBuffers(RightClient):
    def handle_message(self, message):
        self.current_round = message["config"]["current_round"]
        state = dict(zip(self.net.state_dict(), message["weights"]))
        params = {k: torch.as_tensor(state[k]) for k, _ in self.net.named_parameters()}
        self.net.load_state_dict(params, strict=False)


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


CLIENT_CORRECT = [RightClient, NotebookClient]
CLIENT_WRONG = [(KeepsItsOwnWeights, "self.net holds every entry the server sent"),
                (RoundOffByOne, "self.current_round == 9"), (ForgetsTheRound, "self.current_round == 9"),
                (ValidatesOnTrainset, "on self.testset"), (ReportsAFraction, "validate() == 50.00"),
                (ReplacesTheNet, "self.net is a new network"), (SkipsBuffers, "buffers too")]


# ---------------------------------------------------------------- every check on its variants

VARIANTS = {
    check_parallel_seeded_choice: (SEEDED_CORRECT, SEEDED_WRONG),
    check_partition_dataset: (PARTITION_CORRECT, PARTITION_WRONG),
    check_learning_rate_schedule: (SCHEDULE_CORRECT, SCHEDULE_WRONG),
    check_client: (CLIENT_CORRECT, CLIENT_WRONG),
}


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 0))
def test_correct_answers_pass(check, fn, capsys):
    assert_passes(check, fn, capsys)


@pytest.mark.parametrize("check, fn, phrase", cases(VARIANTS, 1))
def test_wrong_answers_teach(check, fn, phrase, capsys):
    assert_teaches(check, fn, phrase, capsys)


def test_client_check_wants_a_client_class():
    with pytest.raises(AssertionError, match="a subclass of fedlab.live.Client"):
        check_client(RightClient.validate)  # a function, not the class

