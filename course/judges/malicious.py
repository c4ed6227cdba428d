"""The judge of assignment 04 (malicious.ipynb): its two graded test cells, outside the student's process.

One plan per graded test cell (its grade_id): the cell's visible test, then its hidden tests, as calls
answered inside the sandbox and verdicts given here, worded like the notebook's tests. The devices'
weights are built here and sent in, so the judge knows them before the call; which devices a secure
average must flag (a_i > mean(a_i) + epsilon) is computed here from those weights, and what came back
is named by the devices whose plain average it is.
"""
import itertools
import math

import torch

import fedlab

from ..answer import fake_net, secure_net
from . import Plan, Ref, decode, type_name

NOTEBOOK = "malicious.ipynb"


def _states(label, nets):
    return {f"{label}|{i}|{key}": value.detach().cpu().numpy().copy()
            for i, net in enumerate(nets) for key, value in net.state_dict().items()}


# ---------------------------------------------------------------- test_generate_fake_weights (5 points)

FAKE_CASES = [(51, "fake"), (51, "fake"), (52, "convnet")]  # the same seed twice: the same weights both times
COUNTER = 11  # every integer entry (BatchNorm's num_batches_tracked) before the call


def _fake_device_net(kind, seed):
    torch.manual_seed(seed)
    net = fake_net() if kind == "fake" else fedlab.ConvNet()
    with torch.no_grad():
        for value in net.state_dict().values():
            if not value.is_floating_point():
                value.fill_(COUNTER)
    return net


def generate_fake_weights_plan(name="generate_fake_weights") -> Plan:
    nets = [_fake_device_net(kind, 100 + i) for i, (_, kind) in enumerate(FAKE_CASES)]
    arrays = {key: value for i, net in enumerate(nets) for key, value in _states(f"fake{i}", [net]).items()}
    calls = [{"function": name, "args": [{"fixture": "device", "net": "convnet", "create": True}]}]
    calls += [{"function": name, "args": [{"fixture": "device", "net": kind, "states": f"fake{i}", "create": True,
                                           "first_id": 3}], "seed": seed}
              for i, (seed, kind) in enumerate(FAKE_CASES)]

    def verdict(answers):
        visible, *rest = [call[0] for call in answers]
        used = "generate_fake_weights(a ConvNet device)"
        back = visible.result(used, name)
        assert isinstance(back, Ref), f"{used}: expected the device itself back, the one it was given, got " \
                                      f"{type_name(back)}"
        found = [_expect_fake(answer, net, seed, kind, name)
                 for answer, net, (seed, kind) in zip(rest, nets, FAKE_CASES)]
        first, again = found[0], found[1]
        assert all(torch.equal(v, again[k]) for k, v in first.items()), \
            f"generate_fake_weights twice after fedlab.seed_everything({FAKE_CASES[0][0]}): expected the same " \
            f"weights both times, got other weights the second time (draw from a generator that " \
            f"fedlab.seed_everything seeds, e.g. torch.randn)"

    return Plan(calls, verdict, arrays)


