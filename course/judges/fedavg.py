"""The judge of assignment 01 (fedavg.ipynb): its three graded test cells, outside the student's process.

One plan per graded test cell (its grade_id): the cell's visible test, then its hidden tests, as calls
answered inside the sandbox and verdicts given here, worded like the notebook's tests (the input used,
what was expected, what came back). Every expected value is computed here from the judge's own inputs;
nothing the responder reports is taken as a verdict. ``name`` lets tests judge a variant defined under
another name in the same notebook.
"""
from collections import Counter

import numpy as np
import torch

import fedlab

from ..answer import layer_bn_net
from . import Plan, ReadOnce, Ref, decode, type_name

NOTEBOOK = "fedavg.ipynb"


# ---------------------------------------------------------------- test_iid_sampler (3 points)

def _labels(n):
    return {"fixture": "labels", "n": n}


def _iid_used(n, num, pct, seed):
    return f"iid_sampler({n} images, num_devices={num}, data_pct={pct}) after fedlab.seed_everything({seed})"


def _parts(answer, n, num, used):
    """The answer as {device: [int indices]}, after the checks of its form and of the data set left alone."""
    parts = answer.result(used, "iid_sampler")
    assert isinstance(parts, dict), f"{used}: expected a dict {{device_id: [indices]}}, got {type_name(parts)}"
    keys = sorted(parts, key=str)
    assert all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys) and \
        sorted(int(k) for k in keys) == list(range(num)), \
        f"{used}: expected the int device ids 0..{num - 1} as keys, got {keys[:5]}{' ...' if len(keys) > 5 else ''}"
    out = {}
    for d, idxs in parts.items():
        assert not isinstance(idxs, ReadOnce), \
            f"{used}: expected a list of indices for device {d}, got {type_name(idxs)}, which can be read only once"
        values = idxs.tolist() if hasattr(idxs, "tolist") else idxs
        assert isinstance(values, (list, tuple)) and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) or isinstance(i, float) and i.is_integer()
            for i in values), f"{used}: expected a list of int indices for device {d}, got {type_name(idxs)}"
        out[int(d)] = [int(i) for i in values]
    if n is not None:
        targets = [i % 10 for i in range(n)]
        after = answer.after[0]
        assert after["targets"] == targets and after["labels"] == targets, \
            f"{used}: expected the data set left as it was, got its labels changed to {after['targets'][:8]} ..."
    return out


IID_SIZES = [(779, 7, 0.25, 1), (3000, 12, 0.0507, 2), (50000, 2, 0.5, 3), (1000, 3, 0.0046, 5), (1000, 3, 0.0043, 6)]


