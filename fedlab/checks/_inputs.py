"""Inputs the checks feed to student functions: label-only data sets and a seeded, restored RNG.

Checks call the student's code on small fixed inputs. A :class:`LabelSet` looks like the
course's data sets (``targets``, ``labels``, ``data``, ``len``) without holding images, so a
check on 50,000 labels costs nothing; it can refuse ``dataset[i]`` to prove that a sampler
reads labels instead of loading every image.
"""
import contextlib
import random

import numpy as np
import torch

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
