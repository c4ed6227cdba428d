"""Do the course's claims hold on this data? One experiment per claim of CURRICULUM 01-05.

Every assignment teaches by an experiment whose outcome its written questions take for
granted. This benchmark runs each experiment with fedlab's pieces (data, ``create_device``,
``train``, ``evaluate``, the live ``Client``) and small reference versions of what students
write (samplers, averaging, quantizer, fake weights, secure averaging, partitions, the
learning-rate schedule), then prints one row per claim: its numbers, the relation it
expects, and whether it holds. It exits 1 if any claim fails. The training runs the claims
compare (some shared) run once each, spread over forked workers (``--workers``).

    .venv/bin/python benchmarks/claims.py                       # reduced scale, stand-in, CPU minutes
    .venv/bin/python benchmarks/claims.py --only a,c            # some claims
    FEDLAB_DATA=cifar .venv/bin/python benchmarks/claims.py --scale full   # the course's budgets (GPU, hours)

The data is the offline stand-in unless ``FEDLAB_DATA`` says otherwise. tests/test_claims.py
checks the reference answers against the CURRICULUM's check values and runs the cheap claims.
"""
import argparse
import contextlib
import dataclasses
import math
import multiprocessing
import os
import queue
import random
import sys
import tempfile
import time
import traceback
from collections import OrderedDict

# Claims need full training: never quick mode; the stand-in unless FEDLAB_DATA asks for real data.
os.environ.setdefault("FEDLAB_DATA", "synthetic")
os.environ.pop("FEDLAB_QUICK", None)
os.environ.pop("NBGRADER_EXECUTION", None)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import fedlab  # noqa: E402
import fedlab.live  # noqa: E402

CLAIMS = ("a", "b", "c", "d", "e", "f", "g")


# ---------------------------------------------------------------- scales

@dataclasses.dataclass(frozen=True)
class Scale:
    """How big each experiment is. ``full`` is the CURRICULUM's; the others shrink it keeping the mechanism."""

    name: str
    model: str               # "convnet" (the course's) or "small" (SmallConvNet)
    train_images: int        # the experiments draw from the first N train images (50,000 = all)
    test_images: int         # accuracies on the first N test images
    rounds: int              # FedAvg rounds of 01-03 (100 in the course)
    malicious_rounds: int    # rounds of 04 (50 in the course)
    local_epochs: int        # per device and round (4)
    single_epochs: int       # 1.1's lone device (1000: ten times the rounds)
    num_devices: int = 50    # 01, 03, 04: 50 devices, 10 % of them per round, 10 % of the data each
    device_pct: float = 0.1
    data_pct: float = 0.1
    group_devices: int = 20  # 02: three groups of 20 devices
    group_items: int = 5000  # 02: images per device (a quarter of group 0's 20,000)
    last: int = 3            # a run's accuracy: the mean of its last `last` evaluations
    batch_size: int = 128

    def milestones(self, rounds):
        """The course's learning-rate drops (25, 50, 75 of 100) at the same fractions of ``rounds``."""
        return [max(1, round(rounds * m / 100)) for m in fedlab.devices.DEFAULT_MILESTONES]


SCALES = {
    "full": Scale("full", model="convnet", train_images=50000, test_images=10000, rounds=100,
                  malicious_rounds=50, local_epochs=4, single_epochs=1000),
    # a twentieth of the data (50 devices of 250 images), a small ConvNet, a quarter of the rounds, batches of 16 so
    # that 250 images still make 16 steps an epoch: about 6 CPU-minutes of each of two idle cores
    "reduced": Scale("reduced", model="small", train_images=2500, test_images=10000, rounds=25,
                     malicious_rounds=25, local_epochs=4, single_epochs=250, group_items=250, batch_size=16),
    # the reduced scale for a third of its rounds, on 2,000 test images: the tests' form of (b) (too short for (d))
    "tiny": Scale("tiny", model="small", train_images=2500, test_images=2000, rounds=8,
                  malicious_rounds=8, local_epochs=4, single_epochs=80, group_items=250, batch_size=16),
}


