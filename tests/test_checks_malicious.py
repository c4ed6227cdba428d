"""fedlab.checks for assignment 04 pass correct answers and teach on plausible wrong ones.

Correct answers are written in several styles (in place through the state dict, a new state
dict loaded, numpy, parameters and buffers walked separately; a_i in torch or Python loops,
integer entries returned as float32 or in their own dtype); wrong ones are what students write:
0.5 used as the variance, integer buffers overwritten, only the parameters replaced, a copy
changed, an unseeded generator; flagging by a_i > epsilon alone, the flagged device averaged
in, no square root, no division by N, integer entries in a_i, devices changed in place.
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


# ---------------------------------------------------------------- generate_fake_weights

def fake_normal_in_place(device):
    with torch.no_grad():
        for value in device["net"].state_dict().values():
            if value.is_floating_point():
                value.normal_(0, 0.5)
    return device


def fake_load_new_state(device):
    state = device["net"].state_dict()
    fake = OrderedDict((k, 0.5 * torch.randn_like(v) if v.is_floating_point() else v) for k, v in state.items())
    device["net"].load_state_dict(fake)
    return device


def fake_numpy(device):
    state = device["net"].state_dict()
    fake = {k: torch.from_numpy(np.random.normal(0.0, 0.5, tuple(v.shape))).float() if v.is_floating_point() else v
            for k, v in state.items()}
    device["net"].load_state_dict(fake)
    return device


def fake_parameters_then_buffers(device):
    with torch.no_grad():
        for p in device["net"].parameters():
            p.copy_(torch.normal(0.0, 0.5, size=p.shape))
        for b in device["net"].buffers():
            if b.dtype in (torch.float16, torch.float32, torch.float64):
                b.copy_(torch.normal(0.0, 0.5, size=b.shape))
    return device


def fake_std_as_variance(device):
    with torch.no_grad():
        for value in device["net"].state_dict().values():
            if value.is_floating_point():
                value.normal_(0, math.sqrt(0.5))
    return device


def fake_variance_as_std(device):
    with torch.no_grad():
        for value in device["net"].state_dict().values():
            if value.is_floating_point():
                value.normal_(0, 0.5 ** 2)
    return device


def fake_uniform(device):
    with torch.no_grad():
        for value in device["net"].state_dict().values():
            if value.is_floating_point():
                value.uniform_(-0.5, 0.5)
    return device


def fake_integers_overwritten(device):
    state = device["net"].state_dict()
    device["net"].load_state_dict({k: 0.5 * torch.randn(v.shape) for k, v in state.items()})
    return device


def fake_integers_zeroed(device):
    with torch.no_grad():
        for value in device["net"].state_dict().values():
            if value.is_floating_point():
                value.normal_(0, 0.5)
            else:
                value.zero_()
    return device


def fake_parameters_only(device):
    with torch.no_grad():
        for p in device["net"].parameters():
            p.normal_(0, 0.5)
    return device


def fake_never_loaded(device):
    fake = {k: 0.5 * torch.randn_like(v) if v.is_floating_point() else v
            for k, v in device["net"].state_dict().items()}
    device["fake"] = fake
    return device


def fake_on_a_copy(device):
    return fake_normal_in_place(copy.deepcopy(device))


def fake_new_net(device):
    net = copy.deepcopy(device["net"])
    device["net"] = net
    return fake_normal_in_place(device)


def fake_returns_none(device):
    fake_normal_in_place(device)


def fake_unseeded_generator(device):
    rng = np.random.default_rng()
    state = device["net"].state_dict()
    device["net"].load_state_dict({k: torch.from_numpy(rng.normal(0.0, 0.5, tuple(v.shape))).float()
                                   if v.is_floating_point() else v for k, v in state.items()})
    return device


def fake_mean_half(device):
    with torch.no_grad():
        for value in device["net"].state_dict().values():
            if value.is_floating_point():
                value.normal_(0.5, 0.5)
    return device


FAKE_CORRECT = [fake_normal_in_place, fake_load_new_state, fake_numpy, fake_parameters_then_buffers]
FAKE_WRONG = [(fake_std_as_variance, "not the variance"), (fake_variance_as_std, "not the variance"),
              (fake_uniform, "N(0, 0.5)"), (fake_integers_overwritten, "integer entry"),
              (fake_integers_zeroed, "integer entry"), (fake_parameters_only, "buffers"), (fake_never_loaded, "buffers"),
              (fake_on_a_copy, "the device itself"), (fake_new_net, "same net object"),
              (fake_returns_none, "the device itself"), (fake_unseeded_generator, "seeds"),
              (fake_mean_half, "mean 0 and standard deviation 0.5")]


# ---------------------------------------------------------------- secure_average_weights

def average_weights(devices):
    """01's average_weights, as the notebook has it."""
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, torch.stack([s[k].float() for s in states]).mean(0)) for k in states[0])


