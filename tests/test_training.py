"""Issue 2, items 4, 5 and 7: local training and testing of a device, seeding, quick mode limits."""
import copy
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fedlab
from fedlab import ImageSet


class TinyNet(nn.Module):
    """A cheap CNN with BatchNorm, so mode and running statistics matter as in ConvNet."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


class RecordingSet(ImageSet):
    """The stand-in's images, noting which indices each batch asks for."""

    def __init__(self, source):
        super().__init__(source.data, source.targets, name=source.name, source=source.source,
                         mean=source.mean, std=source.std, pad_mode=source.pad_mode)
        self.asked = []

    def batch(self, idxs, device, augment_images=False):
        self.asked.append((torch.as_tensor(idxs).tolist(), augment_images))
        return super().batch(idxs, device, augment_images)


def _record_modes(net):
    """Whether the net was in training mode at each forward call."""
    modes = []
    net.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    return modes


def test_train_uses_the_devices_own_net_in_train_mode(cifar10, quick_on):
    global_net = TinyNet().eval()
    before = {k: v.clone() for k, v in global_net.state_dict().items()}
    device = fedlab.create_device(global_net, 0, cifar10[0], range(100), batch_size=16)
    device["net"].eval()
    modes = _record_modes(device["net"])
    fedlab.train(0, device)
    assert modes == [True, True]
    assert not global_net.training
    assert all(torch.equal(before[k], v) for k, v in global_net.state_dict().items())
    assert not torch.equal(before["bn.running_mean"], device["net"].bn.running_mean)  # the device's net learned


def test_test_uses_the_devices_own_net_in_eval_mode_and_leaves_its_statistics(cifar10, quick_on):
    global_net = TinyNet().train()
    device = fedlab.create_device(global_net, 0, cifar10[0], range(100))
    net = device["net"]
    modes = _record_modes(net)
    stats = {k: v.clone() for k, v in net.state_dict().items()}
    fedlab.test(0, device, cifar10[1])
    assert modes == [False, False]
    assert all(torch.equal(stats[k], v) for k, v in net.state_dict().items())
    assert global_net.training


def test_train_and_test_append_to_the_trackers(cifar10, quick_on):
    device = fedlab.create_device(TinyNet(), 0, cifar10[0], range(64), batch_size=16)
    results = [fedlab.train(epoch, device) for epoch in range(2)]
    assert device["train_loss_tracker"] == [loss for loss, _ in results]
    assert device["train_acc_tracker"] == [acc for _, acc in results]
    accs = [fedlab.test(epoch, device, cifar10[1]) for epoch in range(2)]
    assert device["test_acc_tracker"] == accs and len(device["test_loss_tracker"]) == 2
    for loss, acc in results + list(zip(device["test_loss_tracker"], accs)):
        assert loss > 0 and 0 <= acc <= 100


def test_a_full_epoch_visits_each_of_the_devices_images_once_shuffled(cifar10, quick_off):
    trainset = RecordingSet(cifar10[0])
    idxs = list(range(1000, 1250))
    device = fedlab.create_device(TinyNet(), 0, trainset, idxs, batch_size=100)
    fedlab.train(0, device)
    fedlab.train(1, device)
    epochs = [trainset.asked[:3], trainset.asked[3:]]
    for epoch in epochs:
        assert [len(b) for b, _ in epoch] == [100, 100, 50] and all(aug for _, aug in epoch)
        order = [i for b, _ in epoch for i in b]
        assert sorted(order) == idxs and order != idxs
    assert epochs[0] != epochs[1]


