"""fedlab.checks for assignment 01 pass correct answers and teach on plausible wrong ones.

Each check runs on at least two correct implementations written differently and at least
four wrong ones a student might write; a failure must name the input, the expectation and
what came back, and nothing may reach stderr (nbgrader zeroes cells that write there).
"""
import copy
import random
from collections import OrderedDict

import numpy as np
import pytest
import torch

from check_variants import assert_passes, assert_teaches, cases, run_check
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


IID_CORRECT = [iid_random_sample, iid_numpy_choice, iid_torch_randperm]
IID_WRONG = [iid_with_replacement, iid_same_for_every_device, iid_contiguous_slices, iid_disjoint_shards,
             iid_floored_size, iid_ids_from_one, iid_first_half_only, iid_not_written]


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


def avg_keeps_integer_dtype(devices):
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, (torch.stack([s[k].float() for s in states]).mean(0)).to(states[0][k].dtype))
                       for k in states[0])


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


AVG_CORRECT = [avg_stack_mean, avg_running_sum]
AVG_WRONG = [avg_mutates_device_0, avg_divides_by_n_minus_1, avg_returns_device_0, avg_keeps_integer_dtype,
             avg_skips_buffers, avg_last_device_only, avg_in_place_on_integer_buffer]


def test_average_weights_check_names_the_changed_device(capsys):
    _, message = run_check(checks.check_average_weights, avg_mutates_device_0, capsys)
    assert "device 0" in message and "changed" in message


# ---------------------------------------------------------------- get_devices_for_round

def round_random_sample(devices, device_pct):
    return random.sample(devices, round(device_pct * len(devices)))


def round_numpy_choice(devices, device_pct):
    picks = np.random.choice(len(devices), int(round(device_pct * len(devices))), replace=False)
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


ROUND_CORRECT = [round_random_sample, round_numpy_choice]
ROUND_WRONG = [round_with_replacement, round_floored, round_always_first, round_returns_ids,
               round_at_least_one_extra, round_skips_device_0]


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


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 1))
def test_wrong_answers_teach(check, fn, capsys):
    assert_teaches(check, fn, capsys)