class SmallConvNet(nn.Module):
    """fedlab.ConvNet's kind (3x3 conv, BatchNorm, ReLU blocks; global pooling; a linear layer), 1/55 of its FLOPs."""

    BLOCKS = [(3, 16, 2), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)]

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(*[nn.Sequential(nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False),
                                                      nn.BatchNorm2d(o), nn.ReLU(inplace=True))
                                        for i, o, s in self.BLOCKS])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.BLOCKS[-1][1], num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def make_net(scale):
    return fedlab.ConvNet() if scale.model == "convnet" else SmallConvNet()


# ---------------------------------------------------------------- reference answers (what students write)

def iid_sampler(num_items, num_devices, data_pct):
    """01 §1.1: each device draws round(data_pct * num_items) distinct indices, independently of the others."""
    size = round(data_pct * num_items)
    return {d: random.sample(range(num_items), size) for d in range(num_devices)}


def get_devices_for_round(devices, device_pct):
    """01 §1.2: round(device_pct * len(devices)) distinct devices."""
    return random.sample(devices, round(device_pct * len(devices)))


def average_weights(devices):
    """01 §1.2: the float32 mean of the devices' state dicts, key by key."""
    states = [d["net"].state_dict() for d in devices]
    return OrderedDict((k, torch.stack([s[k].float() for s in states]).mean(0)) for k in states[0])


GROUP_CLASSES = {0: [0, 1, 2, 3], 1: [4, 5, 6], 2: [7, 8, 9]}


def noniid_group_sampler(labels, devices_per_group, num_items_per_device):
    """02 §2.1: devices of group g draw distinct indices of g's classes only."""
    parts = {}
    for g, classes in GROUP_CLASSES.items():
        pool = np.flatnonzero(np.isin(labels, classes))
        for d in range(g * devices_per_group, (g + 1) * devices_per_group):
            parts[d] = np.random.choice(pool, num_items_per_device, replace=False).tolist()
    return parts


def get_devices_for_round_group(devices, device_nums, devices_per_group):
    """02 §2.2: device_nums[g] distinct devices of group g."""
    chosen = []
    for g, num in enumerate(device_nums):
        chosen += random.sample(devices[g * devices_per_group:(g + 1) * devices_per_group], num)
    return chosen


def group_test_idxs(labels):
    """02 §2.3: the test indices of each group's classes."""
    return {g: np.flatnonzero(np.isin(labels, classes)).tolist() for g, classes in GROUP_CLASSES.items()}


def quantizer(x, nbit):
    """03 §3.1: values in [0, 1] to the nearest multiple of 1 / (2**nbit - 1)."""
    levels = 2 ** nbit - 1
    return torch.round(x * levels) / levels


def dorefa_g(w, nbit, adaptive_scale=None):
    """03 §3.2: stochastic DoReFa quantization of ``w``; returns (w_q, the scale used)."""
    scale = w.abs().max() if adaptive_scale is None else adaptive_scale
    noise = (torch.rand(w.shape, device=w.device) - 0.5) / (2 ** nbit - 1)
    return 2 * scale * (quantizer(w / (2 * scale) + 0.5 + noise, nbit) - 0.5), scale


@torch.no_grad()
def quantize_model(net, nbit):
    """03 (given): every Conv2d/Linear weight through dorefa_g, its bias with the weight's scale."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w_q, scale = dorefa_g(module.weight, nbit)
            module.weight.copy_(w_q)
            if module.bias is not None:
                module.bias.copy_(dorefa_g(module.bias, nbit, scale)[0])
    return net


MALICIOUS_STD = 0.5


@torch.no_grad()
def generate_fake_weights(device):
    """04 §4.1: every floating-point entry of the device's state dict replaced by N(0, 0.5) samples."""
    state = device["net"].state_dict()
    for value in state.values():
        if value.is_floating_point():
            value.normal_(0.0, MALICIOUS_STD)
    return device


