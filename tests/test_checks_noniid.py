"""fedlab.checks for assignment 02 pass correct answers and teach on plausible wrong ones.

Correct answers in several styles, wrong ones for every class of fault, each with the phrase its
message must contain; tests/test_assignments.py runs the same variants against the graded cells.
``test_group`` reads the notebook's ``trainset``/``testset``, set here by a fixture.
"""
import random
import sys

import numpy as np
import pytest
import torch

import fedlab
from check_variants import assert_passes, assert_teaches, cases
from fedlab import checks

GROUPS = [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
trainset = testset = None  # the notebook's data sets, as test_group reads them (set by notebook_data)


@pytest.fixture(autouse=True)
def notebook_data(cifar10, monkeypatch):
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "trainset", cifar10[0])
    monkeypatch.setattr(module, "testset", cifar10[1])


# ---------------------------------------------------------------- noniid_group_sampler

def sampler_numpy_pools(dataset, num_items_per_device):
    labels = np.asarray(dataset.targets)
    parts = {}
    for g, classes in enumerate(GROUPS):
        pool = np.flatnonzero(np.isin(labels, classes))
        for d in range(20 * g, 20 * g + 20):
            parts[d] = np.random.choice(pool, num_items_per_device, replace=False)
    return parts


def sampler_python_lists(dataset, num_items_per_device):
    pools = [[i for i, y in enumerate(dataset.targets) if y in classes] for classes in GROUPS]
    return {d: random.sample(pools[d // 20], num_items_per_device) for d in range(60)}


def sampler_torch_labels(dataset, num_items_per_device):
    parts = {}
    for g, classes in enumerate(GROUPS):
        pool = torch.nonzero((dataset.labels >= classes[0]) & (dataset.labels <= classes[-1])).flatten()
        for d in range(20 * g, 20 * (g + 1)):
            parts[d] = pool[torch.randperm(len(pool))[:num_items_per_device]].tolist()
    return parts


def sampler_numpy_permutation(dataset, num_items_per_device):
    labels = np.array(dataset.targets)
    parts = {}
    for d in range(60):
        pool = np.where(np.isin(labels, GROUPS[d // 20]))[0]
        parts[d] = pool[np.random.permutation(len(pool))[:num_items_per_device]]
    return parts


def sampler_equal_per_class(dataset, num_items_per_device):
    labels = np.asarray(dataset.targets)
    parts = {}
    for d in range(60):
        classes = GROUPS[d // 20]
        share = [num_items_per_device // len(classes) + (k < num_items_per_device % len(classes))
                 for k in range(len(classes))]
        parts[d] = np.concatenate([np.random.choice(np.flatnonzero(labels == c), n, replace=False)
                                   for c, n in zip(classes, share)])
    return parts


def sampler_sorts_the_labels(dataset, num_items_per_device):
    dataset.targets.sort()  # sorted, each group's images are one block
    bounds = [dataset.targets.index(c[0]) for c in GROUPS] + [len(dataset.targets)]
    return {d: random.sample(range(bounds[d // 20], bounds[d // 20 + 1]), num_items_per_device) for d in range(60)}


def sampler_replaces_the_labels(dataset, num_items_per_device):
    dataset.targets = np.asarray(dataset.targets) // 1  # an array now, for np.isin
    pools = [np.flatnonzero(np.isin(dataset.targets, classes)) for classes in GROUPS]
    dataset.targets = [int(y) for y in sorted(dataset.targets)]
    return {d: np.random.choice(pools[d // 20], num_items_per_device, replace=False) for d in range(60)}


def sampler_unseeded_generator(dataset, num_items_per_device):
    rng = np.random.default_rng()
    labels = np.asarray(dataset.targets)
    return {d: rng.choice(np.flatnonzero(np.isin(labels, GROUPS[d // 20])), num_items_per_device, replace=False)
            for d in range(60)}


def sampler_loads_images(dataset, num_items_per_device):
    labels = [dataset[i][1] for i in range(len(dataset))]
    pools = [[i for i, y in enumerate(labels) if y in classes] for classes in GROUPS]
    return {d: random.sample(pools[d // 20], num_items_per_device) for d in range(60)}


def sampler_groups_shifted(dataset, num_items_per_device):
    shifted = [[1, 2, 3, 4], [5, 6, 7], [8, 9, 0]]
    pools = [[i for i, y in enumerate(dataset.targets) if y in classes] for classes in shifted]
    return {d: random.sample(pools[d // 20], num_items_per_device) for d in range(60)}


def sampler_round_robin(dataset, num_items_per_device):
    pools = [[i for i, y in enumerate(dataset.targets) if y in classes] for classes in GROUPS]
    return {d: random.sample(pools[d % 3], num_items_per_device) for d in range(60)}


def sampler_with_replacement(dataset, num_items_per_device):
    pools = [[i for i, y in enumerate(dataset.targets) if y in classes] for classes in GROUPS]
    return {d: random.choices(pools[d // 20], k=num_items_per_device) for d in range(60)}


def sampler_same_for_group(dataset, num_items_per_device):
    pools = [[i for i, y in enumerate(dataset.targets) if y in classes] for classes in GROUPS]
    picks = [random.sample(pool, num_items_per_device) for pool in pools]
    return {d: picks[d // 20] for d in range(60)}


def sampler_one_class_per_device(dataset, num_items_per_device):
    parts = {}
    for d in range(60):
        classes = GROUPS[d // 20]
        pool = [i for i, y in enumerate(dataset.targets) if y == classes[d % len(classes)]]
        parts[d] = np.random.choice(pool, num_items_per_device, replace=len(pool) < num_items_per_device)
    return parts


def sampler_contiguous_in_pool(dataset, num_items_per_device):
    pools = [[i for i, y in enumerate(dataset.targets) if y in classes] for classes in GROUPS]
    parts = {}
    for d in range(60):
        pool = pools[d // 20]
        start = (d % 20) * num_items_per_device
        parts[d] = [pool[(start + k) % len(pool)] for k in range(num_items_per_device)]
    return parts


def sampler_fixed_size(dataset, num_items_per_device):
    pools = [[i for i, y in enumerate(dataset.targets) if y in classes] for classes in GROUPS]
    return {d: random.sample(pools[d // 20], min(5000, len(pools[d // 20]))) for d in range(60)}


SAMPLER_CORRECT = [sampler_numpy_pools, sampler_python_lists, sampler_torch_labels, sampler_numpy_permutation]
SAMPLER_WRONG = [(sampler_loads_images, "dataset.targets"), (sampler_groups_shifted, "holds only classes"),
                 (sampler_round_robin, "holds only classes"), (sampler_with_replacement, "distinct indices"),
                 (sampler_same_for_group, "drawing independently"), (sampler_one_class_per_device, "distinct indices"),
                 (sampler_contiguous_in_pool, "drawing independently"), (sampler_fixed_size, "120 indices"),
                 (sampler_equal_per_class, "in proportion"), (sampler_sorts_the_labels, "the data set left as it was"),
                 (sampler_replaces_the_labels, "the data set left as it was"),
                 (sampler_unseeded_generator, "the same result both times")]


# ---------------------------------------------------------------- get_devices_for_round_GROUP

def group_round_random_sample(devices, device_nums):
    chosen = []
    for g, n in enumerate(device_nums):
        chosen += random.sample(devices[20 * g:20 * (g + 1)], n)
    return chosen


def group_round_numpy_by_id(devices, device_nums):
    chosen = []
    for g, n in enumerate(device_nums):
        members = [d for d in devices if d["id"] // 20 == g]
        chosen += [members[i] for i in np.random.choice(len(members), n, replace=False)]
    return chosen


def group_round_torch_tuple(devices, device_nums):
    return tuple(devices[20 * g + i] for g, n in enumerate(device_nums) for i in torch.randperm(20)[:n].tolist())


def group_round_shuffles_in_place(devices, device_nums):
    chosen = []
    for g, n in enumerate(device_nums):
        group = devices[20 * g:20 * (g + 1)]
        random.shuffle(group)  # a copy: fine so far
        chosen += group[:n]
    random.shuffle(devices)  # "mix the groups" for the next round: the caller's list
    return chosen


def group_round_generator(devices, device_nums):
    for g, n in enumerate(device_nums):
        yield from random.sample(devices[20 * g:20 * (g + 1)], n)


def group_round_unseeded_generator(devices, device_nums):
    rng = np.random.default_rng()
    return [devices[20 * g + i] for g, n in enumerate(device_nums) for i in rng.choice(20, n, replace=False)]


def group_round_round_robin(devices, device_nums):
    chosen = []
    for g, n in enumerate(device_nums):
        chosen += random.sample(devices[g::3], n)
    return chosen


def group_round_with_replacement(devices, device_nums):
    return [random.choice(devices[20 * g:20 * (g + 1)]) for g, n in enumerate(device_nums) for _ in range(n)]


def group_round_first_of_group(devices, device_nums):
    return [d for g, n in enumerate(device_nums) for d in devices[20 * g:20 * g + n]]


def group_round_ignores_groups(devices, device_nums):
    return random.sample(devices, sum(device_nums))


def group_round_groups_of_19(devices, device_nums):
    chosen = []
    for g, n in enumerate(device_nums):
        chosen += random.sample(devices[20 * g:20 * g + 19], min(n, 19))
    return chosen


def group_round_ids(devices, device_nums):
    return [i for g, n in enumerate(device_nums) for i in random.sample(range(20 * g, 20 * g + 20), n)]


GROUP_ROUND_CORRECT = [group_round_random_sample, group_round_numpy_by_id, group_round_torch_tuple]
GROUP_ROUND_WRONG = [(group_round_round_robin, "devices of groups 0, 1, 2"),
                     (group_round_with_replacement, "distinct devices"),
                     (group_round_first_of_group, "chosen about"),
                     (group_round_ignores_groups, "devices of groups 0, 1, 2"),
                     (group_round_groups_of_19, "devices of groups 0, 1, 2"),
                     (group_round_ids, "devices taken from the given list"),
                     (group_round_shuffles_in_place, "left as it was"),
                     (group_round_generator, "read only once"),
                     (group_round_unseeded_generator, "the same result both times")]


# ---------------------------------------------------------------- cifar_noniid_group_test

def split_comprehension(dataset):
    return {g: [i for i, y in enumerate(dataset.targets) if y in classes] for g, classes in enumerate(GROUPS)}


def split_numpy(dataset):
    labels = np.asarray(dataset.targets)
    bounds = [(0, 3), (4, 6), (7, 9)]
    return {g: np.flatnonzero((labels >= lo) & (labels <= hi)) for g, (lo, hi) in enumerate(bounds)}


def split_by_loading(dataset):
    parts = {0: [], 1: [], 2: []}
    for i in range(len(dataset)):
        y = dataset[i][1]
        parts[0 if y < 4 else 1 if y < 7 else 2].append(i)
    return parts


def split_torch(dataset):
    labels = torch.as_tensor(dataset.targets)
    return {g: torch.nonzero(torch.isin(labels, torch.tensor(classes))).flatten() for g, classes in enumerate(GROUPS)}


def split_sorts_the_labels(dataset):
    order = sorted(range(len(dataset.targets)), key=dataset.targets.__getitem__)
    dataset.targets.sort()
    return {g: [order[i] for i, y in enumerate(dataset.targets) if y in classes] for g, classes in enumerate(GROUPS)}


def split_shifted(dataset):
    shifted = [[1, 2, 3, 4], [5, 6, 7], [8, 9, 0]]
    return {g: [i for i, y in enumerate(dataset.targets) if y in classes] for g, classes in enumerate(shifted)}


def split_range_off_by_one(dataset):
    bounds = [range(0, 3), range(4, 6), range(7, 9)]
    return {g: [i for i, y in enumerate(dataset.targets) if y in r] for g, r in enumerate(bounds)}


def split_labels_not_indices(dataset):
    return {g: [y for y in dataset.targets if y in classes] for g, classes in enumerate(GROUPS)}


def split_per_class(dataset):
    return {c: [i for i, y in enumerate(dataset.targets) if y == c] for c in range(10)}


def split_round_robin(dataset):
    return {g: [i for i, y in enumerate(dataset.targets) if y % 3 == g] for g in range(3)}


SPLIT_CORRECT = [split_comprehension, split_numpy, split_by_loading, split_torch]
SPLIT_WRONG = [(split_shifted, "group 0: the"), (split_range_off_by_one, "group 0: the"),
               (split_labels_not_indices, "group 0: the"), (split_per_class, "keys 0, 1, 2"),
               (split_round_robin, "group 0: the"), (split_sorts_the_labels, "the data set left as it was")]


# ---------------------------------------------------------------- test_group

def group_evaluate(epoch, device, group_idxs):  # the notebook's way
    tracker = device.setdefault("group_acc_tracker", {})
    accs = {}
    for group, idxs in group_idxs.items():
        accs[group] = fedlab.evaluate(device["net"], testset, idxs)[1]
        tracker.setdefault(group, []).append(accs[group])
    return accs


def _own_loop(device, idxs, eval_mode=True):
    net = device["net"]
    net.train(not eval_mode)
    with torch.no_grad():
        x, y = testset.batch(torch.as_tensor(idxs), next(net.parameters()).device)
        return 100 * (net(x).argmax(1) == y).float().mean()  # a float32 tensor


def group_float32_percent(epoch, device, group_idxs):
    accs = {g: _own_loop(device, idxs).item() for g, idxs in group_idxs.items()}
    if "group_acc_tracker" not in device:
        device["group_acc_tracker"] = {g: [] for g in group_idxs}
    for g, acc in accs.items():
        device["group_acc_tracker"][g].append(acc)
    return accs


def group_numpy(epoch, device, group_idxs):
    device["net"].eval()
    accs = {}
    for g, idxs in group_idxs.items():
        x, y = testset.batch(np.asarray(idxs), "cpu")
        with torch.no_grad():
            pred = device["net"](x.to(next(device["net"].parameters()).device)).argmax(1).cpu().numpy()
        accs[g] = float(np.mean(pred == y.numpy()) * 100)  # numpy's float64 is a float too
        device.setdefault("group_acc_tracker", {}).setdefault(g, []).append(accs[g])
    return accs


def group_training_mode(epoch, device, group_idxs):
    accs = {g: _own_loop(device, idxs, eval_mode=False).item() for g, idxs in group_idxs.items()}
    for g, acc in accs.items():
        device.setdefault("group_acc_tracker", {}).setdefault(g, []).append(acc)
    return accs


def group_returns_tensors(epoch, device, group_idxs):
    accs = {g: _own_loop(device, idxs) for g, idxs in group_idxs.items()}
    for g, acc in accs.items():
        device.setdefault("group_acc_tracker", {}).setdefault(g, []).append(acc)
    return accs


def group_fraction(epoch, device, group_idxs):
    accs = {g: fedlab.evaluate(device["net"], testset, idxs)[1] / 100 for g, idxs in group_idxs.items()}
    for g, acc in accs.items():
        device.setdefault("group_acc_tracker", {}).setdefault(g, []).append(acc)
    return accs


def group_no_tracker(epoch, device, group_idxs):
    return {g: fedlab.evaluate(device["net"], testset, idxs)[1] for g, idxs in group_idxs.items()}


def group_tracker_overwritten(epoch, device, group_idxs):
    accs = {g: fedlab.evaluate(device["net"], testset, idxs)[1] for g, idxs in group_idxs.items()}
    device["group_acc_tracker"] = {g: [acc] for g, acc in accs.items()}
    return accs


def group_on_trainset(epoch, device, group_idxs):
    accs = {g: fedlab.evaluate(device["net"], trainset, idxs)[1] for g, idxs in group_idxs.items()}
    for g, acc in accs.items():
        device.setdefault("group_acc_tracker", {}).setdefault(g, []).append(acc)
    return accs


def group_whole_testset(epoch, device, group_idxs):
    accs = {g: fedlab.evaluate(device["net"], testset)[1] for g in group_idxs}
    for g, acc in accs.items():
        device.setdefault("group_acc_tracker", {}).setdefault(g, []).append(acc)
    return accs


GROUP_TEST_CORRECT = [group_evaluate, group_float32_percent, group_numpy]
GROUP_TEST_WRONG = [(group_training_mode, "eval mode"), (group_returns_tensors, "a float accuracy"),
                    (group_fraction, "% (within 0.01)"), (group_no_tracker, "group_acc_tracker"),
                    (group_tracker_overwritten, "a list of 2 accuracies"), (group_on_trainset, "% (within 0.01)"),
                    (group_whole_testset, "% (within 0.01)")]


def check_test_group(test_group):
    """The notebook's check cell: check_test_group(test_group, testset)."""
    checks.check_test_group(test_group, testset)


# ---------------------------------------------------------------- every check on its variants

VARIANTS = {
    checks.check_noniid_group_sampler: (SAMPLER_CORRECT, SAMPLER_WRONG),
    checks.check_get_devices_for_round_group: (GROUP_ROUND_CORRECT, GROUP_ROUND_WRONG),
    checks.check_group_test_split: (SPLIT_CORRECT, SPLIT_WRONG),
    check_test_group: (GROUP_TEST_CORRECT, GROUP_TEST_WRONG),
}


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 0))
def test_correct_answers_pass(check, fn, capsys):
    assert_passes(check, fn, capsys)


@pytest.mark.parametrize("check, fn, phrase", cases(VARIANTS, 1))
def test_wrong_answers_teach(check, fn, phrase, capsys):
    assert_teaches(check, fn, phrase, capsys)
