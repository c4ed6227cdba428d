"""fedlab.checks for assignment 01 pass correct answers and teach on plausible wrong ones.

Each check runs on correct implementations written in other styles (numpy, torch, pure Python,
other return types) and on wrong ones students write, one or more for every class of fault
(sizes not rounded, unrepeatable draws, inputs changed, read-once results, ...); a failure must
name the input, the expectation, what came back and the phrase listed with the variant, and
nothing may reach stderr (nbgrader zeroes cells that write there). tests/test_assignments.py
runs the same variants against the graded test cells.
"""
import copy
import math
import random
from collections import OrderedDict

import numpy as np
import pytest
import torch

from check_variants import assert_passes, assert_teaches, cases
from fedlab import checks


# ---------------------------------------------------------------- iid_sampler

def iid_random_sample(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset))
    return {d: random.sample(range(len(dataset)), n) for d in range(num_devices)}


def iid_numpy_choice(dataset, num_devices, data_pct):
    n = int(round(data_pct * len(dataset)))
    return {d: np.random.choice(len(dataset), n, replace=False) for d in range(num_devices)}


def iid_torch_randperm(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset.targets))
    return {d: torch.randperm(len(dataset))[:n] for d in range(num_devices)}


def iid_numpy_generator_seeded_from_global(dataset, num_devices, data_pct):
    rng = np.random.default_rng(np.random.randint(2**31))  # seeded through np.random: repeatable
    n = round(data_pct * len(dataset))
    return {d: rng.permutation(len(dataset))[:n].tolist() for d in range(num_devices)}


def iid_ceil_size(dataset, num_devices, data_pct):
    n = math.ceil(data_pct * len(dataset))
    return {d: random.sample(range(len(dataset)), n) for d in range(num_devices)}


def iid_unseeded_generator(dataset, num_devices, data_pct):
    rng = np.random.default_rng()
    n = round(data_pct * len(dataset))
    return {d: rng.choice(len(dataset), n, replace=False) for d in range(num_devices)}


def iid_shuffles_the_labels(dataset, num_devices, data_pct):
    order = dataset.targets  # meant as a copy to shuffle
    random.shuffle(order)
    n = round(data_pct * len(dataset))
    return {d: random.sample(range(len(dataset)), n) for d in range(num_devices)}


def iid_generators(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset))
    return {d: (i for i in random.sample(range(len(dataset)), n)) for d in range(num_devices)}


def iid_with_replacement(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset))
    return {d: np.random.randint(0, len(dataset), n).tolist() for d in range(num_devices)}


def iid_same_for_every_device(dataset, num_devices, data_pct):
    idxs = random.sample(range(len(dataset)), round(data_pct * len(dataset)))
    return {d: idxs for d in range(num_devices)}


def iid_contiguous_slices(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset))
    starts = [random.randint(0, len(dataset) - n) for _ in range(num_devices)]
    return {d: list(range(s, s + n)) for d, s in enumerate(starts)}


def iid_disjoint_shards(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset))
    order = np.random.permutation(len(dataset))
    return {d: order[np.arange(d * n, (d + 1) * n) % len(dataset)] for d in range(num_devices)}


def iid_floored_size(dataset, num_devices, data_pct):
    n = int(data_pct * len(dataset))
    return {d: random.sample(range(len(dataset)), n) for d in range(num_devices)}


def iid_ids_from_one(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset))
    return {d + 1: random.sample(range(len(dataset)), n) for d in range(num_devices)}


def iid_first_half_only(dataset, num_devices, data_pct):
    n = round(data_pct * len(dataset))
    return {d: random.sample(range(len(dataset) // 2), n) for d in range(num_devices)}


def iid_not_written(dataset, num_devices, data_pct):
    raise NotImplementedError()


IID_CORRECT = [iid_random_sample, iid_numpy_choice, iid_torch_randperm, iid_numpy_generator_seeded_from_global]
IID_WRONG = [(iid_with_replacement, "distinct indices"), (iid_same_for_every_device, "own random sample"),
             (iid_contiguous_slices, "contiguous block"), (iid_disjoint_shards, "drawing independently"),
             (iid_floored_size, "4 indices for every device"), (iid_ceil_size, "3 indices for every device"),
             (iid_ids_from_one, "as keys"), (iid_first_half_only, "spread uniformly"),
             (iid_not_written, "raised NotImplementedError"), (iid_unseeded_generator, "the same result both times"),
             (iid_shuffles_the_labels, "the data set left as it was"), (iid_generators, "read only once")]


# ---------------------------------------------------------------- average_weights

def avg_stack_mean(devices):
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, torch.stack([s[k].float() for s in states]).mean(0)) for k in states[0])


def avg_running_sum(devices):
    total = copy.deepcopy(devices[0]["net"].state_dict())
    total = OrderedDict((k, v.float()) for k, v in total.items())
    for d in devices[1:]:
        for k, v in d["net"].state_dict().items():
            total[k] += v.float()
    for k in total:
        total[k] /= len(devices)
    return total


def avg_keeps_integer_dtype(devices):
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, (torch.stack([s[k].float() for s in states]).mean(0)).to(states[0][k].dtype))
                       for k in states[0])


def avg_numpy_plain_dict(devices):
    states = [d["net"].state_dict() for d in devices]
    return {k: torch.as_tensor(np.mean([s[k].cpu().numpy() for s in states], axis=0, dtype=np.float32))
            for k in states[0]}


def avg_float64(devices):
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, torch.stack([s[k].double() for s in states]).mean(0)) for k in states[0])