def secure_torch(devices, epsilon=0.1):
    w_avg = average_weights(devices)
    floats = [k for k, v in devices[0]["net"].state_dict().items() if v.is_floating_point()]
    n = sum(w_avg[k].numel() for k in floats)
    a = [torch.sqrt(sum(((d["net"].state_dict()[k] - w_avg[k]) ** 2).sum() for k in floats) / n) for d in devices]
    a_avg = sum(a) / len(a)
    kept = [d for d, a_i in zip(devices, a) if a_i <= a_avg + epsilon]
    print("a_i:", [round(float(a_i), 3) for a_i in a], "flagged:", [d["id"] for d in devices if d not in kept])
    return average_weights(kept)


def secure_flat_vectors(devices, epsilon=0.1):
    w_avg = average_weights(devices)
    floats = [k for k, v in w_avg.items() if devices[0]["net"].state_dict()[k].is_floating_point()]
    center = torch.cat([w_avg[k].flatten() for k in floats])
    a = torch.stack([torch.cat([d["net"].state_dict()[k].flatten() for k in floats]).sub(center).pow(2).mean().sqrt()
                     for d in devices])
    keep = (a <= a.mean() + epsilon).tolist()
    kept = [d for d, k in zip(devices, keep) if k]
    states = [d["net"].state_dict() for d in kept]
    return OrderedDict((k, (sum(s[k].double() for s in states) / len(states)).to(v.dtype))
                       for k, v in states[0].items())  # integer entries in their own dtype


def secure_python_loops(devices, epsilon=0.1):
    w_avg = average_weights(devices)
    scores = []
    for d in devices:
        total, count = 0.0, 0
        for k, v in d["net"].state_dict().items():
            if v.dtype.is_floating_point:
                total += float(((v.double() - w_avg[k].double()) ** 2).sum())
                count += v.numel()
        scores.append(math.sqrt(total / count))
    a_avg = sum(scores) / len(scores)
    return average_weights([d for d, a_i in zip(devices, scores) if not a_i > a_avg + epsilon])


def secure_epsilon_alone(devices, epsilon=0.1):
    w_avg = average_weights(devices)
    floats = [k for k, v in devices[0]["net"].state_dict().items() if v.is_floating_point()]
    n = sum(w_avg[k].numel() for k in floats)
    a = [math.sqrt(sum(float(((d["net"].state_dict()[k] - w_avg[k]) ** 2).sum()) for k in floats) / n) for d in devices]
    kept = [d for d, a_i in zip(devices, a) if a_i <= epsilon]
    return average_weights(kept or devices)


def _scores(devices, w_avg, keys, root=True, per_element=True):
    n = sum(w_avg[k].numel() for k in keys)
    out = []
    for d in devices:
        sq = sum(float(((d["net"].state_dict()[k].float() - w_avg[k]) ** 2).sum()) for k in keys)
        sq = sq / n if per_element else sq
        out.append(math.sqrt(sq) if root else sq)
    return out


def _flagging(devices, epsilon, **how):
    w_avg = average_weights(devices)
    keys = how.pop("keys", None) or [k for k, v in devices[0]["net"].state_dict().items() if v.is_floating_point()]
    a = _scores(devices, w_avg, keys, **how)
    a_avg = sum(a) / len(a)
    return [d for d, a_i in zip(devices, a) if a_i <= a_avg + epsilon]


def secure_includes_flagged(devices, epsilon=0.1):
    _flagging(devices, epsilon)
    return average_weights(devices)


def secure_no_square_root(devices, epsilon=0.1):
    return average_weights(_flagging(devices, epsilon, root=False))


def secure_not_divided_by_n(devices, epsilon=0.1):
    return average_weights(_flagging(devices, epsilon, per_element=False))


def secure_integer_entries_in_a_i(devices, epsilon=0.1):
    return average_weights(_flagging(devices, epsilon, keys=list(devices[0]["net"].state_dict())))


def secure_default_epsilon_0_3(devices, epsilon=0.3):
    return average_weights(_flagging(devices, epsilon))