def secure_average_weights(devices, epsilon=0.1):
    """04 §4.2: drop devices with a_i > mean(a) + epsilon, average the rest; also returns a_i and who was dropped."""
    w_avg = average_weights(devices)
    states = [d["net"].state_dict() for d in devices]
    keys = [k for k, v in states[0].items() if v.is_floating_point()]
    n = sum(states[0][k].numel() for k in keys)
    a = [math.sqrt(sum(float(((s[k].float() - w_avg[k]) ** 2).sum()) for k in keys) / n) for s in states]
    a_avg = sum(a) / len(a)
    flagged = [i for i, a_i in enumerate(a) if a_i > a_avg + epsilon]
    kept = [d for i, d in enumerate(devices) if i not in flagged]  # never all: some a_i <= their mean
    return average_weights(kept), a, flagged


def parallel_seeded_choice(array_list, seed, n):
    """05 Task 1: the same n distinct seeded positions of every array."""
    positions = np.random.default_rng(seed).choice(len(array_list[0]), size=n, replace=False)
    return [a[positions] for a in array_list]


def learning_rate_for_round(current_round, initial_learning_rate):
    """05 Task 3: the initial rate for rounds 1-20, a tenth for 21-40, a hundredth after."""
    if current_round <= 20:
        return float(initial_learning_rate)
    return initial_learning_rate / 10 if current_round <= 40 else initial_learning_rate / 100


class ReferenceClient(fedlab.live.Client):
    """05 Task 4: load the server's weights and round; validate on the test set."""

    def handle_message(self, message):
        keys = self.net.state_dict().keys()
        self.net.load_state_dict(OrderedDict((k, torch.as_tensor(w)) for k, w in zip(keys, message["weights"])))
        self.current_round = int(message["config"]["current_round"])

    def validate(self):
        return fedlab.evaluate(self.net, self.testset)[1]


# ---------------------------------------------------------------- the experiments

class Data:
    """The train pool and test images an experiment draws from (the first N of each split)."""

    def __init__(self, scale):
        self.trainset, self.testset = fedlab.load_cifar10()
        for what, n, have in (("train", scale.train_images, len(self.trainset)),
                              ("test", scale.test_images, len(self.testset))):
            if not 1 <= n <= have:
                raise ValueError(f"scale {scale.name!r}: {what}_images={n}, but the {what} split has {have}")
        self.train_labels = self.trainset.labels[:scale.train_images].numpy()
        self.test_idxs = list(range(scale.test_images))
        self.group_idxs = group_test_idxs(self.testset.labels[:scale.test_images].numpy())

    def accuracy(self, net):
        return fedlab.evaluate(net, self.testset, self.test_idxs)[1]

    def group_accuracy(self, net):
        return [fedlab.evaluate(net, self.testset, idxs)[1] for idxs in self.group_idxs.values()]


def federate(scale, devices, rounds, choose, measure, *, upload=None, aggregate=average_weights):
    """The course's FL round, ``rounds`` times: choose, train locally, upload, average, load, step, test.

    ``measure(net)`` runs on the global model in the last ``scale.last`` rounds; returns those results.
    """
    results = []
    for rnd in range(rounds):
        chosen = choose(devices)
        for device in chosen:
            for _ in range(scale.local_epochs):
                fedlab.train(rnd, device)
        if upload is not None:
            upload(chosen)
        w_avg = aggregate(chosen)
        for device in devices:
            device["net"].load_state_dict(w_avg)
            device["scheduler"].step()
        if rnd >= rounds - scale.last:
            results.append(measure(devices[0]["net"]))
    return results


