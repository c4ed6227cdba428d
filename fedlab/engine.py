"""One FedAvg round's local training of all its devices: the loop, or the devices trained together.

``train_round`` is ``for d in devices: for e in range(local_epochs): train(round_num, d)``.
On CUDA it trains the round's devices together: their parameters, BatchNorm statistics and
momentum buffers are stacked, one ``vmap`` of the net runs all of them in one pass (a grouped
convolution), and SGD updates the stacked tensors elementwise. Used in 02 §2.4, 03 and 04.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from . import quick, runtime
from .devices import check_device
from .training import record_epoch, train

ENGINES = ("auto", "loop", "vectorized")
SGD_SETTINGS = ("momentum", "dampening", "weight_decay", "nesterov", "maximize")
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def train_round(round_num, devices, local_epochs, engine="auto"):
    """Train each of ``devices`` for ``local_epochs`` local epochs, as the loop over ``fedlab.train`` does.

    Same weights, BatchNorm statistics, momentum buffers, trackers and random-generator state
    afterwards. ``engine``: ``"auto"`` trains the devices together on CUDA when they share
    architecture, data size, batch size and SGD settings (learning rates may differ), else
    runs the loop (CPU, quick mode, or devices that differ); ``"loop"`` forces the loop,
    ``"vectorized"`` the joint training on any compute device. At most two epochs in quick
    mode, as the notebooks' ``fedlab.trange`` loop.
    """
    if not isinstance(local_epochs, int) or isinstance(local_epochs, bool) or local_epochs < 1:
        raise ValueError(f"train_round(local_epochs={local_epochs!r}): need an int >= 1, e.g. 4")
    devices = list(devices)
    if not devices:
        raise ValueError("train_round(devices=[]): no devices to train; pass the round's devices")
    for device in devices:
        check_device(device, needs=("net", "optimizer", "train_loss_tracker", "train_acc_tracker",
                                    "data_idxs", "trainset", "batch_size"))
    epochs = quick.limit(local_epochs)
    if chosen_engine(devices, engine) == "vectorized":
        _train_together(devices, epochs)
    else:
        for device in devices:
            for _ in range(epochs):
                train(round_num, device)


def chosen_engine(devices, engine="auto"):
    """``"loop"`` or ``"vectorized"``: what ``train_round(..., engine=engine)`` runs for ``devices``."""
    if engine not in ENGINES:
        raise ValueError(f"train_round(engine={engine!r}): the engine must be one of "
                         f"{', '.join(map(repr, ENGINES))}; leave it out for 'auto'")
    if engine == "vectorized":
        why_not = why_not_vectorized(devices)
        if why_not:
            raise ValueError(f"train_round(engine='vectorized'): these devices cannot be trained together: "
                             f"{why_not}; use engine='loop' (or leave engine out)")
    elif engine == "auto":
        together = _on_cuda(devices) and not quick.quick_mode() and len(devices) > 1
        engine = "vectorized" if together and not why_not_vectorized(devices) else "loop"
    return engine


def _on_cuda(devices):
    return next(devices[0]["net"].parameters()).is_cuda


def why_not_vectorized(devices):
    """Why ``devices`` cannot be trained together (a sentence), or None when they can."""
    first = devices[0]
    net = first["net"]
    shapes = [(name, t.shape, t.dtype, t.device) for name, t in net.state_dict().items()]
    for module in net.modules():
        if isinstance(module, BATCH_NORMS) and module.momentum is None:
            return "a BatchNorm layer has momentum=None (a cumulative average), which needs a Python number per device"
        if isinstance(module, DROPOUTS):
            return "the net has dropout, whose random draws would differ from the loop's"
    for device in devices:
        who = f"device {device.get('id', '?')}"
        other = device["net"]
        if type(other) is not type(net) or [(n, t.shape, t.dtype, t.device) for n, t in
                                            other.state_dict().items()] != shapes:
            return f"{who} has a different architecture from device {first.get('id', '?')}"
        if device["trainset"] is not first["trainset"]:
            return f"{who} trains on a different train set"
        if len(device["data_idxs"]) != len(first["data_idxs"]):
            return (f"{who} has {len(device['data_idxs'])} images, "
                    f"device {first.get('id', '?')} {len(first['data_idxs'])}")
        if device["batch_size"] != first["batch_size"]:
            return f"{who} has batch_size {device['batch_size']}, device {first.get('id', '?')} {first['batch_size']}"
        opt = device["optimizer"]
        if type(opt) is not torch.optim.SGD or len(opt.param_groups) != 1 or \
                [id(p) for p in opt.param_groups[0]["params"]] != [id(p) for p in other.parameters()]:
            return f"{who}'s optimizer is not plain SGD over all of its net's parameters in one group"
        settings = {k: opt.param_groups[0][k] for k in SGD_SETTINGS}
        first_settings = {k: first["optimizer"].param_groups[0][k] for k in SGD_SETTINGS}
        if settings != first_settings:
            return f"{who}'s SGD settings {settings} differ from device {first.get('id', '?')}'s {first_settings}"
    return None


def _draw_batches(devices, epochs, target):
    """Every device's augmented batches, drawn as the loop draws them: device by device, epoch by epoch.

    The loop's random generators (CPU for the order, the data's device for augmentation) are
    consumed call for call, so they end in the same state. Returns ``[epoch][batch]`` pairs of
    stacked (devices, images, ...) tensors: all of a round's images at once, e.g. 1.2 GB for
    5 devices x 5,000 images x 4 epochs in fp32.
    """
    stacked = [[] for _ in range(epochs)]  # [epoch][batch] -> (images, labels), each (devices, ...)
    for k, device in enumerate(devices):
        idxs, bs = device["data_idxs"], device["batch_size"]
        for e in range(epochs):
            order = idxs[torch.randperm(len(idxs))]
            for b in range(quick.limit((len(idxs) + bs - 1) // bs)):
                part = order[b * bs:(b + 1) * bs][:quick.train_images(bs)]
                batch = device["trainset"].batch(part, target, augment_images=True)
                if k == 0:
                    stacked[e].append(tuple(t.new_empty((len(devices),) + t.shape) for t in batch))
                for whole, part in zip(stacked[e][b], batch):
                    whole[k] = part
    return stacked


def _train_together(devices, epochs):
    """The loop's result for same-shaped devices, computed for all of them in each step."""
    template = devices[0]["net"]
    target = next(template.parameters()).device
    batches = _draw_batches(devices, epochs, target)
    nets = [d["net"] for d in devices]
    params = {name: torch.stack([dict(net.named_parameters())[name].detach() for net in nets]).requires_grad_()
              for name, _ in template.named_parameters()}
    buffers = {name: torch.stack([dict(net.named_buffers())[name] for net in nets])
               for name, _ in template.named_buffers()}
    sgd = StackedSGD([d["optimizer"] for d in devices], list(params.values()))

    def loss_and_output(p, b, x, y):
        out = functional_call(template, (p, b), (x,))
        return F.cross_entropy(out, y), out

    step = vmap(loss_and_output)
    for net in nets:
        net.train()
    for epoch_batches in batches:
        losses, corrects, sizes = [], [], []
        for x, y in epoch_batches:
            sgd.zero_grad()
            with runtime.autocast(target):
                loss, out = step(params, buffers, x, y)  # BatchNorm updates the stacked statistics in place
            loss.sum().backward()  # each device's loss depends on its own slice only
            sgd.step()
            losses.append(loss.detach())
            corrects.append((out.argmax(-1) == y).sum(1))
            sizes.append(y.shape[1])
        per_batch_losses, per_batch_corrects = torch.stack(losses).tolist(), torch.stack(corrects).tolist()
        for k, device in enumerate(devices):
            record_epoch(device, [row[k] for row in per_batch_losses], [row[k] for row in per_batch_corrects], sizes)
    _write_back(devices, params, buffers, sgd)


