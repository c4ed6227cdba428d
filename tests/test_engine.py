"""Issue 11: train_round equals the loop over fedlab.train; the engine it picks; the precision setting.

Exactness runs in float64 on the CPU with a small BatchNorm net (the whole file takes seconds),
where the joint engine is forced with engine="vectorized".
"""
import copy

import pytest
import torch
from torch import nn

import fedlab
from fedlab import runtime
from fedlab.engine import chosen_engine

TOLERANCE = 1e-12
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class SmallNet(nn.Module):
    """Two conv blocks with BatchNorm and a classifier: ConvNet's kinds of layers at a tiny cost."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


@pytest.fixture(autouse=True)
def one_thread():
    """Tensors this small gain nothing from threads, which only wait on each other on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def fresh_precision(monkeypatch):
    """No precision set by an earlier test; FEDLAB_PRECISION unset."""
    monkeypatch.setattr(runtime, "_precision", None)
    monkeypatch.delenv("FEDLAB_PRECISION", raising=False)


def make_devices(trainset, k, images=40, batch_size=16, net=SmallNet):
    """``k`` devices from one start net; odd ones have trained an epoch (momentum state), device 2 has lr 0.01."""
    fedlab.seed_everything(k)
    start = net()
    devices = [fedlab.create_device(start, i, trainset, range(images * i, images * (i + 1)), batch_size=batch_size,
                                    milestones=[1] if i == 2 else None) for i in range(k)]
    for device in devices[1::2]:
        fedlab.train(0, device)
    for device in devices:
        device["scheduler"].step()
    return devices


def twins(devices):
    """Two independent copies of ``devices`` (nets, optimizers, schedulers, trackers) sharing the train set."""
    trainset = devices[0]["trainset"]
    return [copy.deepcopy(devices, memo={id(trainset): trainset}) for _ in range(2)]


def rng_state():
    return [torch.get_rng_state()] + ([torch.cuda.get_rng_state()] if torch.cuda.is_available() else [])


def loop_and_round(devices, local_epochs, engine):
    """(devices after the loop, devices after train_round, generator states after each), from the same start."""
    loop, joint = twins(devices)
    start = rng_state()
    for device in loop:
        for _ in range(local_epochs):
            fedlab.train(0, device)
    after_loop = rng_state()
    torch.set_rng_state(start[0])
    if torch.cuda.is_available():
        torch.cuda.set_rng_state(start[1])
    fedlab.train_round(0, joint, local_epochs, engine=engine)
    return loop, joint, after_loop, rng_state()


def largest_difference(loop, joint):
    """The largest difference over weights, BatchNorm buffers, gradients and momentum buffers of all devices."""
    worst = 0.0
    for a, b in zip(loop, joint):
        assert b["net"].training
        state_a, state_b = a["net"].state_dict(), b["net"].state_dict()
        for name in state_a:
            assert state_a[name].dtype == state_b[name].dtype
            if name.endswith("num_batches_tracked"):
                assert torch.equal(state_a[name], state_b[name]), name
            worst = max(worst, (state_a[name].double() - state_b[name].double()).abs().max().item())
        for p, q in zip(a["net"].parameters(), b["net"].parameters()):
            worst = max(worst, (p.grad - q.grad).abs().max().item())
            buf_a = a["optimizer"].state[p].get("momentum_buffer")
            buf_b = b["optimizer"].state[q].get("momentum_buffer")
            assert (buf_a is None) == (buf_b is None)
            if buf_a is not None:
                worst = max(worst, (buf_a - buf_b).abs().max().item())
    return worst


@pytest.mark.parametrize("k", range(1, 8))
def test_vectorized_round_equals_the_loop_in_float64(cifar10, quick_off, float64, k):
    devices = make_devices(cifar10[0], k)  # 40 images in batches of 16: the last batch has 8
    loop, joint, after_loop, after_round = loop_and_round(devices, 2, "vectorized")
    assert all(torch.equal(a, b) for a, b in zip(after_loop, after_round))
    assert largest_difference(loop, joint) <= TOLERANCE
    for a, b in zip(loop, joint):
        assert len(b["train_loss_tracker"]) == len(a["train_loss_tracker"]) == (3 if a["id"] % 2 else 2)
        assert b["train_loss_tracker"] == pytest.approx(a["train_loss_tracker"], abs=TOLERANCE, rel=0)
        assert b["train_acc_tracker"] == a["train_acc_tracker"]
    assert not torch.equal(loop[0]["net"].conv1.weight, devices[0]["net"].conv1.weight)  # it trained