def iid_devices(scale, data, seed, rounds):
    """01: 50 devices, 10 % of the pool each, from one seeded start."""
    fedlab.seed_everything(seed)
    parts = iid_sampler(scale.train_images, scale.num_devices, scale.data_pct)
    net = make_net(scale)
    return [fedlab.create_device(net, i, data.trainset, parts[i], milestones=scale.milestones(rounds),
                                 batch_size=scale.batch_size) for i in range(scale.num_devices)]


def run_iid(scale, data, seed, rounds, upload=None, aggregate=average_weights):
    """Mean test accuracy (%) of FedAvg on IID devices over the last rounds."""
    devices = iid_devices(scale, data, seed, rounds)
    accs = federate(scale, devices, rounds, lambda ds: get_devices_for_round(ds, scale.device_pct),
                    data.accuracy, upload=upload, aggregate=aggregate)
    return float(np.mean(accs))


def run_single(scale, data, seed):
    """01 §1.1: one device with 10 % of the pool trains alone for ``single_epochs`` epochs."""
    fedlab.seed_everything(seed)
    idxs = iid_sampler(scale.train_images, 1, scale.data_pct)[0]
    device = fedlab.create_device(make_net(scale), 0, data.trainset, idxs,
                                  milestones=scale.milestones(scale.single_epochs), batch_size=scale.batch_size)
    accs = []
    for epoch in range(scale.single_epochs):
        fedlab.train(epoch, device)
        device["scheduler"].step()
        if epoch >= scale.single_epochs - scale.last:
            accs.append(data.accuracy(device["net"]))
    return float(np.mean(accs))


def run_groups(scale, data, seed, device_nums):
    """02 §2.4: mean per-group test accuracy (%) of FedAvg choosing device_nums[g] devices of group g."""
    fedlab.seed_everything(seed)
    parts = noniid_group_sampler(data.train_labels, scale.group_devices, scale.group_items)
    net = make_net(scale)
    devices = [fedlab.create_device(net, i, data.trainset, parts[i], milestones=scale.milestones(scale.rounds),
                                    batch_size=scale.batch_size) for i in range(3 * scale.group_devices)]
    accs = federate(scale, devices, scale.rounds,
                    lambda ds: get_devices_for_round_group(ds, device_nums, scale.group_devices),
                    data.group_accuracy)
    return [float(a) for a in np.mean(accs, axis=0)]


def upload_quantized(nbit, seed):
    """3.3's upload: every chosen device quantizes its model to ``nbit`` bits (32: unchanged).

    The dither comes from its own seeded stream and leaves torch's stream as it was, so runs of
    every bit width draw the same data order and devices: they differ by the upload's precision.
    """
    stream = np.random.default_rng(seed)

    def upload(chosen):
        with torch.random.fork_rng():
            torch.manual_seed(int(stream.integers(2 ** 62)))
            if nbit < 32:
                for device in chosen:
                    quantize_model(device["net"], nbit)
    return upload


# ---------------------------------------------------------------- the runs the claims compare

class AttackLog:
    """04: one device of each round sends N(0, 0.5) weights; the aggregation keeps every round's a_i and flags.

    ``epsilon=None`` averages plainly (4.1) and only records whom each epsilon in ``also`` would flag;
    a number runs secure_average_weights with it (4.2). ``rounds`` is plain data (a worker sends it back).
    """

    def __init__(self, epsilon=None, also=()):
        self.epsilon, self.also, self.rounds = epsilon, also, []

    def upload(self, chosen):
        attacker = random.choice(chosen)  # seeded, like get_malicious_devices in the notebook
        self.bad = next(i for i, d in enumerate(chosen) if d is attacker)
        generate_fake_weights(attacker)

    def aggregate(self, chosen):
        secure, a, flagged = secure_average_weights(chosen, 0.0 if self.epsilon is None else self.epsilon)
        a_avg = sum(a) / len(a)
        self.rounds.append({"a": a, "bad": self.bad, "flagged": flagged if self.epsilon is not None else [],
                            "would_flag": {eps: [i for i, x in enumerate(a) if x > a_avg + eps] for eps in self.also}})
        return average_weights(chosen) if self.epsilon is None else secure



