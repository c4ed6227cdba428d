"""Issue 2, item 4 (devices) and its bad input: the device dict of the course's contract."""
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch

import fedlab

CONTRACT = ["net", "id", "optimizer", "scheduler",
            "train_loss_tracker", "train_acc_tracker", "test_loss_tracker", "test_acc_tracker"]


@pytest.fixture
def device(cifar10):
    return fedlab.create_device(fedlab.TestNetwork(), 3, cifar10[0], [5, 1, 9])


def test_device_has_the_contract_keys(device, cifar10):
    assert set(CONTRACT) <= set(device)
    assert device["id"] == 3
    assert device["trainset"] is cifar10[0] and device["batch_size"] == 128
    assert device["data_idxs"].tolist() == [5, 1, 9]
    for key in CONTRACT[4:]:
        assert device[key] == []


def test_device_trains_its_own_copy_of_the_net(cifar10):
    net = fedlab.TestNetwork()
    first = fedlab.create_device(net, 0, cifar10[0], [0])
    second = fedlab.create_device(net, 1, cifar10[0], [1])
    assert first["net"] is not net and first["net"] is not second["net"]
    for p_given, p_first, p_second in zip(net.parameters(), first["net"].parameters(), second["net"].parameters()):
        assert torch.equal(p_given, p_first)
        assert p_given.data_ptr() != p_first.data_ptr() and p_first.data_ptr() != p_second.data_ptr()
    with torch.no_grad():
        first["net"].layer1.weight.add_(1.0)
    assert not torch.equal(first["net"].layer1.weight, net.layer1.weight)
    assert torch.equal(second["net"].layer1.weight, net.layer1.weight)
    assert next(first["net"].parameters()).device.type == fedlab.compute_device().type


def test_optimizer_is_sgd_with_the_course_hyperparameters_on_the_devices_net(device):
    opt = device["optimizer"]
    assert isinstance(opt, torch.optim.SGD) and len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.9, 5e-4)
    assert [id(p) for p in group["params"]] == [id(p) for p in device["net"].parameters()]


def test_scheduler_is_multistep_with_default_milestones(device):
    sched = device["scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.MultiStepLR)
    assert sched.milestones == Counter([25, 50, 75]) and sched.gamma == 0.1
    assert sched.optimizer is device["optimizer"]


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")  # pytest resets fedlab's filter
def test_learning_rate_and_milestones_can_be_chosen(cifar10):
    device = fedlab.create_device(fedlab.TestNetwork(), 0, cifar10[0], [0], lr=0.05, milestones=[2, 4])
    lrs = []
    for _ in range(5):  # the round loop steps every device's schedule, trained this round or not
        lrs.append(device["optimizer"].param_groups[0]["lr"])
        device["scheduler"].step()
    assert lrs == pytest.approx([0.05, 0.05, 0.005, 0.005, 0.0005])


def test_stepping_an_untrained_devices_schedule_writes_nothing_to_stderr():
    """torch warns when a schedule steps before its optimizer; in FL rounds that is intended.

    Checked in a fresh interpreter: pytest resets warning filters around each test.
    """
    script = ("import torch, fedlab; ds = fedlab.ImageSet(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), [0, 1], "
              "name='x', source='test', mean=(0, 0, 0), std=(1, 1, 1)); "
              "d = fedlab.create_device(fedlab.TestNetwork(), 0, ds, [0]); d['scheduler'].step()")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("idxs", [range(4), np.arange(4), torch.arange(4), [0, 1, 2, 3], (0, 1, 2, 3), {0, 1, 2, 3}])
def test_indices_may_come_as_any_sequence_of_ints(cifar10, idxs):
    device = fedlab.create_device(fedlab.TestNetwork(), 0, cifar10[0], idxs)
    assert sorted(device["data_idxs"].tolist()) == [0, 1, 2, 3]
    assert device["data_idxs"].dtype == torch.int64


@pytest.mark.parametrize("idxs, message", [
    ([], r"data_idxs.*no data"),
    (np.array([], dtype=np.int64), r"data_idxs.*no data"),
    ([0, 50_000], r"data_idxs.*index 50000 is out of range.*0\.\.49999"),
    ([-1, 3], r"data_idxs.*index -1 is out of range"),
    (["a", "b"], r"data_idxs.*int indices"),
    (None, r"data_idxs.*int indices"),
])
def test_bad_indices_are_refused_naming_the_argument(cifar10, idxs, message):
    with pytest.raises(ValueError, match=message):
        fedlab.create_device(fedlab.TestNetwork(), 0, cifar10[0], idxs)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "128", True])
def test_bad_batch_size_is_refused_naming_the_argument(cifar10, batch_size):
    with pytest.raises(ValueError, match=r"batch_size.*>= 1"):
        fedlab.create_device(fedlab.TestNetwork(), 0, cifar10[0], [0], batch_size=batch_size)


def test_bad_net_and_learning_rate_are_refused(cifar10):
    with pytest.raises(TypeError, match=r"net=.*torch.nn.Module"):
        fedlab.create_device(fedlab.TestNetwork, 0, cifar10[0], [0])
    with pytest.raises(ValueError, match=r"lr=0\b.*positive"):
        fedlab.create_device(fedlab.TestNetwork(), 0, cifar10[0], [0], lr=0)


@pytest.mark.parametrize("missing", ["net", "optimizer", "train_acc_tracker", "data_idxs"])
def test_train_names_a_missing_key_and_the_fix(device, missing):
    del device[missing]
    with pytest.raises(KeyError, match=rf"device 3 lacks '{missing}'.*fedlab.create_device"):
        fedlab.train(0, device)


@pytest.mark.parametrize("missing", ["net", "test_loss_tracker", "test_acc_tracker"])
def test_test_names_a_missing_key_and_the_fix(device, cifar10, missing):
    del device[missing]
    with pytest.raises(KeyError, match=rf"lacks '{missing}'.*fedlab.create_device"):
        fedlab.test(0, device, cifar10[1])


def test_a_device_must_be_a_dict(cifar10):
    with pytest.raises(TypeError, match="device dict from fedlab.create_device"):
        fedlab.test(0, fedlab.TestNetwork(), cifar10[1])