class StackedSGD:
    """``torch.optim.SGD``'s update applied to stacked parameters: one learning rate per device, shared settings.

    The momentum buffer of a device that has never stepped starts as its first gradient, as
    in SGD; one that has keeps its own.
    """

    def __init__(self, optimizers, stacked):
        self.settings = {k: optimizers[0].param_groups[0][k] for k in SGD_SETTINGS}
        self.stacked = stacked
        lrs = torch.tensor([opt.param_groups[0]["lr"] for opt in optimizers], dtype=stacked[0].dtype,
                           device=stacked[0].device)
        self.lrs = [lrs.view(_per_device(p)) for p in stacked]
        self.buffers = self.fresh = None
        if self.settings["momentum"] != 0:
            own = [[opt.state[p].get("momentum_buffer") for p in opt.param_groups[0]["params"]] for opt in optimizers]
            fresh = torch.tensor([bufs[0] is None for bufs in own], device=stacked[0].device)
            self.fresh = [fresh.view(_per_device(p)) for p in stacked]
            self.buffers = [torch.stack([torch.zeros_like(p[0]) if buf is None else buf for buf in bufs])
                            for p, bufs in zip(stacked, zip(*own))]

    def zero_grad(self):
        for p in self.stacked:
            p.grad = None

    @torch.no_grad()
    def step(self):
        s = self.settings
        for i, p in enumerate(self.stacked):
            grad = -p.grad if s["maximize"] else p.grad
            if s["weight_decay"] != 0:
                grad = grad.add(p, alpha=s["weight_decay"])
            if self.buffers is not None:
                buf = self.buffers[i].mul_(s["momentum"]).add_(grad, alpha=1 - s["dampening"])
                if self.fresh is not None:  # first step: a fresh device's buffer is its gradient
                    buf = self.buffers[i] = torch.where(self.fresh[i], grad, buf)
                grad = grad.add(buf, alpha=s["momentum"]) if s["nesterov"] else buf
            p.sub_(self.lrs[i] * grad)
        self.fresh = None


def _per_device(t):
    """The shape that broadcasts one value per device over stacked tensor ``t``."""
    return (-1,) + (1,) * (t.ndim - 1)


def _write_back(devices, params, buffers, sgd):
    """Put the stacked state where the loop leaves it: nets, last gradients, momentum buffers."""
    with torch.no_grad():
        for k, device in enumerate(devices):
            net, opt = device["net"], device["optimizer"]
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
                p.grad = params[name].grad[k].clone()
            for name, b in net.named_buffers():
                b.copy_(buffers[name][k])
            if sgd.buffers is not None:
                for p, buf in zip(net.parameters(), sgd.buffers):
                    opt.state[p]["momentum_buffer"] = buf[k].clone()