def caught(rounds):
    """Share of an attack run's rounds in which exactly the Gaussian device was flagged."""
    return float(np.mean([r["flagged"] == [r["bad"]] for r in rounds]))


def a_summary(rounds):
    honest = [x for r in rounds for i, x in enumerate(r["a"]) if i != r["bad"]]
    bad = [r["a"][r["bad"]] for r in rounds]
    avg = [sum(r["a"]) / len(r["a"]) for r in rounds]
    return (f"a_i honest {np.mean(honest):.3f} (max {max(honest):.3f}), Gaussian {np.mean(bad):.3f} "
            f"(min {min(bad):.3f}), a_avg {np.mean(avg):.3f}")


def print_rounds(rounds, label):
    for k, r in enumerate(rounds):
        print(f"    {label} round {k + 1}: a_i {' '.join(f'{x:.3f}' for x in r['a'])}; Gaussian device "
              f"#{r['bad']}; flagged {r['flagged']}; would flag {r['would_flag']}")


# 03's claim compares bit widths on this many seeds (seed, seed + 1, ...): one run's accuracy moves by about a
# point with its random draws alone, as much as 4-bit uploads cost at the reduced scale
QUANTIZATION_SEEDS = 3


class Runs:
    """Every training run the claims compare, by key, each run once (claims share some).

    Keys: ("fedavg", rounds, nbit, seed) FedAvg over IID devices with nbit-bit uploads (32: plain);
    ("single",) the lone device of 1.1; ("groups", device_nums) 2.4; ("attack", epsilon) 04 with a
    Gaussian device each round, epsilon None for plain averaging. ``prefetch`` runs many at once.
    """

    def __init__(self, scale, data, seed):
        self.scale, self.data, self.seed = scale, data, seed
        self.done = {}

    def get(self, key):
        if key not in self.done:
            self.done[key] = self.run(key)
        return self.done[key]

    def run(self, key):
        s, data = self.scale, self.data
        kind, *args = key
        if kind == "fedavg":
            rounds, nbit, seed = args
            return run_iid(s, data, seed, rounds, upload=upload_quantized(nbit, seed) if nbit < 32 else None)
        if kind == "single":
            return run_single(s, data, self.seed)
        if kind == "groups":
            return run_groups(s, data, self.seed, list(args[0]))
        if kind == "attack":
            log = AttackLog(args[0], also=() if args[0] is not None else (0.3,))
            acc = run_iid(s, data, self.seed, s.malicious_rounds, upload=log.upload, aggregate=log.aggregate)
            return acc, log.rounds
        raise ValueError(f"no run of kind {kind!r}")

    def cost(self, key):
        """Images trained on: orders runs longest first over the workers."""
        s, kind = self.scale, key[0]
        per_device = round(s.data_pct * s.train_images)
        per_round = round(s.device_pct * s.num_devices) * s.local_epochs * per_device
        if kind == "fedavg":
            return key[1] * per_round
        if kind == "attack":
            return s.malicious_rounds * per_round
        if kind == "groups":
            return s.rounds * sum(key[1]) * s.local_epochs * s.group_items
        return s.single_epochs * per_device

    def prefetch(self, keys, workers=1):
        """Run ``keys`` not yet done, in up to ``workers`` forked processes, printing each as it ends.

        The workers are forked after the data is loaded, so they share it; each run seeds itself, so
        a worker's result is the one this process would get.
        """
        todo = sorted(dict.fromkeys(k for k in keys if k not in self.done), key=self.cost, reverse=True)
        if workers == 1 or len(todo) < 2:
            for key in todo:
                t = time.perf_counter()
                self.done[key] = self.run(key)
                _report(key, self.done[key], time.perf_counter() - t)
            return
        context = multiprocessing.get_context("fork")
        tasks, results = context.Queue(), context.Queue()
        for key in todo + [None] * workers:
            tasks.put(key)
        procs = [context.Process(target=_worker, args=(self, tasks, results)) for _ in range(workers)]
        for proc in procs:
            proc.start()
        finished = False
        try:
            for _ in todo:
                while True:
                    try:
                        key, result, seconds = results.get(timeout=5)
                        break
                    except queue.Empty:
                        if not any(proc.is_alive() for proc in procs):
                            raise RuntimeError("the claims workers ended without their runs (see above)") from None
                if key == "error":
                    raise RuntimeError("a claims run failed in its worker:\n" + result)
                self.done[key] = result
                _report(key, result, seconds)
            finished = True
        finally:
            for proc in procs:
                if not finished:  # a run failed: the others' results would not be used
                    proc.terminate()
                proc.join()


