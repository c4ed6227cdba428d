"""Checks for assignment 05: seeded partitions, the learning-rate schedule and the live client.

Fixed values from the course (numpy's ``default_rng(42)`` picks) and properties; the client
check runs the student's class against a real server on 127.0.0.1 and compares what it
loaded and measured with the models that server saved.
"""
import contextlib
import io
import math
import numbers
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..augment import CIFAR100_MEAN, CIFAR100_STD
from ._kit import call, fail, passed

__all__ = ["check_parallel_seeded_choice", "check_partition_dataset", "check_learning_rate_schedule",
           "check_client"]

PICKS_10 = [8, 9, 7, 4, 6, 2, 0, 3]  # default_rng(42).choice(10, size=8, replace=False)
PICKS_30 = [1, 2, 11, 22, 4, 29, 21, 20, 8, 18, 19, 25, 13, 16, 26]  # default_rng(42).choice(30, size=15, ...)


def _as_list(x):
    return np.asarray(x).tolist()


def check_parallel_seeded_choice(fn):
    """``fn(array_list, seed, n)`` picks the same n positions of every array, as ``default_rng(seed)`` chooses."""
    task = "parallel_seeded_choice"
    for count in (1, 2, 3):
        arrays = [np.arange(10) for _ in range(count)]
        used = f"array_list=[np.arange(10)] * {count}, seed=42, n=8"
        out = call(task, fn, used, arrays, 42, 8)
        if not isinstance(out, (list, tuple)) or len(out) != count:
            fail(task, used, f"a list of {count} arrays (one per input array)", repr(out)[:200])
        for got in out:
            if _as_list(got) != PICKS_10:
                fail(task, used, f"every array equal to {PICKS_10}", _as_list(got),
                     "choose the positions once with np.random.default_rng(seed).choice(len, size=n, replace=False)")
    used = "array_list=[np.arange(30), np.arange(30) * 10], seed=42, n=15"
    out = call(task, fn, used, [np.arange(30), np.arange(30) * 10], 42, 15)
    if _as_list(out[0]) != PICKS_30 or _as_list(out[1]) != [10 * p for p in PICKS_30]:
        fail(task, used, f"{PICKS_30} and ten times it", [_as_list(o) for o in out])
    rows = np.arange(20).reshape(10, 2)
    used = "array_list=[np.arange(20).reshape(10, 2), np.arange(10)], seed=42, n=8 (rows of a 2-D array)"
    images, labels = call(task, fn, used, [rows, np.arange(10)], 42, 8)
    if _as_list(images) != rows[PICKS_10].tolist() or _as_list(labels) != PICKS_10:
        fail(task, used, f"rows {PICKS_10} of the first array and the same positions of the second",
             [_as_list(images), _as_list(labels)], "index every array at the same positions (its first axis)")
    again = call(task, fn, "the first input again", [np.arange(10)], 42, 8)
    if _as_list(again[0]) != PICKS_10:
        fail(task, "the first input again", PICKS_10, _as_list(again[0]),
             "make a new generator from the seed in every call, so the same seed gives the same picks")
    passed(task, "seed 42 picks [8, 9, 7, 4, 6, 2, 0, 3] of 10 and the same positions in every array")


