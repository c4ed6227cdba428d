"""The judge of assignment 03 (quantization.ipynb): its two graded test cells, outside the student's process.

One plan per graded test cell (its grade_id): the cell's visible test, then its hidden tests, as calls
answered inside the sandbox (tensors go in through inputs.npz, seeds are set right before the call as
the hidden tests set them) and verdicts given here, worded like the notebook's tests. Every expected
value (grid points, the noise torch.rand draws after the seed, max|w|) is computed here.
"""
import torch

from . import Plan, decode, type_name

NOTEBOOK = "quantization.ipynb"

Q_HINT = "round every entry to the nearest multiple of 1 / (2**nbit - 1): 2**nbit levels from 0 to 1 are " \
         "2**nbit - 1 steps apart, so 0 and 1 stay"
D_HINT = "w_q = 2s * (quantizer(w / (2s) + 1/2 + N, nbit) - 1/2) with " \
         "N = (torch.rand(w.shape) - 0.5) / (2**nbit - 1): every entry gets its own centred noise, drawn in one " \
         "call with w's shape, which makes w_q unbiased"


def _tensor_arg(name):
    return {"fixture": "tensor", "array": name}


def _first_k(values, n=5):
    return [round(float(v), 3) for v in values.flatten()[:n]]


def _tensor_result(got, shape, used, what="a tensor"):
    """``got`` as a float32 tensor of ``shape``, or an AssertionError saying what came back."""
    assert torch.is_tensor(got), f"{used}: expected {what} (a torch tensor), got {type_name(got)}"
    assert got.dtype == torch.float32, \
        f"{used}: expected a float32 tensor, like the input, got {got.dtype} (stay in torch; numpy or Python " \
        f"numbers give float64)"
    assert tuple(got.shape) == tuple(shape), \
        f"{used}: expected the input's shape {tuple(shape)}, got {tuple(got.shape)}"
    return got


def _unchanged(answer, given, used):
    after = decode(answer.after[0], answer.arrays)
    assert torch.is_tensor(after) and torch.equal(after, given), \
        f"{used}: expected the input tensor left as it was, got it changed to {_first_k(after)} ... (compute into a " \
        f"new tensor, not in place with mul_, round_, ...)"


# ---------------------------------------------------------------- test_quantizer (5 points)

Q_CASES = [(31, (7,), 1), (32, (2, 3, 4), 2), (33, (5, 1), 8), (34, (100,), 16), (35, (4, 4), 4)]


def _q_input(seed, shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    x.view(-1)[0], x.view(-1)[-1] = 0.0, 1.0
    return x


def quantizer_plan(name="quantizer") -> Plan:
    visible = torch.tensor([0.0, 0.4, 1.0])
    inputs = [_q_input(seed, shape) for seed, shape, _ in Q_CASES]
    arrays = {"q|visible": visible.numpy()}
    arrays.update({f"q|{seed}": x.numpy() for (seed, _, _), x in zip(Q_CASES, inputs)})
    calls = [{"function": name, "args": [_tensor_arg("q|visible"), 1]}]
    calls += [{"function": name, "args": [_tensor_arg(f"q|{seed}"), nbit]} for seed, _, nbit in Q_CASES]

    def verdict(answers):
        first, *rest = [call[0] for call in answers]
        used = "quantizer(torch.tensor([0.0, 0.4, 1.0]), 1)"
        got = first.result(used, name)
        assert torch.is_tensor(got) and tuple(got.shape) == (3,), \
            f"{used}: expected a torch tensor of shape (3,), got " \
            f"{f'shape {tuple(got.shape)}' if torch.is_tensor(got) else type_name(got)}"
        for answer, x, (seed, shape, nbit) in zip(rest, inputs, Q_CASES):
            levels = 2 ** nbit - 1
            used = f"quantizer(x, {nbit}) with x = torch.rand({shape}) from seed {seed}, its first entry 0 and " \
                   f"its last 1"
            got = answer.result(used, name)
            _unchanged(answer, x, used)
            _tensor_result(got, shape, used)
            k = got.double() * levels
            want = (x.double() * levels).round()
            flat = got.flatten().tolist()
            assert flat[0] == 0.0 and abs(flat[-1] - 1.0) < 1e-6, \
                f"{used}: expected 0 and 1 to stay 0 and 1, got {flat[0]} and {flat[-1]}; {Q_HINT}"
            off = ((k - k.round()).abs() > 1e-2) | ((k - x.double() * levels).abs() > 0.5 + 1e-2)
            assert not off.any(), \
                f"{used}: expected every entry at the nearest multiple of 1/{levels}, " \
                f"{want.flatten()[:5].tolist()} / {levels} ..., got {_first_k(k)} / {levels} ...; {Q_HINT}"

    return Plan(calls, verdict, arrays)


# ---------------------------------------------------------------- test_dorefa_g (10 points)

def _d_inputs():
    """(seed, w, nbit, given scale) of the hidden tests: the largest magnitude of case 43 is negative."""
    w43 = torch.randn(6, 5, generator=torch.Generator().manual_seed(2))
    w43[3, 1] = -4.0
    return [(41, torch.linspace(-1.0, 0.8, 9), 4, None),
            (42, 0.05 * torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(1)), 2, None),
            (43, w43, 3, None),
            (44, torch.randn(10, 6, generator=torch.Generator().manual_seed(3)), 8, 2.5),
            (45, torch.randn(16, generator=torch.Generator().manual_seed(4)), 1, None)]