def _train_reading_every_batch(device):
    """The readable loop ``train`` started as: the host reads the loss and the hits after every batch."""
    net, opt, idxs, bs = device["net"], device["optimizer"], device["data_idxs"], device["batch_size"]
    order = idxs[torch.randperm(len(idxs))]
    net.train()
    total_loss, correct, seen = 0.0, 0, 0
    for b in range((len(order) + bs - 1) // bs):
        x, y = device["trainset"].batch(order[b * bs:(b + 1) * bs], torch.device("cpu"), augment_images=True)
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        total_loss += loss.item() * len(y)
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    return total_loss / seen, 100.0 * correct / seen


def test_train_with_one_sync_per_epoch_equals_the_loop_that_reads_every_batch(cifar10, quick_off):
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("the comparison is bitwise on the CPU")
    device = fedlab.create_device(TinyNet(), 0, cifar10[0], range(250), batch_size=100)  # batches 100, 100, 50
    reference = copy.deepcopy(device, memo={id(cifar10[0]): cifar10[0]})
    torch.manual_seed(0)
    results = [fedlab.train(epoch, device) for epoch in range(2)]
    torch.manual_seed(0)
    expected = [_train_reading_every_batch(reference) for _ in range(2)]
    assert results == expected and device["train_loss_tracker"] == [loss for loss, _ in expected]
    assert all(torch.equal(a, b) for a, b in zip(device["net"].state_dict().values(),
                                                  reference["net"].state_dict().values()))
    for p, q in zip(device["net"].parameters(), reference["net"].parameters()):
        buffers = device["optimizer"].state[p], reference["optimizer"].state[q]
        assert torch.equal(buffers[0]["momentum_buffer"], buffers[1]["momentum_buffer"])


def test_quick_mode_trains_two_batches_of_32_images_with_the_real_indices(cifar10, quick_on):
    trainset = RecordingSet(cifar10[0])
    device = fedlab.create_device(TinyNet(), 0, trainset, range(1000), batch_size=100)
    calls = _record_modes(device["net"])
    fedlab.train(0, device)
    assert len(calls) == 2 and [len(b) for b, _ in trainset.asked] == [32, 32]
    assert all(set(b) <= set(range(1000)) for b, _ in trainset.asked)
    assert not set(trainset.asked[0][0]) & set(trainset.asked[1][0])  # two different batches
    assert device["data_idxs"].tolist() == list(range(1000))
    assert len(trainset) == 50_000


def test_evaluate_covers_the_whole_set_unless_in_quick_mode(cifar10, monkeypatch):
    net = TinyNet()
    calls = _record_modes(net)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("FEDLAB_QUICK", raising=False)
    fedlab.evaluate(net, cifar10[1], idxs=range(600))
    assert len(calls) == 3  # batches of 256, 256 and 88
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    calls.clear()
    fedlab.evaluate(net, cifar10[1])
    assert len(calls) == 2


def test_evaluate_gives_mean_loss_and_accuracy_percent(cifar10, quick_off):
    testset = cifar10[1]
    net = TinyNet().eval()
    idxs = list(range(20, 70))
    loss, acc = fedlab.evaluate(net, testset, idxs)
    x = torch.stack([testset[i][0] for i in idxs])
    y = torch.tensor([testset[i][1] for i in idxs])
    with torch.no_grad():
        out = net(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert acc == pytest.approx(100.0 * (out.argmax(1) == y).float().mean().item())


def test_evaluate_refuses_an_empty_group(cifar10):
    with pytest.raises(ValueError, match="idxs.*non-empty"):
        fedlab.evaluate(TinyNet(), cifar10[1], idxs=[])


def _run(seed, trainset, testset):
    fedlab.seed_everything(seed)
    device = fedlab.create_device(TinyNet(), 0, trainset, range(500), batch_size=50)
    fedlab.train(0, device)
    fedlab.test(0, device, testset)
    draws = (random.random(), float(np.random.rand()), torch.rand(1).item())
    return device, draws


def test_seed_everything_repeats_a_run_exactly(cifar10, quick_on):
    first, first_draws = _run(7, *cifar10)
    second, second_draws = _run(7, *cifar10)
    other, other_draws = _run(8, *cifar10)
    assert first_draws == second_draws != other_draws
    for key in ("train_loss_tracker", "train_acc_tracker", "test_loss_tracker", "test_acc_tracker"):
        assert first[key] == second[key]
    states = [d["net"].state_dict() for d in (first, second, other)]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


@pytest.mark.parametrize("seed", ["0", 1.5, None, True])
def test_seed_must_be_an_int(seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        fedlab.seed_everything(seed)


def test_compute_device_prefers_cuda_then_mps_then_cpu():
    expected = ("cuda" if torch.cuda.is_available()
                else "mps" if torch.backends.mps.is_available() else "cpu")
    assert fedlab.compute_device() == torch.device(expected)


def test_without_an_accelerator_everything_runs_on_the_cpu(cifar10, quick_on):
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator")
    assert fedlab.compute_device() == torch.device("cpu")
    device = fedlab.create_device(TinyNet(), 0, cifar10[0], range(10))
    assert all(p.device.type == "cpu" for p in device["net"].parameters())