def _worker(runs, tasks, results):
    for key in iter(tasks.get, None):
        try:
            t = time.perf_counter()
            results.put((key, runs.run(key), time.perf_counter() - t))
        except BaseException:
            results.put(("error", f"run {key}: " + traceback.format_exc(), 0.0))
            return


def _report(key, result, seconds):
    value = result[0] if key[0] == "attack" else result
    shown = "/".join(f"{v:.1f}" for v in value) if isinstance(value, list) else f"{value:.1f}"
    print(f"  run {' '.join(str(k) for k in key)}: {shown} % [{seconds:.0f} s]", flush=True)


# ---------------------------------------------------------------- the claims

@dataclasses.dataclass
class Row:
    claim: str
    what: str
    numbers: str
    relation: str
    holds: bool


def quantization_keys(runs):
    return [("fedavg", runs.scale.rounds, nbit, runs.seed + k) for k in range(QUANTIZATION_SEEDS)
            for nbit in (32, 16, 4)]


# the runs each claim compares, in the order its function reads them; (f) and (g) train nothing. The honest run
# (32-bit uploads, no attacker) is 1.3's, the 32-bit line of 3.3 and 04's honest line.
NEEDS = {
    "a": lambda runs: [("single",), ("fedavg", runs.scale.rounds, 32, runs.seed)],
    "b": lambda runs: [("groups", (1, 1, 1)), ("groups", (5, 1, 1))],
    "c": quantization_keys,
    "d": lambda runs: [("fedavg", runs.scale.malicious_rounds, 32, runs.seed), ("attack", None)],
    "e": lambda runs: NEEDS["d"](runs) + [("attack", 0.1)],
    "f": lambda runs: [],
    "g": lambda runs: [],
}


def claim_a(runs):
    single, fedavg = map(runs.get, NEEDS["a"](runs))
    margin = 5.0
    return Row("a", "01: one device with 10 % vs FedAvg over 50 IID devices",
               f"one device {single:.1f} %, FedAvg {fedavg:.1f} %",
               f"FedAvg >= one device + {margin:g}", fedavg >= single + margin)


def claim_b(runs):
    fair, unfair = map(runs.get, NEEDS["b"](runs))
    margin = 2.0
    holds = unfair[0] >= fair[0] + margin and all(unfair[g] <= fair[g] - margin for g in (1, 2))
    show = lambda accs: "/".join(f"{a:.1f}" for a in accs)  # noqa: E731
    return Row("b", "02: unfair [5, 1, 1] vs fair [1, 1, 1], accuracy of groups 0/1/2",
               f"fair {show(fair)} %, unfair {show(unfair)} %",
               f"group 0 up >= {margin:g}, groups 1 and 2 down >= {margin:g}", holds)