def avg_counter_of_device_0(devices):
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, torch.stack([s[k].float() for s in states]).mean(0) if s0.is_floating_point()
                        else s0.clone()) for k, s0 in states[0].items())


def avg_mutates_device_0(devices):
    total = devices[0]["net"].state_dict()
    for d in devices[1:]:
        for k, v in d["net"].state_dict().items():
            if v.is_floating_point():
                total[k] += v
    return OrderedDict((k, v.float() / len(devices)) for k, v in total.items())


def avg_divides_by_n_minus_1(devices):
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, sum(s[k].float() for s in states) / (len(devices) - 1)) for k in states[0])


def avg_returns_device_0(devices):
    return OrderedDict((k, v.float().clone()) for k, v in devices[0]["net"].state_dict().items())


def avg_skips_buffers(devices):
    params = [dict(d["net"].named_parameters()) for d in devices]
    return OrderedDict((k, torch.stack([p[k].detach().float() for p in params]).mean(0)) for k in params[0])


def avg_last_device_only(devices):
    return OrderedDict((k, v.float().clone()) for k, v in devices[-1]["net"].state_dict().items())


def avg_in_place_on_integer_buffer(devices):
    total = OrderedDict((k, v.clone()) for k, v in devices[0]["net"].state_dict().items())
    for d in devices[1:]:
        for k, v in d["net"].state_dict().items():
            total[k] += v
    for k in total:
        total[k] /= len(devices)  # integer num_batches_tracked: torch refuses
    return total


AVG_CORRECT = [avg_stack_mean, avg_running_sum, avg_keeps_integer_dtype, avg_numpy_plain_dict]
AVG_WRONG = [(avg_mutates_device_0, "weights left as they were"), (avg_divides_by_n_minus_1, "layer1.weight = "),
             (avg_returns_device_0, "layer1.weight = "), (avg_skips_buffers, "state-dict keys"),
             (avg_last_device_only, "layer1.weight = "), (avg_in_place_on_integer_buffer, " raised "),
             (avg_float64, "32-bit float"), (avg_counter_of_device_0, "num_batches_tracked")]


# ---------------------------------------------------------------- get_devices_for_round

def round_random_sample(devices, device_pct):
    return random.sample(devices, round(device_pct * len(devices)))


def round_numpy_choice(devices, device_pct):
    picks = np.random.choice(len(devices), int(round(device_pct * len(devices))), replace=False)
    return [devices[i] for i in picks]


def round_torch_tuple(devices, device_pct):
    picks = torch.randperm(len(devices))[:round(device_pct * len(devices))]
    return tuple(devices[i] for i in picks.tolist())


def round_shuffled_copy(devices, device_pct):
    pool = list(devices)
    random.shuffle(pool)
    return pool[:round(device_pct * len(devices))]


def round_ceil(devices, device_pct):
    return random.sample(devices, math.ceil(device_pct * len(devices)))


def round_shuffles_in_place(devices, device_pct):
    random.shuffle(devices)
    return devices[:round(device_pct * len(devices))]


def round_map(devices, device_pct):
    return map(lambda i: devices[i], random.sample(range(len(devices)), round(device_pct * len(devices))))


def round_unseeded_generator(devices, device_pct):
    picks = np.random.default_rng().choice(len(devices), round(device_pct * len(devices)), replace=False)
    return [devices[i] for i in picks]


def round_with_replacement(devices, device_pct):
    return [random.choice(devices) for _ in range(round(device_pct * len(devices)))]


def round_floored(devices, device_pct):
    return random.sample(devices, int(device_pct * len(devices)))


def round_always_first(devices, device_pct):
    return devices[:round(device_pct * len(devices))]


def round_returns_ids(devices, device_pct):
    return random.sample(range(len(devices)), round(device_pct * len(devices)))


def round_at_least_one_extra(devices, device_pct):
    return random.sample(devices, min(len(devices), round(device_pct * len(devices)) + 1))


def round_skips_device_0(devices, device_pct):
    return random.sample(devices[1:], min(len(devices) - 1, round(device_pct * len(devices))))


ROUND_CORRECT = [round_random_sample, round_numpy_choice, round_torch_tuple, round_shuffled_copy]
ROUND_WRONG = [(round_with_replacement, "distinct devices"), (round_floored, "round(0.07 * 10) = 1 devices"),
               (round_ceil, "round(0.11 * 20) = 2 devices"), (round_always_first, "chosen about 900 times"),
               (round_returns_ids, "devices taken from the given list"), (round_at_least_one_extra, "devices"),
               (round_skips_device_0, "round(1.0 * 10) = 10 devices"), (round_shuffles_in_place, "left as it was"),
               (round_map, "read only once"), (round_unseeded_generator, "the same result both times")]


@pytest.mark.parametrize("check, fn", [(checks.check_iid_sampler, iid_random_sample),
                                       (checks.check_average_weights, avg_stack_mean)])
def test_checks_leave_the_students_random_numbers_alone(check, fn, capsys):
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    expected = draws()
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    check(fn)
    assert draws() == expected


# ---------------------------------------------------------------- every check on its variants

VARIANTS = {
    checks.check_iid_sampler: (IID_CORRECT, IID_WRONG),
    checks.check_average_weights: (AVG_CORRECT, AVG_WRONG),
    checks.check_get_devices_for_round: (ROUND_CORRECT, ROUND_WRONG),
}


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 0))
def test_correct_answers_pass(check, fn, capsys):
    assert_passes(check, fn, capsys)


@pytest.mark.parametrize("check, fn, phrase", cases(VARIANTS, 1))
def test_wrong_answers_teach(check, fn, phrase, capsys):
    assert_teaches(check, fn, phrase, capsys)