def test_vectorized_round_respects_each_devices_learning_rate(cifar10, quick_off, float64):
    devices = make_devices(cifar10[0], 3)
    assert [d["optimizer"].param_groups[0]["lr"] for d in devices] == pytest.approx([0.1, 0.1, 0.01])
    loop, joint, _, _ = loop_and_round(devices, 1, "vectorized")
    assert largest_difference(loop, joint) <= TOLERANCE
    for d in devices:  # the same start, a tenth of the rate: device 2 moved less than device 0
        d["optimizer"].param_groups[0]["lr"] = 0.1
    loop_same_lr, _, _, _ = loop_and_round(devices, 1, "loop")
    assert not torch.allclose(loop[2]["net"].fc.weight, loop_same_lr[2]["net"].fc.weight)


@pytest.mark.parametrize("settings", [dict(momentum=0.0, weight_decay=0.0), dict(dampening=0.3),
                                      dict(nesterov=True), dict(maximize=True, lr=1e-3)])
def test_vectorized_round_equals_the_loop_for_other_sgd_settings(cifar10, quick_off, float64, settings):
    devices = make_devices(cifar10[0], 3)
    for d in devices:
        d["optimizer"].param_groups[0].update(settings)
    loop, joint, _, _ = loop_and_round(devices, 2, "vectorized")
    assert largest_difference(loop, joint) <= TOLERANCE
    if settings.get("momentum") == 0:  # SGD keeps no buffers without momentum
        assert not any(joint[0]["optimizer"].state[p] for p in joint[0]["net"].parameters())


def test_round_runs_at_most_two_epochs_of_two_batches_in_quick_mode(cifar10, quick_on):
    devices = make_devices(cifar10[0], 3, images=100)
    loop, joint = twins(devices)
    torch.manual_seed(0)
    for device in loop:
        for _ in range(2):
            fedlab.train(0, device)
    torch.manual_seed(0)
    fedlab.train_round(0, joint, 4)
    for start, a, b in zip(devices, loop, joint):
        assert len(b["train_loss_tracker"]) == len(start["train_loss_tracker"]) + 2
        assert a["train_loss_tracker"] == b["train_loss_tracker"] and a["train_acc_tracker"] == b["train_acc_tracker"]
        assert all(torch.equal(x, y) for x, y in zip(a["net"].state_dict().values(), b["net"].state_dict().values()))


def test_the_loop_is_chosen_on_the_cpu_in_quick_mode_and_when_forced(cifar10, quick_off, monkeypatch):
    devices = make_devices(cifar10[0], 3)
    on_cpu = next(devices[0]["net"].parameters()).device.type == "cpu"
    assert chosen_engine(devices) == ("loop" if on_cpu else "vectorized")
    assert chosen_engine(devices, "loop") == "loop"
    assert chosen_engine(devices, "vectorized") == "vectorized"
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    assert chosen_engine(devices) == "loop"


def _bn_cumulative(devices):
    for d in devices:
        d["net"].bn1.momentum = None


def _dropout(devices):
    for d in devices:
        d["net"].fc = nn.Sequential(nn.Dropout(0.5), d["net"].fc)


