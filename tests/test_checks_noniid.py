"""fedlab.checks for assignment 02 pass correct answers and teach on plausible wrong ones."""
import random

import numpy as np
import pytest
import torch

from check_variants import assert_passes, assert_teaches, cases
from fedlab import checks

GROUPS = [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


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


SAMPLER_CORRECT = [sampler_numpy_pools, sampler_python_lists, sampler_torch_labels]
SAMPLER_WRONG = [sampler_loads_images, sampler_groups_shifted, sampler_round_robin, sampler_with_replacement,
                 sampler_same_for_group, sampler_one_class_per_device, sampler_contiguous_in_pool, sampler_fixed_size]


def test_noniid_group_sampler_check_says_to_read_labels(capsys):
    with pytest.raises(AssertionError, match="dataset.targets"):
        checks.check_noniid_group_sampler(sampler_loads_images)


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


GROUP_ROUND_CORRECT = [group_round_random_sample, group_round_numpy_by_id]
GROUP_ROUND_WRONG = [group_round_round_robin, group_round_with_replacement, group_round_first_of_group,
                     group_round_ignores_groups, group_round_groups_of_19, group_round_ids]


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


SPLIT_CORRECT = [split_comprehension, split_numpy, split_by_loading]
SPLIT_WRONG = [split_shifted, split_range_off_by_one, split_labels_not_indices, split_per_class, split_round_robin]


# ---------------------------------------------------------------- every check on its variants

VARIANTS = {
    checks.check_noniid_group_sampler: (SAMPLER_CORRECT, SAMPLER_WRONG),
    checks.check_get_devices_for_round_group: (GROUP_ROUND_CORRECT, GROUP_ROUND_WRONG),
    checks.check_group_test_split: (SPLIT_CORRECT, SPLIT_WRONG),
}


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 0))
def test_correct_answers_pass(check, fn, capsys):
    assert_passes(check, fn, capsys)


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 1))
def test_wrong_answers_teach(check, fn, capsys):
    assert_teaches(check, fn, capsys)