def _coded_set(size, source="check"):
    """``size`` images where image i is filled with i, labelled ``(7 * i) % 100``: a pick shows its position."""
    from ..data import ImageSet
    data = torch.arange(size, dtype=torch.uint8).view(size, 1, 1, 1).expand(size, 3, 32, 32).contiguous()
    return ImageSet(data, [(7 * i) % 100 for i in range(size)], name="coded", source=source,
                    mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def check_partition_dataset(fn):
    """``fn(dataset, train, seed)``: half the train images and their labels, one seeded pick; the test set whole."""
    from ..data import ImageSet
    task = "partition_dataset"
    dataset = _coded_set(30)
    for train in (True, False):
        used = f"a 30-image ImageSet whose image i is all i with label (7*i) % 100, train={train}, seed=42"
        part = call(task, fn, used, dataset, train, 42)
        if not isinstance(part, ImageSet):
            fail(task, used, "a fedlab.ImageSet", type(part).__name__,
                 "build it with fedlab.ImageSet(images, labels, name=..., source=..., mean=..., std=..., pad_mode=...)")
        data = part.data
        if not torch.is_tensor(data) or data.dtype != torch.uint8 or tuple(data.shape[1:]) != (3, 32, 32):
            fail(task, used, "images as a uint8 torch tensor of shape (N, 3, 32, 32)",
                 f"{type(data).__name__} {getattr(data, 'dtype', '')} {tuple(getattr(data, 'shape', ()))}",
                 "keep dataset.data as it is (a tensor) or wrap numpy arrays with torch.as_tensor")
        positions = PICKS_30 if train else list(range(30))
        got_positions = part.data[:, 0, 0, 0].tolist()
        if got_positions != positions:
            fail(task, used, f"the images at positions {positions}", got_positions,
                 "train: one parallel_seeded_choice([images, labels], seed, len // 2) call; test: every image, "
                 "in order" if train else "the test split keeps all its images, in order")
        labels = part.labels.tolist()
        if labels != [(7 * p) % 100 for p in positions]:
            fail(task, used, f"each image with its own label: {[(7 * p) % 100 for p in positions]}", labels,
                 "pick images and labels in the same call so they stay paired")
        if not (np.allclose(part.mean, CIFAR100_MEAN) and np.allclose(part.std, CIFAR100_STD)):
            fail(task, used, f"CIFAR-100 normalization mean {CIFAR100_MEAN}, std {CIFAR100_STD}",
                 f"mean {part.mean}, std {part.std}")
        if part.pad_mode != "reflect":
            fail(task, used, "pad_mode='reflect' (crops of 4-pixel reflect-padded images, with random flips)",
                 repr(part.pad_mode))
    passed(task, "train keeps the 15 images seed 42 picks of 30, with their labels; test keeps all; "
                 "CIFAR-100 normalization, reflect-padded crops")


def check_learning_rate_schedule(fn):
    """``fn(current_round, initial_learning_rate)``: the rate for rounds 1-20, a tenth for 21-40, a hundredth after."""
    task = "learning_rate_for_round"
    for initial in (0.01, 0.1):
        expected = [initial] * 20 + [initial / 10] * 20 + [initial / 100] * 10
        used = f"current_round = 1 .. 50, initial_learning_rate={initial}"
        got = [call(task, fn, f"current_round={r}, initial_learning_rate={initial}", r, initial) for r in range(1, 51)]
        bad = [r for r, g in enumerate(got, 1) if not isinstance(g, numbers.Real) or isinstance(g, bool)]
        if bad:
            fail(task, used, "a float for every round", f"{got[bad[0] - 1]!r} for round {bad[0]}")
        wrong = [r for r, (g, e) in enumerate(zip(got, expected), 1) if not math.isclose(g, e, rel_tol=1e-9)]
        if wrong:
            r = wrong[0]
            fail(task, used, f"[{initial}] * 20 + [{initial / 10:g}] * 20 + [{initial / 100:g}] * 10",
                 f"{got[r - 1]!r} for round {r} (first of {len(wrong)} wrong rounds)",
                 "rounds count from 1: round 20 still has the initial rate, round 21 a tenth of it")
    late = call(task, fn, "current_round=100, initial_learning_rate=0.1", 100, 0.1)
    if not math.isclose(late, 0.001, rel_tol=1e-9):
        fail(task, "current_round=100, initial_learning_rate=0.1", 0.001, late,
             "from round 41 on the rate stays at a hundredth of the initial rate")
    passed(task, "initial 0.01 gives [0.01]*20 + [0.001]*20 + [0.0001]*10 for rounds 1..50")


def check_client(client_class, rounds=1, seed=7):
    """Run ``client_class`` against a real server on 127.0.0.1 for ``rounds`` rounds, one visit each.

    After handle_message, the client's net must hold exactly the weights that server saved for
    the round and ``current_round`` must be the round it sent; ``validate()`` must give the
    accuracy (%) of that model on the client's test set, which is built so that the first
    round's model classifies exactly half of it correctly.
    """
    from .. import compute_device, evaluate, load_cifar100, resnet20
    from ..live import Client, join
    from ..live.federation import ServerProcess

    task = "your client (handle_message + validate)"
    if not (isinstance(client_class, type) and issubclass(client_class, Client)):
        fail(task, "client_class", "a subclass of fedlab.live.Client", repr(client_class),
             "pass the class itself (e.g. MyClient), not an instance")
    seen = []

    class Probe(client_class):
        """Notes the net and round right after the student's handle_message (the check's only addition)."""

        def handle_message(self, message):
            super().handle_message(message)
            seen.append({"round": self.current_round,
                         "state": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}})

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):  # one PASSED line only
        server = ServerProcess(rounds=rounds, min_clients=1, save=Path(tmp) / "server", seed=seed,
                               target_accuracy=1.0, echo=False).start()
        try:  # while the server starts (a new Python, 3-4 s): the data and a message outside any server
            _, cifar100_test = load_cifar100()
            some = _images(cifar100_test, slice(0, 64), cifar100_test.labels[:64])
            _check_one_message(task, client_class, some, some, resnet20, seed, Path(tmp) / "clients")
        except BaseException:
            server.stop()
            raise
        with server:
            first = torch.load(server.save / "round_000.pt", weights_only=True)
            trainset, testset = _probe_sets(cifar100_test, resnet20, first)
            client = Probe(trainset, testset, lambda current_round, lr: lr, seed + 1, local_epochs=0,
                           save_dir=Path(tmp) / "clients")
            for _ in range(rounds):
                call(task, join, f"a real server at {server.address}, round {len(seen) + 1}", client, server.address)
            server.wait(30)
        for rnd, (note, record) in enumerate(zip(seen, client.history), 1):
            used = f"the message of round {rnd} from a real server (fedlab.live serve --seed {seed})"
            sent = torch.load(server.save / f"round_{rnd - 1:03d}.pt", weights_only=True)
            _check_loaded(task, used, note["state"], sent)
            if note["round"] != rnd:
                fail(task, used, f"self.current_round == {rnd} (message['config']['current_round'])",
                     repr(note["round"]))
            net = resnet20(100).to(compute_device())  # where the client computes, so ties break alike
            net.load_state_dict(sent)
            expected = evaluate(net, testset)[1]
            if not abs(record["accuracy"] - expected) <= 100 / len(testset) + 1e-6:  # one image's worth of slack
                fail(task, used, f"validate() == {expected:.2f} (accuracy in %, of the model the server sent, "
                     f"on self.testset)", record["accuracy"],
                     "evaluate self.net after loading the message, on self.testset, as a percentage "
                     "(fedlab.evaluate returns (loss, accuracy %))")
    passed(task, f"loaded every entry and the round of a message with BatchNorm statistics and of {rounds} real "
                 f"server message{'s' if rounds > 1 else ''}, and validated the model on its test set")


