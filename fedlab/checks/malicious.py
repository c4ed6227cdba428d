"""Checks for assignment 04, malicious clients and anomaly detection.

The checks build devices whose answer is known by construction: honest devices are one model
plus deviations that cancel out, so the average of the honest ones is that model; a malicious
device holds N(0, 0.5) samples. They test what is flagged, the result, dtypes, integer buffers
and that no device changes; none of them holds an answer of the tasks.
"""
import contextlib
import inspect
import io
import itertools

import torch
from torch import nn

from ..models import ConvNet
from ._kit import call, fail, make_devices, passed, rounded, seeded

__all__ = ["check_generate_fake_weights", "check_secure_average_weights"]

FAKE_STD = 0.5        # the curriculum's N(0, 0.5): mean 0, standard deviation 0.5
EPSILON = 0.1         # the curriculum's threshold (the original course's 0.3 flags nobody)
COUNTER = "num_batches_tracked"


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _fake_weights_once(generate_fake_weights, seed):
    """One call on a fresh ConvNet device whose BatchNorm counters are 7: (device, net, before, result)."""
    with seeded(seed):
        device, = make_devices([ConvNet()])
    net = device["net"]
    with torch.no_grad():
        for key, value in net.state_dict().items():
            if not value.is_floating_point():
                value.fill_(7)
    before = _state(net)
    used = (f"a device made by fedlab.create_device(fedlab.ConvNet(), ...) whose BatchNorm counters {COUNTER} are 7; "
            f"torch.manual_seed({seed}); generate_fake_weights(device)")
    with seeded(seed):
        result = call("generate_fake_weights", generate_fake_weights, used, device)
    return device, net, before, result, used


def check_generate_fake_weights(generate_fake_weights):
    """``generate_fake_weights(device)``: every float entry N(0, 0.5) in the device's own net, integers kept."""
    task = "generate_fake_weights"
    device, net, before, result, used = _fake_weights_once(generate_fake_weights, 0)
    if result is not device:
        fail(task, used, "the device itself, returned after changing its net in place",
             f"{type(result).__name__}" + (" (another dict)" if isinstance(result, dict) else ""))
    if device["net"] is not net:
        fail(task, used, "device['net'] still the same net object, with new weights",
             "a different net object in device['net']",
             hint="the device's optimizer trains the original net: change its entries (state_dict, load_state_dict)")
    after = net.state_dict()
    if list(after) != list(before):
        fail(task, used, f"the net's state-dict keys {list(before)[:3]} ...", f"{list(after)[:3]} ...")
    samples = []
    for key, old in before.items():
        new = after[key].detach().cpu()
        if new.dtype != old.dtype or new.shape != old.shape:
            fail(task, used, f"{key} keeps its shape {tuple(old.shape)} and dtype {old.dtype}",
                 f"shape {tuple(new.shape)}, dtype {new.dtype}")
        if not old.is_floating_point():
            if not torch.equal(new, old.cpu()):
                fail(task, used, f"the integer entry {key} left as it was ({rounded(old.flatten())})",
                     f"{rounded(new.flatten())}",
                     hint="replace only floating-point entries (tensor.is_floating_point())")
            continue
        if torch.equal(new, old.cpu()):
            fail(task, used, f"every floating-point entry replaced, buffers included ({key} too)",
                 f"{key} unchanged: {rounded(new.flatten()[:4])} ...",
                 hint="go through net.state_dict(), not only net.parameters(): BatchNorm's running mean and "
                      "variance are floating-point entries too")
        samples.append(new.flatten().double())
    values = torch.cat(samples)
    mean, std = float(values.mean()), float(values.std())
    if abs(mean) > 0.005 or abs(std - FAKE_STD) > 0.005:
        fail(task, used, f"samples of N(0, 0.5) over all {len(values):,} floating-point numbers: mean 0 and "
                         f"standard deviation 0.5 (within 0.005)", f"mean {mean:.4f}, standard deviation {std:.4f}",
             hint="0.5 is the standard deviation, not the variance: 0.5 * torch.randn(...) or .normal_(0, 0.5)")
    small = [k for k, v in before.items() if v.is_floating_point() and v.numel() >= 32
             and abs(float(after[k].double().std()) - FAKE_STD) > 0.2]
    if small:
        fail(task, used, "every floating-point entry drawn from N(0, 0.5)",
             f"{small[0]} has standard deviation {float(after[small[0]].double().std()):.3f}")

    _, again_net, _, _, _ = _fake_weights_once(generate_fake_weights, 0)
    if not all(torch.equal(v, again_net.state_dict()[k]) for k, v in after.items()):
        fail(task, used + ", run twice", "the same weights both times: draw from torch, numpy or Python's random, "
                                         "which fedlab.seed_everything seeds", "different weights",
             hint="a generator you create yourself (np.random.default_rng(), torch.Generator()) is not seeded")
    passed(task, f"all {len(values):,} floating-point entries of a ConvNet ~ N(0, 0.5) in the device's own net, "
                 f"integer counters kept, the device returned, repeatable")