def _expect_fake(answer, net, seed, kind, name):
    used = f"fedlab.seed_everything({seed}); generate_fake_weights(a device whose net is " \
           f"{'Sequential' if kind == 'fake' else 'ConvNet'}, counters {COUNTER})"
    back = answer.result(used, name)
    assert isinstance(back, Ref), f"{used}: expected the device itself back, got {type_name(back)}"
    after = answer.after[0]
    assert isinstance(after, dict) and after.get("same_net") is True, \
        f"{used}: expected device['net'] to stay the same net object, with new weights in it; got a new net object"
    state = decode(after["state"], answer.arrays)
    before = net.state_dict()
    assert isinstance(state, dict) and list(state) == list(before), \
        f"{used}: expected the net's state-dict keys {list(before)[:3]} ..., got {list(state)[:3]} ..."
    samples = []
    for key, old in before.items():
        new = state[key]
        assert torch.is_tensor(new) and new.dtype == old.dtype and new.shape == old.shape, \
            f"{used}: {key} must keep shape {tuple(old.shape)} and dtype {old.dtype}, got " \
            f"{tuple(getattr(new, 'shape', ()))} {getattr(new, 'dtype', type_name(new))}"
        if old.is_floating_point():
            assert not torch.equal(new, old), \
                f"{used}: expected the floating-point entry {key} replaced by N(0, 0.5) samples, got it unchanged " \
                f"(the state dict's buffers, BatchNorm's running_mean and running_var, are weights to fake too)"
            samples.append(new.flatten().double())
        else:
            assert torch.equal(new, old), \
                f"{used}: expected the integer entry {key} to stay {old.tolist()}, got {new.tolist()}"
    values = torch.cat(samples)
    mean, std = float(values.mean()), float(values.std())
    assert abs(mean) < 0.01 and abs(std - 0.5) < 0.01, \
        f"{used}: expected N(0, 0.5) samples, mean 0 and standard deviation 0.5 (within 0.01; 0.5 is the standard " \
        f"deviation, not the variance), got mean {mean:.4f}, std {std:.4f}"
    return state


# ---------------------------------------------------------------- test_secure_average_weights (6 points)