def _probe_sets(testset, resnet20, first):
    """A train set the first global model gets all wrong, a 64-image test set it gets exactly half right."""
    net = resnet20(100)
    net.load_state_dict(first)
    net.eval()
    x, _ = testset.batch(torch.arange(128), "cpu")
    with torch.no_grad():
        predicted = net(x).argmax(1)
    wrong = (predicted + 1) % 100
    test_labels = torch.where(torch.arange(64) % 2 == 0, predicted[:64], wrong[:64])  # right on every other image
    return _images(testset, slice(64, 128), wrong[64:]), _images(testset, slice(0, 64), test_labels)


def _images(testset, part, labels):
    """The images ``part`` of ``testset`` with the given labels, normalized and padded as the set is."""
    from ..data import ImageSet
    return ImageSet(testset.data[part], labels, name="check", source=testset.source, mean=testset.mean,
                    std=testset.std, pad_mode=testset.pad_mode)


def _check_one_message(task, client_class, trainset, testset, resnet20, seed, save_dir):
    """handle_message on a round-9 message with non-default BatchNorm buffers, outside any server."""
    with torch.random.fork_rng():
        torch.manual_seed(seed + 2)
        net = resnet20(100)
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(17)
    sent = net.state_dict()
    used = ("handle_message({'weights': a ResNet-20's state_dict() values as numpy arrays, whose BatchNorm running "
            "statistics are random and num_batches_tracked is 17, 'config': {'current_round': 9}})")
    client = call(task, client_class, "client_class(trainset, testset, schedule, seed)", trainset, testset,
                  lambda current_round, lr: lr, seed + 2, local_epochs=0, save_dir=save_dir)
    own = client.net
    call(task, client.handle_message, used,
         {"weights": [v.numpy().copy() for v in sent.values()], "config": {"current_round": 9}})
    if client.net is not own:
        fail(task, used, "the weights loaded into the client's own self.net", "self.net is a new network",
             "load them with self.net.load_state_dict(...); fedlab trains and sends back the net the client was "
             "made with, so a new network assigned to self.net never trains")
    _check_loaded(task, used, {k: v.detach().cpu() for k, v in client.net.state_dict().items()}, sent)
    if client.current_round != 9:
        fail(task, used, "self.current_round == 9 (message['config']['current_round'])", repr(client.current_round))


def _check_loaded(task, used, state, sent):
    if list(state) != list(sent):
        fail(task, used, "the net's state_dict keys unchanged", list(state)[:3])
    for key, value in sent.items():
        if not torch.equal(state[key].to(value.dtype), value):
            diff = (state[key].double() - value.double()).abs().max().item()
            fail(task, used, "after handle_message, self.net holds every entry the server sent (buffers too)",
                 f"'{key}' differs from them (largest difference {diff:.3g})",
                 "zip self.net.state_dict() keys (parameters and buffers) with message['weights'] (same order), "
                 "make tensors, and load them with self.net.load_state_dict(...), strict as it is by default")