def secure_epsilon_ignored(devices, epsilon=0.1):
    return average_weights(_flagging(devices, 0.1))


def secure_flags_only_the_worst(devices, epsilon=0.1):
    w_avg = average_weights(devices)
    keys = [k for k, v in devices[0]["net"].state_dict().items() if v.is_floating_point()]
    a = _scores(devices, w_avg, keys)
    worst = max(range(len(a)), key=a.__getitem__)
    return average_weights([d for i, d in enumerate(devices) if i != worst])


def secure_returns_flagged_average(devices, epsilon=0.1):
    kept = _flagging(devices, epsilon)
    flagged = [d for d in devices if d not in kept]
    return average_weights(flagged or devices)


def secure_subtracts_in_place(devices, epsilon=0.1):
    w_avg = average_weights(devices)
    keys = [k for k, v in devices[0]["net"].state_dict().items() if v.is_floating_point()]
    n = sum(w_avg[k].numel() for k in keys)
    a = []
    for d in devices:
        state = d["net"].state_dict()
        for k in keys:
            state[k].sub_(w_avg[k])
        a.append(math.sqrt(sum(float((state[k] ** 2).sum()) for k in keys) / n))
        for k in keys:
            state[k].add_(w_avg[k])
    a_avg = sum(a) / len(a)
    return average_weights([d for d, a_i in zip(devices, a) if a_i <= a_avg + epsilon])


def secure_median_threshold(devices, epsilon=0.1):
    w_avg = average_weights(devices)
    keys = [k for k, v in devices[0]["net"].state_dict().items() if v.is_floating_point()]
    a = _scores(devices, w_avg, keys)
    median = sorted(a)[len(a) // 2]
    return average_weights([d for d, a_i in zip(devices, a) if a_i <= median + epsilon])


SECURE_CORRECT = [secure_torch, secure_flat_vectors, secure_python_loops]
SECURE_WRONG = [(secure_epsilon_alone, "(nobody flagged)"), (secure_includes_flagged, "(nobody flagged)"),
                (secure_no_square_root, "(nobody flagged)"), (secure_not_divided_by_n, "(device 4 flagged)"),
                (secure_integer_entries_in_a_i, "(device 4 flagged)"), (secure_default_epsilon_0_3, "epsilon=0.1"),
                (secure_epsilon_ignored, "(device 4 flagged)"), (secure_flags_only_the_worst, "(device 4 flagged)"),
                (secure_returns_flagged_average, "the average of device 4 ("),
                (secure_subtracts_in_place, "left as they were")]


def test_checks_leave_the_students_random_numbers_alone(capsys):
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    for check, fn in [(checks.check_generate_fake_weights, fake_normal_in_place),
                      (checks.check_secure_average_weights, secure_torch)]:
        random.seed(5), np.random.seed(5), torch.manual_seed(5)
        expected = draws()
        random.seed(5), np.random.seed(5), torch.manual_seed(5)
        check(fn)
        assert draws() == expected


def test_the_curriculum_numbers_hold_in_the_checks_scenario():
    """4 honest devices and one N(0, 0.5): a_honest ~ 0.10, a_malicious ~ 0.40, a_avg ~ 0.16; 0.3 flags nobody."""
    devices, _ = checks.malicious._scenario([0.05, 0.05, 0.05, 0.05], 1, [2, 4, 6, 8, 100], seed=0)
    keys = [k for k, v in devices[0]["net"].state_dict().items() if v.is_floating_point()]
    a = _scores(devices, average_weights(devices), keys)
    a_avg = sum(a) / len(a)
    assert all(0.08 < a_i < 0.14 for a_i in a[:4]) and 0.35 < a[4] < 0.45 and 0.14 < a_avg < 0.19, a
    assert a[4] > a_avg + 0.1 and a[4] < a_avg + 0.3 and max(a[:4]) < a_avg + 0.1


# ---------------------------------------------------------------- every check on its variants

VARIANTS = {
    checks.check_generate_fake_weights: (FAKE_CORRECT, FAKE_WRONG),
    checks.check_secure_average_weights: (SECURE_CORRECT, SECURE_WRONG),
}


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 0))
def test_correct_answers_pass(check, fn, capsys):
    assert_passes(check, fn, capsys)


@pytest.mark.parametrize("check, fn, phrase", cases(VARIANTS, 1))
def test_wrong_answers_teach(check, fn, phrase, capsys):
    assert_teaches(check, fn, phrase, capsys)

