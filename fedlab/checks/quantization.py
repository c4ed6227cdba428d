"""Checks for assignment 03, quantized uploads.

Each check compares the student's function with fixed values (the curriculum's examples, and
grid positions ``k`` written out for other bit widths, seeds and shapes) and with properties any
correct answer has (on the grid, within half a step or one step, shape, dtype, input unchanged,
unbiased); none of them holds a quantizer.
"""
import torch

from ._kit import call, fail, passed, rounded, seeded

__all__ = ["check_quantizer", "check_dorefa_g"]

ATOL = 1e-4
ELEVEN = [i / 11 for i in range(11)]  # the curriculum's input
EXPECTED_QUANTIZER = [0.0000, 0.0667, 0.2000, 0.2667, 0.3333, 0.4667, 0.5333, 0.6667, 0.7333, 0.8000, 0.9333]
EXPECTED_DOREFA = [-0.0606, 0.0606, 0.1818, 0.3030, 0.3030, 0.4242, 0.5455, 0.5455, 0.7879, 0.7879, 0.9091]

# (nbit, inputs, k): the nearest grid point of each input is k / (2**nbit - 1); no input lies halfway
GRID_CASES = [
    (1, [0.0, 0.2, 0.45, 0.55, 0.8, 1.0], [0, 0, 0, 1, 1, 1]),
    (2, [0.0, 0.1, 0.2, 0.4, 0.6, 0.9, 1.0], [0, 0, 1, 1, 2, 3, 3]),
    (8, [0.0, 0.123, 0.31, 0.77, 1.0], [0, 31, 79, 196, 255]),
    (16, [0.0, 0.123456, 0.654321, 0.999991, 1.0], [0, 8091, 42881, 65534, 65535]),
]

# dorefa_g on a conv weight whose largest magnitude is negative (max|w| is not max w):
# (seed, nbit, adaptive_scale, k) with w_q = 2s * (k / (2**nbit - 1) - 1/2)
CONV_SHAPE = (2, 3, 2, 2)
CONV_USED = "w = 0.1 * torch.randn(2, 3, 2, 2, generator=torch.Generator().manual_seed(6)), a conv weight"
CONV_CASES = [
    (7, 2, None, [1, 2, 0, 1, 1, 2, 1, 2, 2, 3, 2, 1, 1, 1, 2, 1, 1, 2, 1, 0, 2, 2, 1, 2]),
    (8, 3, 0.5, [3, 4, 3, 2, 3, 4, 4, 3, 4, 4, 4, 3, 3, 3, 4, 4, 3, 4, 3, 2, 4, 4, 3, 4]),
]


def _tensor_result(task, used, got, shape):
    """``got`` is a float32 tensor of ``shape``, or a teaching failure."""
    if not torch.is_tensor(got):
        fail(task, used, f"a torch tensor of shape {tuple(shape)}", type(got).__name__)
    if got.dtype != torch.float32:
        fail(task, used, "a float32 tensor, like the input", f"dtype {got.dtype}",
             hint="stay in torch and in the input's dtype (numpy or Python numbers give float64)")
    if tuple(got.shape) != tuple(shape):
        fail(task, used, f"the input's shape {tuple(shape)}", f"shape {tuple(got.shape)}")
    return got.detach().cpu()


def _unchanged(task, used, given, before):
    if not torch.equal(given, before):
        fail(task, used, "the input tensor left as it was", f"it changed to {rounded(given.flatten()[:6])} ...",
             hint="compute a new tensor instead of changing the input in place (mul_, round_, ...)")


def check_quantizer(quantizer):
    """``quantizer(input, nbit)``: the curriculum's values, 1/2/8/16 bits, 0 and 1 exactly, shape, dtype, input."""
    task = "quantizer"
    x = torch.tensor(ELEVEN)
    used = "quantizer(torch.tensor([i / 11 for i in range(11)]), nbit=4)"
    got = _tensor_result(task, used, call(task, quantizer, used, x.clone(), 4), x.shape)
    if not torch.allclose(got, torch.tensor(EXPECTED_QUANTIZER), atol=ATOL):
        fail(task, used, f"{EXPECTED_QUANTIZER} (atol {ATOL})", rounded(got),
             hint="round to the nearest multiple of 1 / (2**nbit - 1): 4 bits give 16 levels, 0 to 15 fifteenths")

    for nbit, values, k in GRID_CASES:
        levels = 2 ** nbit - 1
        used = f"quantizer(torch.tensor({values}), nbit={nbit})"
        got = _tensor_result(task, used, call(task, quantizer, used, torch.tensor(values), nbit), (len(values),))
        want = torch.tensor(k, dtype=torch.float64) / levels
        if not torch.allclose(got.double(), want, atol=min(ATOL, 0.1 / levels), rtol=0):
            fail(task, used, f"the nearest multiples of 1/{levels}: {k} / {levels}",
                 f"{rounded(got * levels)} / {levels}",
                 hint="2**nbit levels from 0 to 1 are 2**nbit - 1 steps apart; round to the nearest, 0 and 1 stay")

    with seeded(3):
        x = torch.rand(3, 4)
    x[0, 0], x[2, 3] = 0.0, 1.0
    before = x.clone()
    used = ("quantizer(x, nbit=8) with x = torch.rand(3, 4) after torch.manual_seed(3), "
            "x[0, 0] = 0 and x[2, 3] = 1")
    got = _tensor_result(task, used, call(task, quantizer, used, x, 8), (3, 4))
    _unchanged(task, used, x, before)
    steps = got.double() * 255
    off_grid = not torch.allclose(steps, steps.round(), atol=1e-3)
    if off_grid or (got.double() - before.double()).abs().max() > 0.5 / 255 + 1e-6:
        fail(task, used, f"every entry at the multiple of 1/255 nearest to it: {rounded(before.flatten()[:4])} -> "
                         f"{rounded((before.double() * 255).round().flatten()[:4])} / 255 ...",
             f"{rounded(steps.flatten()[:4])} / 255 ...")
    passed(task, "the curriculum's 4-bit values; 1, 2, 8 and 16 bits; 0 and 1 kept; shape, float32, input unchanged")