@pytest.mark.parametrize("change, says", [
    (lambda ds: ds[1].update(batch_size=8), "device 1 has batch_size 8"),
    (lambda ds: ds[2].update(data_idxs=ds[2]["data_idxs"][:30]), "device 2 has 30 images"),
    (lambda ds: ds[1]["optimizer"].param_groups[0].update(momentum=0.5), "SGD settings"),
    (lambda ds: ds[2].update(optimizer=torch.optim.Adam(ds[2]["net"].parameters())), "not plain SGD"),
    (lambda ds: setattr(ds[1]["net"], "fc", nn.Linear(8, 3)), "different architecture"),
    (_bn_cumulative, "momentum=None"),
    (_dropout, "dropout"),
])
def test_devices_that_differ_are_refused_when_forced_and_looped_otherwise(cifar10, quick_off, change, says):
    devices = make_devices(cifar10[0], 3)
    change(devices)
    before = [copy.deepcopy(d["net"].state_dict()) for d in devices]
    with pytest.raises(ValueError, match=f"{says}.*engine='loop'"):
        fedlab.train_round(0, devices, 1, engine="vectorized")
    assert chosen_engine(devices) == "loop"
    for state, d in zip(before, devices):  # refused before anything trained
        assert all(torch.equal(v, d["net"].state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("kwargs, says", [
    (dict(engine="fast"), "engine must be one of 'auto', 'loop', 'vectorized'"),
    (dict(engine=None), "engine must be one of"),
    (dict(local_epochs=0), r"local_epochs=0\).*int >= 1"),
    (dict(local_epochs=2.0), r"local_epochs=2.0\).*int >= 1"),
    (dict(devices=[]), "no devices"),
])
def test_bad_arguments_get_an_error_that_names_them(cifar10, kwargs, says):
    args = dict(round_num=0, devices=make_devices(cifar10[0], 2), local_epochs=1) | kwargs
    with pytest.raises(ValueError, match=says):
        fedlab.train_round(**args)


def test_a_device_built_by_hand_is_named(cifar10):
    devices = make_devices(cifar10[0], 2)
    del devices[1]["batch_size"]
    with pytest.raises(KeyError, match="batch_size"):
        fedlab.train_round(0, devices, 1)


def test_precision_is_fp32_unless_set_and_refuses_unknown_names(fresh_precision, monkeypatch):
    assert fedlab.precision() == "fp32"
    monkeypatch.setenv("FEDLAB_PRECISION", "bf16")
    assert fedlab.precision() == "bf16"
    fedlab.set_precision("fp32")
    assert fedlab.precision() == "fp32"  # the call wins over the environment
    with pytest.raises(ValueError, match=r"set_precision\('fp16'\).*'fp32', 'bf16'"):
        fedlab.set_precision("fp16")
    assert fedlab.precision() == "fp32"
    monkeypatch.setattr(runtime, "_precision", None)
    monkeypatch.setenv("FEDLAB_PRECISION", "half")
    with pytest.raises(ValueError, match="FEDLAB_PRECISION='half'"):
        fedlab.precision()


def test_bf16_leaves_cpu_results_unchanged(cifar10, quick_off, fresh_precision):
    if torch.cuda.is_available():
        pytest.skip("this machine trains on CUDA")
    devices = make_devices(cifar10[0], 2)
    fp32, bf16 = twins(devices)
    torch.manual_seed(0)
    fedlab.train_round(0, fp32, 1)
    fedlab.set_precision("bf16")
    torch.manual_seed(0)
    fedlab.train_round(0, bf16, 1)
    for a, b in zip(fp32, bf16):
        assert a["train_loss_tracker"] == b["train_loss_tracker"]
        assert all(torch.equal(x, y) for x, y in zip(a["net"].state_dict().values(), b["net"].state_dict().values()))


# ---------------------------------------------------------------- on a GPU only

@cuda
def test_fp32_drift_of_the_engine_is_within_that_of_another_cudnn_algorithm(cifar10, quick_off, fresh_precision):
    devices = make_devices(cifar10[0], 5, images=256, batch_size=128, net=fedlab.ConvNet)
    loop, joint, _, _ = loop_and_round(devices, 2, "vectorized")
    torch.backends.cudnn.benchmark, was = True, torch.backends.cudnn.benchmark
    try:
        other_algorithm, _, _, _ = loop_and_round(devices, 2, "loop")
    finally:
        torch.backends.cudnn.benchmark = was
    drift_between_loops = largest_difference(loop, other_algorithm)
    assert largest_difference(loop, joint) <= 2 * drift_between_loops + 1e-6


@cuda
def test_bf16_round_trains_every_device(cifar10, quick_off, fresh_precision):
    fedlab.set_precision("bf16")
    devices = make_devices(cifar10[0], 3, images=256, batch_size=128, net=fedlab.ConvNet)
    start = copy.deepcopy(devices[0]["net"].state_dict())
    fedlab.train_round(0, devices, 2)
    for d in devices:
        assert all(torch.isfinite(p).all() for p in d["net"].parameters())
        assert len(d["train_loss_tracker"]) >= 2 and all(0 < loss < 10 for loss in d["train_loss_tracker"])
    assert not torch.equal(start["fc.weight"], devices[0]["net"].fc.weight)