def iid_sampler_plan(name="iid_sampler") -> Plan:
    calls = [{"function": name, "args": [{"fixture": "trainset"}, 3, 0.01]}]
    calls += [{"function": name, "args": [_labels(n), num, pct], "seed": seed} for n, num, pct, seed in IID_SIZES]
    calls += [{"function": name, "args": [_labels(2000), 5, 0.1], "seed": 8}] * 2
    calls += [{"function": name, "args": [_labels(500), 300, 0.1], "seed": 4}]

    def verdict(answers):
        visible, *sized, first, second, many = [call[0] for call in answers]
        used = "iid_sampler(trainset, 3, 0.01)"
        parts = _parts(visible, None, 3, used)
        sizes = [len(idxs) for idxs in parts.values()]
        assert sizes == [500] * 3, f"{used}: expected 500 indices per device (1 % of 50,000), got {sizes}"

        # sizes follow round(): 194.75 -> 195, 152.1 -> 152, 4.6 -> 5, 4.3 -> 4
        for answer, (n, num, pct, seed) in zip(sized, IID_SIZES):
            used = _iid_used(n, num, pct, seed)
            parts = _parts(answer, n, num, used)
            size = round(pct * n)
            sizes = {d: len(idxs) for d, idxs in parts.items()}
            if any(s != size for s in sizes.values()):
                wrong = set(sizes.values())
                got = f"{wrong.pop()} indices for every device" if len(wrong) == 1 else \
                    ", ".join(f"{s} for device {d}" for d, s in sizes.items() if s != size)
                raise AssertionError(f"{used}: expected round({pct} * {n}) = {size} indices for every device, "
                                     f"got {got}")
            for d, idxs in parts.items():
                assert len(set(idxs)) == size, \
                    f"{used}: expected {size} distinct indices for device {d}, got {size - len(set(idxs))} " \
                    f"repeated ones"
                assert 0 <= min(idxs) and max(idxs) < n, \
                    f"{used}: expected indices in 0..{n - 1}, device {d} holds {min(idxs)} .. {max(idxs)}"

        # the same seed gives the same devices' data
        used = _iid_used(2000, 5, 0.1, 8)
        assert _parts(first, 2000, 5, used) == _parts(second, 2000, 5, used), \
            f"{used}, twice: expected the same result both times, got two different ones (draw with random, " \
            f"np.random or torch, which fedlab.seed_everything seeds; not with an unseeded np.random.default_rng())"

        # 300 devices with 50 of 500 indices: no contiguous block, no two devices alike, every fifth of the data
        # set receives a fifth of the 15,000 draws (within 8 %), two devices share 50 * 50 / 500 = 5 on average
        used = _iid_used(500, 300, 0.1, 4)
        parts = _parts(many, 500, 300, used)
        for d, idxs in parts.items():
            assert max(idxs) - min(idxs) + 1 > len(idxs), \
                f"{used}: expected a random sample for device {d}, got the contiguous block {min(idxs)}..{max(idxs)}"
        for d in range(299):
            assert set(parts[d]) != set(parts[d + 1]), \
                f"{used}: expected every device drawing its own random sample, got devices {d} and {d + 1} " \
                f"holding the same {len(parts[d])} indices"
        fifths = [0] * 5
        for idxs in parts.values():
            for i in idxs:
                fifths[i // 100] += 1
        assert all(abs(c - 3000) <= 240 for c in fifths), \
            f"{used}: expected the indices spread uniformly, about 3000 of the 15,000 in each fifth of the data " \
            f"set (within 8 %), got {fifths}"
        shared = [len(set(parts[d]) & set(parts[d + 1])) for d in range(299)]
        assert 4.0 <= sum(shared) / len(shared) <= 6.0, \
            f"{used}: expected independent devices (each drawing independently its own random sample) sharing " \
            f"about 5 indices on average, got {sum(shared) / 299:.1f}"

    return Plan(calls, verdict)


# ---------------------------------------------------------------- test_average_weights (6 points)

def _show(tensor):
    return [round(float(x), 4) for x in tensor.detach().cpu().double().flatten()[:4]]


def _trained_bn_nets(seed, num):
    """``num`` nets after torch.manual_seed(seed); net i has counted i + 1 batches (fractional mean counter)."""
    torch.manual_seed(seed)
    nets = []
    for i in range(num):
        net = layer_bn_net().train()
        with torch.no_grad():
            for _ in range(i + 1):
                net(torch.randn(5, 3, 8, 8))
        nets.append(net)
    return nets


AVG_CASES = [(11, 3), (12, 4), (13, 1)]


def average_weights_plan(name="average_weights") -> Plan:
    cases = [(f"bn{seed}", _trained_bn_nets(seed, num), layer_bn_net,
              f"{num} devices with Conv2d-BatchNorm2d-Linear nets (layer1, bn1, layer2) after "
              f"torch.manual_seed({seed}), device i having seen i + 1 batches in training mode") for seed, num in AVG_CASES]
    torch.manual_seed(14)
    cases.append(("conv14", [fedlab.ConvNet(), fedlab.ConvNet()], fedlab.ConvNet,
                  "two devices with fresh fedlab.ConvNet()s"))
    arrays = {f"{label}|{i}|{key}": value.detach().cpu().numpy().copy()
              for label, nets, _, _ in cases for i, net in enumerate(nets) for key, value in net.state_dict().items()}
    calls = [{"function": name, "args": [{"fixture": "devices", "net": "testnetwork", "count": 2, "create": True}]}]
    calls += [{"function": name, "args": [{"fixture": "devices", "net": "layer_bn" if label.startswith("bn") else
                                           "convnet", "count": len(nets), "states": label}]}
              for label, nets, _, _ in cases]

    def verdict(answers):
        visible, *rest = [call[0] for call in answers]
        keys = list(fedlab.TestNetwork().state_dict())
        used = "two TestNetwork devices"
        avg = visible.result(used, "average_weights")
        got = list(avg) if isinstance(avg, dict) else type_name(avg)
        assert got == keys, f"{used}: expected every state-dict key {keys}, got {got}"
        for answer, (_, nets, build, used) in zip(rest, cases):
            _expect_average(answer, nets, build, used)

    return Plan(calls, verdict, arrays)


def _expect_average(answer, nets, build, used):
    before = [{k: v.detach().clone() for k, v in net.state_dict().items()} for net in nets]
    avg = answer.result(used, "average_weights")
    assert isinstance(avg, dict), f"{used}: expected an OrderedDict of tensors, got {type_name(avg)}"
    assert list(avg) == list(before[0]), \
        f"{used}: expected the state-dict keys in the state dict's order, {list(before[0])}, got {list(avg)}"
    after = [decode(state, answer.arrays) for state in answer.after[0]]
    for i, (b, state) in enumerate(zip(before, after)):
        for key, value in state.items():
            assert value.shape == b[key].shape and bool((value == b[key]).all()), \
                f"{used}: expected every device's weights left as they were, got device {i}'s {key} changed from " \
                f"{_show(b[key])} to {_show(value)}"
    for key, first in before[0].items():
        want = sum(b[key].double() for b in before) / len(nets)
        got = avg[key]
        allowed = [torch.float32] if first.is_floating_point() else [torch.float32, first.dtype]
        assert torch.is_tensor(got) and got.dtype in allowed, \
            f"{used}: expected {key} as a 32-bit float tensor (torch.float32)" \
            f"{'' if first.is_floating_point() else ' or ' + str(first.dtype)}, got {type_name(got)} " \
            f"{getattr(got, 'dtype', '')}"
        assert tuple(got.shape) == tuple(want.shape), \
            f"{used}: expected {key} of shape {tuple(want.shape)}, got {tuple(got.shape)}"
        error = float((got.double() - want).abs().max()) if want.numel() else 0.0
        assert error < (1e-5 if got.is_floating_point() else 1), \
            f"{used}: expected {key} = the mean over the devices, {_show(want)} ..., got {_show(got)} ..."
    try:
        build().load_state_dict(avg)
    except Exception as err:  # noqa: BLE001 any refusal is the student's: say which
        raise AssertionError(f"{used}: expected the average to load into a net of the same kind, got "
                             f"{type(err).__name__}: {err}") from None


# ---------------------------------------------------------------- test_get_devices_for_round (4 points)

# sizes follow round(): 0.7 -> 1, 2.2 -> 2, 3.9 -> 4, 4.8 -> 5, 5.2 -> 5, and all of them at 1.0
ROUND_SIZES = [(10, 0.07, 20), (20, 0.11, 27), (30, 0.1, 21), (13, 0.3, 22), (60, 0.05, 23), (10, 1.0, 24),
               (16, 0.3, 26), (40, 0.13, 28)]
ROUNDS = 3000  # choosing 3 of 10 devices: each device about 900 times


def _pool(n):
    return {"fixture": "id_dicts", "n": n}


def _round_used(n, pct, seed):
    return f"get_devices_for_round({n} devices with ids 0..{n - 1}, device_pct={pct}) after " \
           f"fedlab.seed_everything({seed})"


def _chosen_ids(answer, n, used, function="get_devices_for_round"):
    """The ids of the chosen devices, after the checks of the answer's form and of the list left alone (02 too)."""
    chosen = answer.result(used, function)
    assert isinstance(chosen, (list, tuple)), \
        f"{used}: expected a list of devices, got {type_name(chosen)}" + \
        (", which can be read only once (wrap a map or generator in list(...))" if isinstance(chosen, ReadOnce) else "")
    pool = answer.after[0]
    assert pool == list(range(n)), \
        f"{used}: expected the list of devices left as it was (same devices, same order), got ids " \
        f"{[i if i >= 0 else '?' for i in pool][:12]} ..."
    assert all(isinstance(d, Ref) for d in chosen), \
        f"{used}: expected devices taken from the given list (the dicts themselves), got {str(chosen)[:80]}"
    return [d.index for d in chosen]


def get_devices_for_round_plan(name="get_devices_for_round") -> Plan:
    calls = [{"function": name, "args": [_pool(10), 0.2]}]
    calls += [{"function": name, "args": [_pool(n), pct], "seed": seed} for n, pct, seed in ROUND_SIZES]
    calls += [{"function": name, "args": [_pool(30), 0.2], "seed": 29}] * 2
    calls += [{"function": name, "args": [_pool(10), 0.3], "seed": 25, "repeat": ROUNDS}]

    def verdict(answers):
        visible, *sized, first, second, rounds = answers
        used = "get_devices_for_round(10 devices, 0.2)"
        chosen = visible[0].result(used, "get_devices_for_round")
        count = len(list(chosen)) if isinstance(chosen, (list, tuple, ReadOnce)) else type_name(chosen)
        assert count == 2, f"{used}: expected 2 devices (20 % of 10), got {count}"
        for (answer,), (n, pct, seed) in zip(sized, ROUND_SIZES):
            used = _round_used(n, pct, seed)
            ids, want = _chosen_ids(answer, n, used), round(pct * n)
            assert len(ids) == want, f"{used}: expected round({pct} * {n}) = {want} devices, got {len(ids)}: ids {ids}"
            assert len(set(ids)) == want, f"{used}: expected {want} distinct devices, got ids {ids}"
        used = _round_used(30, 0.2, 29)
        ids = _chosen_ids(first[0], 30, used)
        assert ids == _chosen_ids(second[0], 30, used), \
            f"{used}, twice: expected the same result both times (the same devices), got {ids} and then others " \
            f"(draw with random, np.random or torch, which fedlab.seed_everything seeds)"
        used = f"get_devices_for_round(10 devices, device_pct=0.3), {ROUNDS} times after fedlab.seed_everything(25)"
        counts = Counter(i for answer in rounds for i in _chosen_ids(answer, 10, used))
        counts = [counts[i] for i in range(10)]
        assert all(abs(c - ROUNDS * 3 / 10) <= 0.15 * ROUNDS * 3 / 10 for c in counts), \
            f"{used}: expected every device chosen about {ROUNDS * 3 // 10} times (within 15 %), got {counts}"

    return Plan(calls, verdict)


PLANS = {"test_iid_sampler": iid_sampler_plan, "test_average_weights": average_weights_plan,
         "test_get_devices_for_round": get_devices_for_round_plan}