def _scale(task, used, scale, want):
    """The returned adaptive_scale (a number or a one-element tensor) equals ``want``."""
    try:
        value = float(scale)
    except (TypeError, ValueError, RuntimeError):
        fail(task, used, f"adaptive_scale {want:.4f} (a number or a one-element tensor) as the second result",
             f"{type(scale).__name__}: {str(scale)[:60]}")
    if abs(value - want) > 1e-6:
        fail(task, used, f"adaptive_scale {want:.4f}", f"{value:.4f}",
             hint="s is max|w| when adaptive_scale is None, else the given adaptive_scale as it is")


def _pair(task, used, result):
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(task, used, "a tuple (w_q, adaptive_scale)", f"{type(result).__name__}: {str(result)[:60]}")
    return result


def check_dorefa_g(dorefa_g):
    """``dorefa_g(w, nbit, adaptive_scale=None)``: unbiased, the curriculum's seeded values, a conv weight, a scale."""
    task = "dorefa_g"
    base = torch.tensor([-0.9, -0.35, 0.1, 0.52, 1.0])
    w = base.repeat(4000, 1)
    used = f"dorefa_g(w, nbit=2) on 4000 rows, each {base.tolist()}, averaged over the rows"
    with seeded(5):
        w_q, _ = _pair(task, used, call(task, dorefa_g, used, w, 2))
    mean = _tensor_result(task, used, w_q, w.shape).double().mean(0)
    if (mean - base.double()).abs().max() > 0.03:
        fail(task, used, f"unbiased: the mean of w_q close to w = {base.tolist()} (within 0.03)", rounded(mean),
             hint="every entry gets its own centred noise: sigma = torch.rand of w's shape - 0.5, "
                  "i.e. Uniform(-0.5, 0.5)")

    x = torch.tensor(ELEVEN)
    used = "torch.manual_seed(43); dorefa_g(torch.tensor([i / 11 for i in range(11)]), nbit=4)"
    with seeded(43):
        w_q, scale = _pair(task, used, call(task, dorefa_g, used, x, 4))
    got = _tensor_result(task, used, w_q, x.shape)
    _unchanged(task, used, x, torch.tensor(ELEVEN))
    _scale(task, used, scale, max(ELEVEN))
    if not torch.allclose(got, torch.tensor(EXPECTED_DOREFA), atol=ATOL):
        fail(task, used, f"{EXPECTED_DOREFA} (atol {ATOL})", rounded(got),
             hint="s = max|w|; noise N = (torch.rand(w.shape) - 0.5) / (2**nbit - 1), drawn once with w's shape; "
                  "w_q = 2s * (quantizer(w / (2s) + 1/2 + N, nbit) - 1/2)")

    w = 0.1 * torch.randn(*CONV_SHAPE, generator=torch.Generator().manual_seed(6))
    for seed, nbit, given, k in CONV_CASES:
        levels = 2 ** nbit - 1
        s = float(w.abs().max()) if given is None else given
        used = (f"{CONV_USED}; torch.manual_seed({seed}); dorefa_g(w, nbit={nbit}"
                f"{'' if given is None else f', adaptive_scale={given}'})")
        before = w.clone()
        with seeded(seed):
            args = (w, nbit) if given is None else (w, nbit, given)
            w_q, scale = _pair(task, used, call(task, dorefa_g, used, *args))
        got = _tensor_result(task, used, w_q, CONV_SHAPE)
        _unchanged(task, used, w, before)
        _scale(task, used, scale, s)
        want = 2 * s * (torch.tensor(k, dtype=torch.float64).reshape(CONV_SHAPE) / levels - 0.5)
        if not torch.allclose(got.double(), want, atol=ATOL):
            got_k = (got.double() / (2 * s) + 0.5) * levels
            fail(task, used, f"w_q = 2s * (k / {levels} - 1/2) with s = {s:.4f} and k = {k}",
                 f"k = {rounded(got_k.flatten())}",
                 hint="draw the noise with torch.rand of w's shape, in one call (another shape or order gives "
                      "other numbers); a given adaptive_scale is used as it is")

    passed(task, "the curriculum's seeded 4-bit values, a conv weight at 2 and 3 bits, a given scale kept, unbiased")