def claim_c(runs):
    """Paired runs (same data order and devices per seed), so the bit widths differ by their uploads only."""
    accs = {nbit: [runs.get(key) for key in quantization_keys(runs) if key[2] == nbit] for nbit in (32, 16, 4)}
    mean = {nbit: float(np.mean(a)) for nbit, a in accs.items()}
    noise = 1.0  # a seed-mean moves by well under this with the random draws alone (16- vs 32-bit)
    holds = abs(mean[16] - mean[32]) <= noise and mean[4] <= min(mean[16], mean[32]) - noise
    seeds = f"{runs.seed}-{runs.seed + QUANTIZATION_SEEDS - 1}"
    per_seed = ", ".join("/".join(f"{accs[b][k]:.1f}" for b in (32, 16, 4)) for k in range(QUANTIZATION_SEEDS))
    return Row("c", f"03: uploads quantized to 32 / 16 / 4 bits, mean of seeds {seeds}",
               f"32-bit {mean[32]:.1f} %, 16-bit {mean[16]:.1f} %, 4-bit {mean[4]:.1f} % (per seed 32/16/4: "
               f"{per_seed})", f"|16 - 32| <= {noise:g}, 4 <= min(16, 32) - {noise:g}", holds)


def claim_d(runs):
    honest, (plain, _) = map(runs.get, NEEDS["d"](runs))
    margin = 20.0
    return Row("d", "04: one of five devices sends N(0, 0.5) weights, plain averaging",
               f"honest {honest:.1f} %, with the Gaussian device {plain:.1f} %",
               f"with it <= honest - {margin:g}", plain <= honest - margin)


def claim_e(runs, verbose=False):
    honest, (plain, plain_rounds), (secure, secure_rounds) = map(runs.get, NEEDS["e"](runs))
    if verbose:
        print_rounds(secure_rounds, "eps 0.1")
        print_rounds(plain_rounds, "plain")
    share = caught(secure_rounds)
    # where epsilon 0.3 flags nobody, its secure average is the plain average: the plain run is its run
    flags03 = sum(len(r["would_flag"][0.3]) for r in plain_rounds)
    recovered = (secure - plain) / (honest - plain) if honest > plain else float("nan")
    holds = share >= 0.9 and recovered >= 0.8 and flags03 == 0
    return Row("e", "04: secure averaging, epsilon 0.1 and 0.3",
               f"eps 0.1: {secure:.1f} % (honest {honest:.1f}, plain {plain:.1f}: {recovered:.0%} recovered), "
               f"flags exactly the Gaussian device in {share:.0%} of {len(secure_rounds)} rounds, "
               f"{a_summary(secure_rounds)}; eps 0.3: {flags03} flags in {len(plain_rounds)} rounds of the plain run, "
               f"{a_summary(plain_rounds)}",
               "eps 0.1 catches it in >= 90 % of rounds and recovers >= 80 %; eps 0.3 flags nobody", holds)


