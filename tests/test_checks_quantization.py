"""fedlab.checks for assignment 03 pass correct answers and teach on plausible wrong ones.

Correct answers are written in several styles (torch, numpy, Python loops, a number or a tensor
as the scale); wrong ones are what students write: 2**nbit levels instead of 2**nbit - 1 steps,
floor instead of round, noise of the wrong scale, shape or distribution, the scale from the mean,
a given scale ignored, the input changed in place. Each wrong one must name its mistake.
"""
import math
import random

import numpy as np
import pytest
import torch

from check_variants import assert_passes, assert_teaches, cases
from fedlab import checks


# ---------------------------------------------------------------- quantizer

def q_torch_round(input, nbit):
    levels = 2 ** nbit - 1
    return torch.round(input * levels) / levels


def q_floor_half(input, nbit):
    levels = 2 ** nbit - 1
    return torch.floor(input * levels + 0.5) / levels


def q_numpy(input, nbit):
    levels = 2 ** nbit - 1
    return torch.from_numpy(np.round(input.numpy() * levels) / levels).float()


def q_python_loop(input, nbit):
    levels = 2 ** nbit - 1
    flat = [round(v * levels) / levels for v in input.flatten().tolist()]
    return torch.tensor(flat, dtype=input.dtype).reshape(input.shape)


def q_two_pow_nbit(input, nbit):
    return torch.round(input * 2 ** nbit) / 2 ** nbit


def q_two_pow_nbit_clamped(input, nbit):
    return torch.clamp(torch.round(input * 2 ** nbit), 0, 2 ** nbit - 1) / (2 ** nbit - 1)


def q_floor(input, nbit):
    levels = 2 ** nbit - 1
    return torch.floor(input * levels) / levels


def q_ceil(input, nbit):
    levels = 2 ** nbit - 1
    return torch.ceil(input * levels) / levels


def q_in_place(input, nbit):
    levels = 2 ** nbit - 1
    return input.mul_(levels).round_().div_(levels)


def q_float64(input, nbit):
    levels = 2 ** nbit - 1
    return torch.from_numpy(np.round(input.numpy().astype(np.float64) * levels) / levels)


def q_flattened(input, nbit):
    levels = 2 ** nbit - 1
    return torch.round(input.flatten() * levels) / levels


def q_returns_levels(input, nbit):
    return torch.round(input * (2 ** nbit - 1))


def q_list(input, nbit):
    levels = 2 ** nbit - 1
    return [round(v * levels) / levels for v in input.flatten().tolist()]


def q_not_written(input, nbit):
    raise NotImplementedError()


Q_CORRECT = [q_torch_round, q_floor_half, q_numpy, q_python_loop]
Q_WRONG = [(q_two_pow_nbit, "2**nbit - 1"), (q_two_pow_nbit_clamped, "2**nbit - 1"), (q_floor, "nearest"),
           (q_ceil, "nearest"), (q_in_place, "input tensor left as it was"), (q_float64, "float32"),
           (q_flattened, "shape"), (q_returns_levels, "multiple of 1 / (2**nbit - 1)"), (q_list, "a torch tensor"),
           (q_not_written, "raised NotImplementedError")]


# ---------------------------------------------------------------- dorefa_g (each uses the right quantizer)

quantizer = q_torch_round


def d_reference(w, nbit, adaptive_scale=None):
    s = torch.max(torch.abs(w)) if adaptive_scale is None else adaptive_scale
    noise = (torch.rand(w.shape) - 0.5) / (2 ** nbit - 1)
    return 2 * s * (quantizer(w / (2 * s) + 0.5 + noise, nbit) - 0.5), s


def d_rand_like_float_scale(w, nbit, adaptive_scale=None):
    s = float(w.abs().max()) if adaptive_scale is None else adaptive_scale
    sigma = torch.rand_like(w) - 0.5
    return 2 * s * (q_python_loop(w / (2 * s) + 0.5 + sigma / (2 ** nbit - 1), nbit) - 0.5), s


def d_numpy(w, nbit, adaptive_scale=None):
    s = np.abs(w.numpy()).max() if adaptive_scale is None else adaptive_scale
    sigma = torch.rand(w.size()).numpy() - 0.5
    levels = 2 ** nbit - 1
    q = np.round((w.numpy() / (2 * s) + 0.5 + sigma / levels) * levels) / levels
    return torch.from_numpy(2 * s * (q - 0.5)).float(), s


