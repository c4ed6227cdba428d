"""Local training and evaluation of one device.

Each function switches *the device's own* net into train or eval mode; the original course
switched a global net instead, so device nets were tested with BatchNorm in training mode.
"""
import torch
import torch.nn.functional as F

from . import inputs, quick
from .devices import check_device

EVAL_BATCH = 256


def train(epoch, device):
    """One local epoch over the device's data in shuffled batches; returns (mean loss, accuracy %).

    Appends both to the device's train trackers. Stops after two batches in quick mode.
    """
    check_device(device, needs=("net", "optimizer", "train_loss_tracker", "train_acc_tracker",
                                "data_idxs", "trainset", "batch_size"))
    inputs.float32_net(device["net"], f"train(epoch, device): the net of device {device.get('id', '?')}")
    net, opt = device["net"], device["optimizer"]
    target = next(net.parameters()).device
    idxs, bs = device["data_idxs"], device["batch_size"]
    order = idxs[torch.randperm(len(idxs))]
    batches = quick.limit((len(order) + bs - 1) // bs)
    net.train()
    total_loss, correct, seen = 0.0, 0, 0
    for b in range(batches):
        x, y = device["trainset"].batch(order[b * bs:(b + 1) * bs], target, augment_images=True)
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        total_loss += loss.item() * len(y)
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    loss, acc = total_loss / seen, 100.0 * correct / seen
    device["train_loss_tracker"].append(loss)
    device["train_acc_tracker"].append(acc)
    return loss, acc


@torch.no_grad()
def evaluate(net, dataset, idxs=None, batch_size=EVAL_BATCH):
    """(mean loss, accuracy %) of ``net`` in eval mode on ``dataset`` (or the images ``idxs`` of it).

    At most two batches in quick mode.
    """
    inputs.float32_net(net, "evaluate(net=...): the net")
    idxs = torch.arange(len(dataset)) if idxs is None else inputs.indices(idxs, len(dataset), "evaluate(idxs=...)",
                                                                          "to evaluate on")
    target = next(net.parameters()).device
    batches = quick.limit((len(idxs) + batch_size - 1) // batch_size)
    was_training = net.training
    net.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for b in range(batches):
        x, y = dataset.batch(idxs[b * batch_size:(b + 1) * batch_size], target)
        out = net(x)
        total_loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    net.train(was_training)
    return total_loss / seen, 100.0 * correct / seen


def test(epoch, device, testset):
    """Evaluate the device's net on the whole test set; append loss and accuracy (%) to its trackers.

    Returns the accuracy.
    """
    check_device(device, needs=("net", "test_loss_tracker", "test_acc_tracker"))
    loss, acc = evaluate(device["net"], testset)
    device["test_loss_tracker"].append(loss)
    device["test_acc_tracker"].append(acc)
    return acc
