"""The shared kit of the checks: how a check speaks, the inputs it feeds, and helpers several assignments use.

A check passes with one ``PASSED`` line on stdout, or raises an AssertionError that teaches: the input it
used, what it expected, what came back (so the student can reproduce the case). Nothing goes to stderr
(nbgrader zeroes cells that write there). Inputs are small and fixed; a :class:`LabelSet` looks like the
course's data sets without holding images, so a check on 50,000 labels costs nothing and can refuse
``dataset[i]`` to prove that a sampler reads labels. Assignment modules import from here, never from each other.
"""
import contextlib
import numbers
import random

import numpy as np
import torch

from ..devices import create_device


def fail(task: str, used: str, expected, got, hint: str = "") -> None:
    """Raise the teaching AssertionError for ``task``."""
    lines = [f"{task} is not right yet.", f"  input used: {used}", f"  expected:   {expected}", f"  got:        {got}"]
    if hint:
        lines.append(f"  hint:       {hint}")
    raise AssertionError("\n".join(lines))


def passed(task: str, what: str) -> None:
    """Print the one success line of a check."""
    print(f"PASSED {task}: {what}")


def call(task: str, fn, used: str, *args, **kwargs):
    """Call the student's ``fn``; an exception inside it becomes a teaching failure that names the input."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # the student's code raised: report it with the input that triggered it
        raise AssertionError(f"{task} raised {type(err).__name__}: {err}\n  input used: {used}") from err


NO_IMAGES = ("this check's data set holds labels only: read them from dataset.targets "
             "instead of loading every image with dataset[i]")


class LabelSet:
    """A data set of labels only, indexable like :class:`fedlab.ImageSet` unless ``images=False``."""

    def __init__(self, targets, images=True):
        self.labels = torch.as_tensor(targets, dtype=torch.int64)
        self.targets = self.labels.tolist()
        # a blank uint8 image per label, without the memory (every image is a view of one pixel)
        self.data = torch.zeros(1, 1, 1, 1, dtype=torch.uint8).expand(len(self.targets), 3, 32, 32)
        self.images = images

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        if not self.images:
            raise RuntimeError(NO_IMAGES)
        return torch.zeros(3, 32, 32), self.targets[i]

    def __repr__(self):
        return f"a data set of {len(self)} labels"


def balanced_labels(per_class: int, num_classes: int = 10, seed: int = 0) -> list:
    """``per_class`` labels of each class in a fixed shuffled order (CIFAR-10 has 5000 / 1000 per class)."""
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))].tolist()


@contextlib.contextmanager
def seeded(seed: int):
    """Seed Python, numpy and torch for a check, then put the student's generators back as they were.

    A check then passes or fails the same way on every run, and does not shift the random
    numbers of the student's later experiments.
    """
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def as_indices(task, used, idxs):
    """The student's index collection (list, array, tensor, set) as a list of ints, or a teaching failure."""
    if _read_once(idxs):
        fail(task, used, "a list of int indices", f"{type(idxs).__name__}, {READ_ONCE}", hint="wrap it in list(...)")
    try:
        return [int(i) for i in (idxs.tolist() if hasattr(idxs, "tolist") else idxs)]
    except (TypeError, ValueError) as err:
        fail(task, used, "a list of int indices", f"{type(idxs).__name__} ({err})")


READ_ONCE = "an iterator that can be read only once"


def _read_once(value):
    """True for generators, map objects and other iterators: a second pass over them finds nothing."""
    return hasattr(value, "__next__") or (hasattr(value, "__iter__") and iter(value) is value)


def partition_of(task, used, result, num_devices, size, dataset_len):
    """``result`` maps ids 0..num_devices-1 to ``size`` distinct indices into the data set; returns it as lists."""
    if not isinstance(result, dict):
        fail(task, used, "a dict {device_id: [indices]}", type(result).__name__)
    if not all(isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in result) \
            or sorted(int(k) for k in result) != list(range(num_devices)):
        keys = sorted(result, key=str)
        fail(task, used, f"the int device ids 0..{num_devices - 1} as keys",
             f"{len(keys)} keys: {keys[:5]}{' ...' if len(keys) > 5 else ''}")
    parts = {d: as_indices(task, used, idxs) for d, idxs in result.items()}
    for d, idxs in parts.items():
        if len(idxs) != size:
            fail(task, used, f"{size} indices for every device", f"device {d} has {len(idxs)}")
        if len(set(idxs)) != size:
            fail(task, used, f"{size} distinct indices for every device",
                 f"device {d} has {size - len(set(idxs))} repeated indices",
                 hint="draw without replacement within one device")
        if idxs and (min(idxs) < 0 or max(idxs) >= dataset_len):
            fail(task, used, f"indices in 0..{dataset_len - 1}", f"device {d} has index {max(idxs)}")
    return parts