UNBIASED_BASE = [-0.8, -0.2, 0.05, 0.45, 1.0]
UNBIASED_ROWS, UNBIASED_SEED = 3000, 46


def _d_used(seed, w, nbit, scale):
    return f"torch.manual_seed({seed}); dorefa_g(w of shape {tuple(w.shape)}, {nbit}" \
           f"{'' if scale is None else f', adaptive_scale={scale}'})"


def _pair(got, used):
    assert isinstance(got, tuple) and len(got) == 2, \
        f"{used}: expected a tuple (w_q, adaptive_scale), got {type_name(got)}"
    return got


def dorefa_g_plan(name="dorefa_g") -> Plan:
    visible = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(40))
    cases = _d_inputs()
    base = torch.tensor(UNBIASED_BASE)
    arrays = {"d|visible": visible.numpy(), "d|unbiased": base.repeat(UNBIASED_ROWS, 1).numpy()}
    arrays.update({f"d|{seed}": w.numpy() for seed, w, _, _ in cases})
    calls = [{"function": name, "args": [_tensor_arg("d|visible"), 4]}]
    calls += [{"function": name, "args": [_tensor_arg(f"d|{seed}"), nbit] + ([] if scale is None else [scale]),
               "torch_seed": seed} for seed, w, nbit, scale in cases]
    calls += [{"function": name, "args": [_tensor_arg("d|unbiased"), 3], "torch_seed": UNBIASED_SEED}]

    def verdict(answers):
        first, *rest, unbiased = [call[0] for call in answers]
        used = "dorefa_g(w of shape (4, 3, 3, 3), 4)"
        got = first.result(used, name)
        assert isinstance(got, tuple) and len(got) == 2 and torch.is_tensor(got[0]), \
            f"{used}: expected a tuple (w_q, adaptive_scale), got {type_name(got)}"
        assert tuple(got[0].shape) == (4, 3, 3, 3), \
            f"{used}: expected w_q of w's shape (4, 3, 3, 3), got {tuple(got[0].shape)}"
        for answer, (seed, w, nbit, scale) in zip(rest, cases):
            _expect_dorefa(answer, seed, w, nbit, scale, name)
        used = f"torch.manual_seed({UNBIASED_SEED}); dorefa_g({UNBIASED_ROWS} rows of {UNBIASED_BASE}, 3)"
        w_q, _ = _pair(unbiased.result(used, name), used)
        w_q = _tensor_result(w_q, (UNBIASED_ROWS, len(UNBIASED_BASE)), used, "w_q")
        mean = w_q.double().mean(0)
        assert (mean - base.double()).abs().max() < 0.02, \
            f"{used}: expected unbiased results, a mean within 0.02 of the weights; got the mean " \
            f"{[round(v, 3) for v in mean.tolist()]}; {D_HINT}"

    return Plan(calls, verdict, arrays)


def _expect_dorefa(answer, seed, w, nbit, scale, name):
    levels = 2 ** nbit - 1
    used = _d_used(seed, w, nbit, scale)
    w_q, s_out = _pair(answer.result(used, name), used)
    _unchanged(answer, w, used)
    w_q = _tensor_result(w_q, w.shape, used, "w_q")
    s = float(w.abs().max()) if scale is None else scale
    try:
        s_got = float(s_out)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"{used}: expected adaptive_scale {s:.5f} (a number or a one-element tensor), got "
                             f"{type_name(s_out)}") from None
    assert abs(s_got - s) < 1e-5, \
        f"{used}: expected adaptive_scale {s:.5f} (max|w| when none is given, else the given adaptive_scale as it " \
        f"is), got {s_got:.5f}"
    noise = torch.rand(w.shape, generator=torch.Generator().manual_seed(seed)).double()  # what torch.rand drew
    y = (w.double() / (2 * s) + 0.5 + (noise - 0.5) / levels) * levels
    k = (w_q.double() / (2 * s) + 0.5) * levels
    bad = ((k - k.round()).abs() > 1e-3) | ((k - y).abs() > 0.5 + 1e-3)
    assert not bad.any(), \
        f"{used}: expected w_q = 2s * (k / {levels} - 1/2) with k = {y.round().flatten()[:6].tolist()} ..., " \
        f"got k = {[round(v, 3) for v in k.flatten()[:6].tolist()]} ...; {D_HINT}"


PLANS = {"test_quantizer": quantizer_plan, "test_dorefa_g": dorefa_g_plan}