def d_uniform_(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else torch.tensor(adaptive_scale)
    sigma = torch.empty_like(w).uniform_(-0.5, 0.5)
    return 2 * s * (quantizer(w / (2 * s) + 0.5 + sigma / (2 ** nbit - 1), nbit) - 0.5), s


def _dorefa(w, nbit, s, noise, levels=None):
    levels = levels or 2 ** nbit - 1
    return 2 * s * (torch.round((w / (2 * s) + 0.5 + noise) * levels) / levels - 0.5)


def d_two_pow_nbit(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, (torch.rand(w.shape) - 0.5) / 2 ** nbit, levels=2 ** nbit), s


def d_noise_not_scaled(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, torch.rand(w.shape) - 0.5), s


def d_noise_scaled_by_2_pow_nbit(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, (torch.rand(w.shape) - 0.5) / 2 ** nbit), s


def d_one_noise_for_all(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, (torch.rand(1) - 0.5) / (2 ** nbit - 1)), s


def d_noise_per_output_channel(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    shape = (w.shape[0],) + (1,) * (w.dim() - 1)
    return _dorefa(w, nbit, s, (torch.rand(shape) - 0.5) / (2 ** nbit - 1)), s


def d_noise_transposed_order(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    noise = torch.rand(tuple(reversed(w.shape))).permute(*reversed(range(w.dim())))
    return _dorefa(w, nbit, s, (noise - 0.5) / (2 ** nbit - 1)), s


def d_gaussian_noise(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, 0.5 * torch.randn(w.shape) / (2 ** nbit - 1)), s


def d_noise_not_centred(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, torch.rand(w.shape) / (2 ** nbit - 1)), s


def d_no_noise(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, torch.zeros_like(w)), s


def d_scale_from_mean(w, nbit, adaptive_scale=None):
    s = w.abs().mean() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, (torch.rand(w.shape) - 0.5) / (2 ** nbit - 1)), s


def d_scale_max_not_abs(w, nbit, adaptive_scale=None):
    s = w.max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, (torch.rand(w.shape) - 0.5) / (2 ** nbit - 1)), s


def d_given_scale_ignored(w, nbit, adaptive_scale=None):
    s = w.abs().max()
    return _dorefa(w, nbit, s, (torch.rand(w.shape) - 0.5) / (2 ** nbit - 1)), s


def d_returns_w_q_only(w, nbit, adaptive_scale=None):
    return d_reference(w, nbit, adaptive_scale)[0]


def d_numpy_noise(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    return _dorefa(w, nbit, s, torch.from_numpy(np.random.uniform(-0.5, 0.5, tuple(w.shape))).float()
                   / (2 ** nbit - 1)), s


def d_in_place(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    noise = (torch.rand(w.shape) - 0.5) / (2 ** nbit - 1)
    w.div_(2 * s).add_(0.5 + noise).mul_(2 ** nbit - 1).round_().div_(2 ** nbit - 1).sub_(0.5).mul_(2 * s)
    return w, s


def d_python_random_noise(w, nbit, adaptive_scale=None):
    s = w.abs().max() if adaptive_scale is None else adaptive_scale
    noise = torch.tensor([random.random() - 0.5 for _ in range(w.numel())]).reshape(w.shape)
    return _dorefa(w, nbit, s, noise / (2 ** nbit - 1)), s


def d_float64(w, nbit, adaptive_scale=None):
    w_q, s = d_reference(w, nbit, adaptive_scale)
    return w_q.double(), s


D_CORRECT = [d_reference, d_rand_like_float_scale, d_numpy, d_uniform_]
D_WRONG = [(d_two_pow_nbit, "/ (2**nbit - 1)"), (d_noise_not_scaled, "(2**nbit - 1)"),
           (d_noise_scaled_by_2_pow_nbit, "unbiased"), (d_one_noise_for_all, "w's shape"),
           (d_noise_per_output_channel, "w's shape"), (d_noise_transposed_order, "in one call"),
           (d_gaussian_noise, "torch.rand(w.shape)"), (d_noise_not_centred, "unbiased"),
           (d_no_noise, "own centred noise"), (d_scale_from_mean, "max|w|"), (d_scale_max_not_abs, "max|w|"),
           (d_given_scale_ignored, "given adaptive_scale"), (d_returns_w_q_only, "a tuple (w_q, adaptive_scale)"),
           (d_numpy_noise, "torch.rand(w.shape)"), (d_in_place, "input tensor left as it was"),
           (d_python_random_noise, "torch.rand(w.shape)"), (d_float64, "float32")]


@pytest.mark.parametrize("check, fn", [(checks.check_quantizer, q_torch_round), (checks.check_dorefa_g, d_reference)])
def test_checks_leave_the_students_random_numbers_alone(check, fn, capsys):
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    expected = draws()
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    check(fn)
    assert draws() == expected


def test_the_curriculum_example_is_what_the_check_expects():
    """The check's constants are the curriculum's; the readable formula on its input gives them."""
    x = torch.tensor([i / 11 for i in range(11)])
    assert torch.allclose(q_torch_round(x, 4), torch.tensor(checks.quantization.EXPECTED_QUANTIZER), atol=1e-4)
    torch.manual_seed(43)
    assert torch.allclose(d_reference(x, 4)[0], torch.tensor(checks.quantization.EXPECTED_DOREFA), atol=1e-4)
    assert math.isclose(float(d_reference(x, 4)[1]), 10 / 11, rel_tol=1e-6)


# ---------------------------------------------------------------- every check on its variants

VARIANTS = {
    checks.check_quantizer: (Q_CORRECT, Q_WRONG),
    checks.check_dorefa_g: (D_CORRECT, D_WRONG),
}


@pytest.mark.parametrize("check, fn", cases(VARIANTS, 0))
def test_correct_answers_pass(check, fn, capsys):
    assert_passes(check, fn, capsys)


@pytest.mark.parametrize("check, fn, phrase", cases(VARIANTS, 1))
def test_wrong_answers_teach(check, fn, phrase, capsys):
    assert_teaches(check, fn, phrase, capsys)

