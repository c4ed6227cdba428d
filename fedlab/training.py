"""Local training and evaluation of one device.

Each function switches *the device's own* net into train or eval mode; the original course
switched a global net instead, so device nets were tested with BatchNorm in training mode.
"""
import torch
import torch.nn.functional as F

from . import inputs, quick, runtime
from .devices import check_device

EVAL_BATCH = 256


def train(epoch, device):
    """One local epoch over the device's data in shuffled batches; returns (mean loss, accuracy %).

    Appends both to the device's train trackers. Stops after two batches (of 32 images) in quick mode. The
    readable reference that ``train_round`` must equal; it syncs with the host once per epoch
    and, on CUDA, runs in the precision of ``fedlab.set_precision``.
    """
    check_device(device, needs=("net", "optimizer", "train_loss_tracker", "train_acc_tracker",
                                "data_idxs", "trainset", "batch_size"))
    inputs.float32_net(device["net"], f"train(epoch, device): the net of device {device.get('id', '?')}")
    net, opt = device["net"], device["optimizer"]
    target = next(net.parameters()).device
    idxs, bs = device["data_idxs"], device["batch_size"]
    order = idxs[torch.randperm(len(idxs))]
    batches, used = quick.limit((len(order) + bs - 1) // bs), quick.train_images(bs)
    net.train()
    losses, corrects, sizes = [], [], []
    for b in range(batches):
        x, y = device["trainset"].batch(order[b * bs:(b + 1) * bs][:used], target, augment_images=True)
        opt.zero_grad(set_to_none=True)
        with runtime.autocast(target):
            out = net(on_compute_layout(x))
            loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())  # kept on the compute device: no sync with the host per batch
        corrects.append((out.argmax(1) == y).sum())
        sizes.append(len(y))
    return record_epoch(device, torch.stack(losses).tolist(), torch.stack(corrects).tolist(), sizes)


def on_compute_layout(images):
    """Images in channels_last on CUDA, where cuDNN's convolutions are fastest in it; as they are elsewhere.

    Only the images change layout: the weights stay contiguous, so students' ``.view()`` on
    state_dict tensors keeps working. Used by ``train`` and ``train_round``.
    """
    return images.contiguous(memory_format=torch.channels_last) if images.is_cuda else images


def record_epoch(device, losses, corrects, sizes):
    """Append an epoch's (mean loss, accuracy %) to the device's train trackers and return them.

    ``losses``, ``corrects`` and ``sizes`` are per batch, as Python numbers; the sum runs on the
    host in batch order, so ``train`` and ``train_round`` give the same trackers.
    """
    total_loss, correct, seen = 0.0, 0, 0
    for batch_loss, batch_correct, size in zip(losses, corrects, sizes):
        total_loss += batch_loss * size
        correct += batch_correct
        seen += size
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