def claim_f(runs):
    """05 Task 1: k clients holding a seeded fraction f each cover 1 - (1 - f)^k of the data."""
    size = len(runs.data.trainset)
    worst, needed = 0.0, {}
    for parts in (2, 3, 4):
        held = np.zeros(size, dtype=bool)
        needed[parts] = None
        for k in range(1, 9):
            held[parallel_seeded_choice([np.arange(size)], runs.seed + k, size // parts)[0]] = True
            expected = 1 - (1 - 1 / parts) ** k
            worst = max(worst, abs(held.mean() - expected))
            if needed[parts] is None and held.mean() >= 0.8:
                needed[parts] = k
    tolerance = 0.01
    holds = worst <= tolerance and [needed[p] for p in (2, 3, 4)] == [3, 4, 6]
    return Row("f", "05: coverage of k seeded clients holding 1/2, 1/3, 1/4 each (k = 1..8)",
               f"largest gap to 1 - (1 - f)^k: {worst:.4f}; clients for 80 %: "
               f"{needed[2]} / {needed[3]} / {needed[4]}",
               f"gap <= {tolerance:g}; 3 / 4 / 6 clients", holds)


def claim_g(runs):
    """05 Task 3: the learning rate a live client trains with drops tenfold at rounds 21 and 41."""
    train100, test100 = fedlab.load_cifar100()
    tiny = lambda ds: fedlab.ImageSet(ds.data[:16], ds.labels[:16], name="tiny", source=ds.source,  # noqa: E731
                                      mean=ds.mean, std=ds.std, pad_mode=ds.pad_mode)
    used = []
    with tempfile.TemporaryDirectory() as save_dir:
        client = ReferenceClient(tiny(train100), tiny(test100), learning_rate_for_round, runs.seed,
                                 local_epochs=1, save_dir=save_dir)
        for rnd in range(1, 51):
            message = {"weights": client.weights(), "config": {"current_round": rnd}}
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                client.train_round(message)  # its per-round line; the table is this output
            used.append(client.history[-1]["learning_rate"])
    drops = [r for r in range(2, 51) if used[r - 1] < used[r - 2]]
    initial = fedlab.live.client.INITIAL_LEARNING_RATE
    expected = [initial] * 20 + [initial / 10] * 20 + [initial / 100] * 10
    holds = drops == [21, 41] and np.allclose(used, expected, rtol=1e-12)
    return Row("g", "05: learning rate a live client trains with, rounds 1-50",
               f"drops at rounds {drops}; {used[0]:g} -> {used[20]:g} -> {used[40]:g}",
               "drops tenfold at rounds 21 and 41", holds)


RUNS = {"a": claim_a, "b": claim_b, "c": claim_c, "d": claim_d, "e": claim_e, "f": claim_f, "g": claim_g}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="reduced",
                        help="reduced (default: CPU minutes), tiny (the tests' form of b) or full "
                             "(the course's budgets, a GPU)")
    parser.add_argument("--only", default=",".join(CLAIMS), type=_claims,
                        help="which claims, e.g. a,c (default: all of a-g)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (default 1: small steps gain little from more, and a shared "
                             "machine loses much)")
    parser.add_argument("--workers", type=_positive, default=2,
                        help="processes running the claims' training runs at once, one torch thread each by default "
                             "(default 2, the course machine's cores; 1 runs them in order)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round's a_i of claim (e)")
    return parser.parse_args(argv)


def _positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of processes, 1 or more, e.g. --workers 2")
    return int(text)


def _claims(text):
    picked = [c.strip().lower() for c in text.replace(",", " ").split()]
    unknown = [c for c in picked if c not in CLAIMS]
    if unknown or not picked:
        raise argparse.ArgumentTypeError(f"{text!r}: name claims among {', '.join(CLAIMS)}, e.g. --only a,c")
    return sorted(set(picked))


def run_claims(runs, claims, workers=1, verbose=False):
    """The rows of ``claims``: their runs first (in ``workers`` processes), then each row, printed as it ends."""
    runs.prefetch([key for claim in claims for key in NEEDS[claim](runs)], workers)
    rows = []
    for claim in claims:
        row = RUNS[claim](runs, verbose) if claim == "e" else RUNS[claim](runs)
        rows.append(row)
        print(f"({row.claim}) {'holds' if row.holds else 'FAILS'} {row.what}: {row.numbers}; "
              f"expected {row.relation}", flush=True)
    return rows


def main(argv=None):
    args = parse_args(argv)
    scale = SCALES[args.scale]
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    data = Data(scale)
    print(f"scale {scale.name}: {scale}; data {data.trainset.name} ({data.trainset.source}); "
          f"compute device {fedlab.compute_device()}; seed {args.seed}; {args.workers} worker(s) of "
          f"{args.threads} thread(s)", flush=True)
    rows = run_claims(Runs(scale, data, args.seed), args.only, args.workers, args.verbose)
    failed = [r.claim for r in rows if not r.holds]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} claims hold"
          f"{'; failing: ' + ', '.join(failed) if failed else ''}; wall time {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