def _secure_nets(seed, spreads, outliers, counters):
    """Honest devices: one model plus N(0, spread) noise; outliers: N(0, 0.5) everywhere."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    base = secure_net().state_dict()
    nets = []
    for i in range(len(spreads) + outliers):
        net = secure_net()
        spread = spreads[i] if i < len(spreads) else None
        net.load_state_dict({k: (v + spread * torch.randn(v.shape, generator=gen) if spread is not None
                                 else 0.5 * torch.randn(v.shape, generator=gen)) if v.is_floating_point()
                             else torch.tensor(counters[i]) for k, v in base.items()})
        nets.append(net)
    return nets


# (label, seed, spreads, outliers, counters, epsilon or None for the default, what the devices are)
# the hidden tests' cases, one outlier first: a wrong rule shows first where it differs on one device
SECURE_CASES = [
    ("s63", 63, [0.04] * 4, 1, [4, 8, 12, 16, 1000], None,
     "4 honest devices and 1 with N(0, 0.5) weights (counter 1000)"),
    ("s63", 63, [0.04] * 4, 1, [4, 8, 12, 16, 1000], 0.6, "the same 5 devices"),
    ("s61", 61, [0.02, 0.04, 0.06, 0.08, 0.10], 0, [5, 6, 7, 8, 9], None,
     "5 honest devices with spreads 0.02 to 0.10 (no outlier)"),
    ("s62", 62, [0.03] * 3, 2, [1, 2, 3, 40, 50], None, "3 honest devices and 2 with N(0, 0.5) weights"),
]
DEFAULT_EPSILON = 0.1


def _flagged_by_rule(states, epsilon):
    """Indices of the devices whose a_i (root mean square distance from the plain average) > mean(a_i) + epsilon."""
    keys = [k for k, v in states[0].items() if v.is_floating_point()]
    plain = {k: sum(s[k].double() for s in states) / len(states) for k in keys}
    count = sum(plain[k].numel() for k in keys)
    a = [math.sqrt(sum(float(((s[k].double() - plain[k]) ** 2).sum()) for k in keys) / count) for s in states]
    return [i for i, a_i in enumerate(a) if a_i > sum(a) / len(a) + epsilon]


def _devices(indices):
    return f"device{'s' if len(indices) > 1 else ''} {', '.join(map(str, indices))}"


def _named(kept, n):
    flagged = [i for i in range(n) if i not in kept]
    return f"the average of {_devices(kept)} ({_devices(flagged) + ' flagged' if flagged else 'nobody flagged'})"


def _which_average(result, states):
    """The devices whose plain average ``result`` is, if any (its floating-point entries within 1e-5)."""
    keys = [k for k, v in states[0].items() if v.is_floating_point()]
    for size in range(len(states), 0, -1):
        for kept in itertools.combinations(range(len(states)), size):
            if all(torch.is_tensor(result.get(k)) and result[k].shape == states[0][k].shape and float(
                    (result[k].double() - sum(states[i][k].double() for i in kept) / size).abs().max()) < 1e-5
                   for k in keys):
                return list(kept)
    return None


def secure_average_weights_plan(name="secure_average_weights") -> Plan:
    nets = {label: _secure_nets(seed, spreads, outliers, counters)
            for label, seed, spreads, outliers, counters, _, _ in SECURE_CASES}
    arrays = {key: value for label, group in nets.items() for key, value in _states(label, group).items()}
    calls = [{"function": name, "args": [{"fixture": "devices", "net": "testnetwork", "count": 2, "create": True}]}]
    calls += [{"function": name, "args": [{"fixture": "devices", "net": "secure", "count": len(nets[label]),
                                           "states": label}] + ([] if epsilon is None else [epsilon])}
              for label, _, _, _, _, epsilon, _ in SECURE_CASES]

    def verdict(answers):
        visible, *rest = [call[0] for call in answers]
        keys = list(fedlab.TestNetwork().state_dict())
        used = "secure_average_weights(two identical TestNetwork devices)"
        avg = visible.result(used, name)
        got = list(avg) if isinstance(avg, dict) else type_name(avg)
        assert got == keys, f"{used}: expected every state-dict key {keys}, got {got}"
        for answer, (label, _, _, _, _, epsilon, what) in zip(rest, SECURE_CASES):
            used = f"secure_average_weights({what}, " + \
                   (f"the default epsilon={DEFAULT_EPSILON})" if epsilon is None else f"epsilon={epsilon})")
            _expect_secure(answer, nets[label], DEFAULT_EPSILON if epsilon is None else epsilon, used, name)

    return Plan(calls, verdict, arrays)


def _expect_secure(answer, nets, epsilon, used, name):
    before = [net.state_dict() for net in nets]
    result = answer.result(used, name)
    for i, (b, state) in enumerate(zip(before, answer.after[0])):
        for key, value in decode(state, answer.arrays).items():
            assert torch.is_tensor(value) and value.shape == b[key].shape and torch.equal(value, b[key]), \
                f"{used}: expected every device's weights left as they were, got device {i}'s {key} changed"
    assert isinstance(result, dict), f"{used}: expected a dict of tensors, got {type_name(result)}"
    assert list(result) == list(before[0]), \
        f"{used}: expected every state-dict key, in order, {list(before[0])[:3]} ..., got {list(result)[:3]} ..."
    flagged = _flagged_by_rule(before, epsilon)
    kept = [i for i in range(len(nets)) if i not in flagged]
    for key, value in before[0].items():
        got = result[key]
        assert torch.is_tensor(got), f"{used}: expected a tensor for {key}, got {type_name(got)}"
        assert got.dtype == torch.float32 or (not value.is_floating_point() and got.dtype == value.dtype), \
            f"{used}: expected {key} as float32{'' if value.is_floating_point() else ' or ' + str(value.dtype)}, " \
            f"got {got.dtype}"
    for key in before[0]:
        want = sum(before[i][key].double() for i in kept) / len(kept)
        got = result[key]
        error = float((got.double() - want).abs().max()) if got.shape == want.shape else math.inf
        if error >= 1e-5:
            found = _which_average(result, before)
            said = _named(found, len(nets)) if found and found != kept else \
                f"{key} off by {error:.4f}{'' if found else ', the average of no set of devices'}"
            raise AssertionError(f"{used}: expected {_named(kept, len(nets))}, got {said}; flag device i when a_i > "
                                 f"a_avg + epsilon, with a_i the root mean square distance of its floating-point "
                                 f"entries from the plain average")


PLANS = {"test_generate_fake_weights": generate_fake_weights_plan,
         "test_secure_average_weights": secure_average_weights_plan}