def small_net():
    """The secure-averaging check's net: two conv blocks with BatchNorm and a linear layer (5,600 numbers)."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def _scenario(honest_spreads, malicious, counters, seed):
    """Devices: honest ones = one small net + deviations of the given spreads that cancel out, then N(0, 0.5) ones.

    Returns the devices and the honest model (the average of the honest devices) as a state dict.
    """
    with seeded(seed):
        state = _state(small_net())
        # deviations come in +/- pairs (a lone honest device deviates by nothing), so they sum to zero
        devs = []
        for i in range(0, len(honest_spreads) - 1, 2):
            z = {k: torch.randn_like(v) if v.is_floating_point() else None for k, v in state.items()}
            devs += [(honest_spreads[i], z, 1), (honest_spreads[i + 1], z, -1)]
        if len(honest_spreads) % 2:
            devs.append((0.0, None, 0))
        nets = []
        for spread, z, sign in devs:
            net = small_net()
            net.load_state_dict({k: v + sign * spread * z[k] if z is not None and v.is_floating_point() else v
                                 for k, v in state.items()})
            nets.append(net)
        for _ in range(malicious):
            net = small_net()
            net.load_state_dict({k: FAKE_STD * torch.randn_like(v) if v.is_floating_point() else v
                                 for k, v in state.items()})
            nets.append(net)
    with torch.no_grad():
        for net, count in zip(nets, counters):
            for v in net.state_dict().values():
                if not v.is_floating_point():
                    v.fill_(count)
    return make_devices(nets), state


def _secure(task, fn, used, devices, **kwargs):
    """Call the student's function with its printing of a_i kept out of the check's output."""
    before = [_state(d["net"]) for d in devices]
    with contextlib.redirect_stdout(io.StringIO()):
        result = call(task, fn, used, devices, **kwargs)
    for d, saved in zip(devices, before):
        for k, v in d["net"].state_dict().items():
            if not torch.equal(v, saved[k]):
                fail(task, used, "every device's weights left as they were",
                     f"device {d['id']}'s {k} changed", hint="compute differences into new tensors, not in place")
    return result


def _compare(task, used, result, devices, want, counter, what):
    """``result`` holds every key in order, float32 floats within 1e-5 of ``want``, counters = ``counter``."""
    keys = list(devices[0]["net"].state_dict())
    if not hasattr(result, "keys") or list(result.keys()) != keys:
        shown = f" with keys {list(result.keys())[:2]} ..." if hasattr(result, "keys") else ""
        fail(task, used, f"a dict with the state-dict keys {keys[:2]} ... in order", type(result).__name__ + shown)
    for key in keys:
        got = result[key]
        if not torch.is_tensor(got):
            fail(task, used, f"a tensor for {key}", type(got).__name__)
        got = got.detach().cpu()
        if want[key].is_floating_point():
            if got.dtype != torch.float32:
                fail(task, used, f"{key} as float32", f"dtype {got.dtype}")
            if got.shape != want[key].shape or not torch.allclose(got, want[key], atol=1e-5):
                fail(task, used, what + f" (atol 1e-5); {key} = {rounded(want[key].flatten()[:3])} ...",
                     f"{key} = {rounded(got.flatten()[:3])} ..., {_kept_by(result, devices)}",
                     hint=f"a_i = sqrt(sum over the floating-point entries of ||w_i - w_avg||^2 / N), N their "
                          f"number of elements (integer counters left out); flag device i when a_i > a_avg + "
                          f"epsilon (epsilon {EPSILON}), then average the others")
        elif got.dtype not in (torch.float32, want[key].dtype) or float(got) != counter:
            fail(task, used, f"{key} = {counter} (float32 or {want[key].dtype})", f"{float(got):g}, dtype {got.dtype}",
                 hint="integer entries are averaged too, over the devices kept")


def _kept_by(result, devices):
    """Which devices the result is the plain average of, e.g. 'the average of devices 0, 1, 2 (3 and 4 flagged)'."""
    states = [{k: v.detach().cpu() for k, v in d["net"].state_dict().items() if v.is_floating_point()}
              for d in devices]
    for size in range(len(devices), 0, -1):
        for kept in itertools.combinations(range(len(devices)), size):
            if all(torch.is_tensor(result[k]) and result[k].shape == v.shape and
                   torch.allclose(result[k].detach().cpu().float(), sum(states[i][k] for i in kept) / size, atol=1e-5)
                   for k, v in states[0].items()):
                flagged = [i for i in range(len(devices)) if i not in kept]
                return f"the average of {_devices(kept)} ({_devices(flagged) + ' flagged' if flagged else 'nobody flagged'})"
    return "which is the average of no group of the devices"


def _devices(ids):
    return f"device {ids[0]}" if len(ids) == 1 else f"devices {', '.join(map(str, ids))}"


def check_secure_average_weights(secure_average_weights):
    """``secure_average_weights(devices, epsilon=0.1)``: flags the outliers, averages the rest, changes nothing."""
    task = "secure_average_weights"
    default = inspect.signature(secure_average_weights).parameters.get("epsilon")
    if default is None or default.default != EPSILON:
        fail(task, "inspect.signature(secure_average_weights)", f"a parameter epsilon={EPSILON}",
             "none" if default is None else f"epsilon={default.default}")

    devices, honest = _scenario([0.05, 0.05, 0.05, 0.05], 1, [2, 4, 6, 8, 100], seed=0)
    used = ("5 devices with fedlab.checks.malicious.small_net(): 4 honest ones (one model plus deviations of spread "
            "0.05 that cancel out, counters 2, 4, 6, 8) and device 4 with N(0, 0.5) weights (counter 100); "
            "secure_average_weights(devices)")
    _compare(task, used, _secure(task, secure_average_weights, used, devices), devices, honest, 5,
             "device 4 flagged (a_i about 0.12 for the honest devices, 0.41 for device 4, a_avg 0.18): the average "
             "of devices 0-3, i.e. the honest model")

    used = used.replace("secure_average_weights(devices)", "secure_average_weights(devices, epsilon=0.5)")
    everyone = {k: (4 * honest[k] + devices[4]["net"].state_dict()[k].cpu()) / 5 if v.is_floating_point() else v
                for k, v in honest.items()}
    _compare(task, used, _secure(task, secure_average_weights, used, devices, epsilon=0.5), devices, everyone, 24,
             "nobody flagged (0.41 < a_avg + 0.5): the plain average of all 5")

    devices, honest = _scenario([0.05, 0.05, 0.12, 0.12, 0.0], 0, [10 ** 6, 0, 0, 0, 0], seed=1)
    used = ("5 honest devices with fedlab.checks.malicious.small_net() (one model plus deviations of spread 0.05, "
            "0.05, 0.12, 0.12, 0 that cancel out; device 0's counter 1000000, the others 0); "
            "secure_average_weights(devices)")
    _compare(task, used, _secure(task, secure_average_weights, used, devices), devices, honest, 2 * 10 ** 5,
             "nobody flagged (a_i from 0 to 0.12, a_avg + 0.1 about 0.17): the plain average, i.e. the common model")

    devices, honest = _scenario([0.05, 0.05, 0.0], 2, [3, 3, 3, 50, 60], seed=2)
    used = ("5 devices with fedlab.checks.malicious.small_net(): 3 honest ones (one model plus deviations of spread "
            "0.05, 0.05, 0 that cancel out, counters 3) and devices 3 and 4 with N(0, 0.5) weights (counters 50, 60); "
            "secure_average_weights(devices)")
    _compare(task, used, _secure(task, secure_average_weights, used, devices), devices, honest, 3,
             "devices 3 and 4 flagged: the average of devices 0-2, i.e. the honest model")
    passed(task, "one and two N(0, 0.5) devices flagged, none among honest ones, epsilon honoured, "
                 "counters averaged, devices unmodified")