def repeatable(task, used, fn, *args):
    """``fn(*args)`` twice, each after the same seeding (as ``fedlab.seed_everything(7)``): it must give the same.

    A sampler that makes its own unseeded generator (``np.random.default_rng()``) fails here: the
    notebook's experiments must repeat from one ``seed_everything`` call. Returns the first result.
    """
    results = []
    for _ in range(2):
        with seeded(7):
            results.append(call(task, fn, used, *args))
    first, second = (_comparable(r) for r in results)
    if first != second:
        fail(task, f"{used}, twice, each time after fedlab.seed_everything(7)", "the same result both times",
             "two different results",
             hint="draw with Python's random, np.random.* or torch, which fedlab.seed_everything seeds; "
                  "a generator made with np.random.default_rng() (no seed) is not seeded by it")
    return results[0]


def _comparable(result):
    """A result as plain nested lists and ids, to compare two runs of a student's function."""
    if isinstance(result, dict):
        return sorted(((str(k), _comparable(v)) for k, v in result.items()), key=lambda kv: kv[0])
    if hasattr(result, "tolist"):
        return result.tolist()
    if isinstance(result, (list, tuple)):
        return [d["id"] if isinstance(d, dict) and "id" in d else _comparable(d) for d in result]
    return result


def labels_unchanged(task, used, data, targets):
    """The data set still holds ``targets`` as its labels: a sampler must not sort or replace them."""
    now = data.targets.tolist() if hasattr(data.targets, "tolist") else list(data.targets)
    if now != targets or data.labels.tolist() != targets:
        fail(task, used, "the data set left as it was (dataset.targets and dataset.labels unchanged)",
             "its labels were changed, replaced or reordered",
             hint="work on a copy: labels = np.array(dataset.targets) or list(dataset.targets)")


def list_unchanged(task, used, given, before):
    """The caller's device list still holds the same devices, in the same order."""
    if len(given) != len(before) or any(a is not b for a, b in zip(given, before)):
        fail(task, used, f"the list of {len(before)} devices left as it was (same devices, same order)",
             f"ids now {[d['id'] if isinstance(d, dict) else d for d in given][:12]}"
             f"{' ...' if len(given) > 12 else ''}",
             hint="random.sample(devices, k) leaves the list alone; random.shuffle(devices) reorders the caller's list")


def chosen_list(task, used, chosen, devices):
    """The ids of the chosen devices: a list (or tuple) of devices taken from ``devices``."""
    if not isinstance(chosen, (list, tuple)):
        fail(task, used, "a list of devices",
             f"{type(chosen).__name__}{', ' + READ_ONCE if _read_once(chosen) else ''}",
             hint="return a list: the round reads the chosen devices twice (to train them, then to average them); "
                  "wrap a map or generator in list(...)")
    members = {id(d) for d in devices}
    for d in chosen:
        if id(d) not in members:
            fail(task, used, "devices taken from the given list (the device dicts themselves)",
                 f"{type(d).__name__}: {str(d)[:60]}")
    return [d["id"] for d in chosen]


def mean_overlap(parts):
    """Mean number of indices that consecutive devices share."""
    ids = sorted(parts)
    shared = [len(set(parts[a]) & set(parts[b])) for a, b in zip(ids, ids[1:])]
    return sum(shared) / len(shared)


def rounded(tensor):
    """A tensor as nested lists of numbers rounded to 4 decimals, for messages."""
    return ((tensor.detach().cpu().double() * 1e4).round() / 1e4).tolist()


def make_devices(nets):
    """Devices as create_device builds them, one per net (data: one blank image each)."""
    data = LabelSet([0])
    return [create_device(net, i, data, [0]) for i, net in enumerate(nets)]
