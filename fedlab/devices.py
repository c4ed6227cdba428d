"""A *device* is one client of federated learning: its own net, data, optimizer and records.

Students know a device as a dict; these keys are the contract every assignment relies on.
"""
import copy
import warnings

import torch

from . import inputs
from .runtime import compute_device

CONTRACT = ("net", "id", "optimizer", "scheduler",
            "train_loss_tracker", "train_acc_tracker", "test_loss_tracker", "test_acc_tracker")
DEFAULT_MILESTONES = [25, 50, 75]

# Every device steps its schedule each round, also in rounds it was not selected to train in;
# torch warns (on stderr, which nbgrader punishes) that the optimizer has not stepped yet.
# In federated rounds that is intended, so the warning is a false alarm here.
warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`")


def create_device(net, device_id, trainset, data_idxs, lr=0.1, milestones=None, batch_size=128):
    """A device with its own copy of ``net`` on the compute device, trained on ``trainset[data_idxs]``.

    SGD (momentum 0.9, weight decay 5e-4) and a MultiStepLR (gamma 0.1) that the round loop
    steps once per round.
    """
    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"create_device(net=...): need a torch.nn.Module, got {type(net).__name__}")
    idxs = inputs.indices(data_idxs, len(trainset), "create_device(data_idxs=...)", "to train the device on")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"create_device(batch_size={batch_size!r}): batch_size must be an int >= 1, e.g. 128")
    inputs.learning_rate(lr, f"create_device(lr={lr!r})")
    milestones = list(DEFAULT_MILESTONES) if milestones is None else inputs.milestones(
        milestones, f"create_device(milestones={milestones!r})")
    device_net = copy.deepcopy(net).to(compute_device())
    optimizer = torch.optim.SGD(device_net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    return {
        "net": device_net,
        "id": device_id,
        "data_idxs": idxs,
        "trainset": trainset,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "scheduler": torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1),
        "train_loss_tracker": [],
        "train_acc_tracker": [],
        "test_loss_tracker": [],
        "test_acc_tracker": [],
    }


def check_device(device, needs=CONTRACT):
    """Raise a KeyError naming what a device dict lacks (e.g. one built by hand)."""
    if not isinstance(device, dict):
        raise TypeError(f"expected a device dict from fedlab.create_device, got {type(device).__name__}")
    missing = [k for k in needs if k not in device]
    if missing:
        raise KeyError(f"device {device.get('id', '?')} lacks {', '.join(map(repr, missing))}; "
                       f"build devices with fedlab.create_device(...) rather than by hand")
