"""CIFAR-10/100 and their offline stand-in, as tensors ready for whole-batch training.

``FEDLAB_DATA`` picks the source: ``cifar`` (torchvision, downloaded into the cache when
online), ``synthetic`` (made from a seed, no network) or ``auto`` (real data if cached or
downloadable, else an error). Nothing falls back silently: every load says what it used.
"""
import hashlib
import os
from pathlib import Path

import torch

from . import augment, synthetic

SOURCES = ("auto", "cifar", "synthetic")
SYNTHETIC_SEED = 0
SYNTHETIC_VERSION = 5  # bump when the generator changes, so stale caches are not reused


class DataSourceError(RuntimeError):
    """The requested data cannot be had; the message says what to set instead."""


class ImageSet(torch.utils.data.Dataset):
    """Images as one uint8 tensor, labels as ``targets``; indexable like a torchvision dataset.

    ``ds[i]`` gives ``(normalized float image, int label)``; :meth:`batch` gives a whole
    batch on the compute device, augmented when ``augment`` is true.
    """

    def __init__(self, data, targets, *, name, source, mean, std, pad_mode="constant", classes=None):
        self.data = data                     # uint8 (N, 3, 32, 32)
        self.labels = torch.as_tensor(targets, dtype=torch.int64)
        self.targets = self.labels.tolist()  # a list of ints, as torchvision has it
        self.name, self.source = name, source
        self.mean, self.std, self.pad_mode = mean, std, pad_mode
        self.classes = classes or [str(c) for c in range(int(self.labels.max()) + 1)]
        self._on = {}                        # copies of (data, labels) per compute device

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        image = augment.normalize(self.data[i].unsqueeze(0), self.mean, self.std)
        return image[0], int(self.labels[i])

    def __repr__(self):
        return f"ImageSet({self.name}, {self.source}, {len(self)} images, {len(self.classes)} classes)"

    def batch(self, idxs, device, augment_images=False):
        """Images ``idxs`` normalized (and cropped/flipped if ``augment_images``) on ``device``, with labels."""
        key = str(device)
        if key not in self._on:
            self._on[key] = (self.data.to(device), self.labels.to(device))
        data, labels = self._on[key]
        idxs = torch.as_tensor(idxs, device=device)
        images = data[idxs]
        if augment_images:
            images = augment.random_crop_flip(images, padding=4, pad_mode=self.pad_mode)
        return augment.normalize(images, self.mean, self.std), labels[idxs]


def cache_dir() -> Path:
    """Where datasets are kept: ``FEDLAB_CACHE`` or ``~/.cache/fedlab``, a folder fedlab can write to.

    Created if missing; a DataSourceError naming ``FEDLAB_CACHE`` when it is a file or cannot be written.
    """
    setting = os.environ.get("FEDLAB_CACHE")
    path = Path(setting or Path.home() / ".cache" / "fedlab")
    named = f"FEDLAB_CACHE={setting}" if setting else f"the default cache {path} (FEDLAB_CACHE is not set)"
    fix = "set FEDLAB_CACHE to a folder you can write to (it is created if missing)"
    if path.exists() and not path.is_dir():
        raise DataSourceError(f"{named} is not a folder but a file; {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataSourceError(f"{named}: the folder cannot be created ({err.strerror}); {fix}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataSourceError(f"{named}: the folder is not writable; {fix}")
    return path


def data_source() -> str:
    """The source ``FEDLAB_DATA`` asks for (default ``auto``), validated."""
    source = os.environ.get("FEDLAB_DATA", "auto").strip().lower() or "auto"
    if source not in SOURCES:
        raise DataSourceError(f"FEDLAB_DATA={source!r} is not a data source; use one of {', '.join(SOURCES)} "
                              f"(synthetic works offline).")
    return source


_SPECS = {
    10: dict(name="CIFAR-10", mean=augment.CIFAR10_MEAN, std=augment.CIFAR10_STD, pad_mode="constant"),
    100: dict(name="CIFAR-100", mean=augment.CIFAR100_MEAN, std=augment.CIFAR100_STD, pad_mode="reflect"),
}


def load_cifar10():
    """``(trainset, testset)`` of CIFAR-10 or its stand-in, as ``FEDLAB_DATA`` says."""
    return _load(10)


def load_cifar100():
    """``(trainset, testset)`` of CIFAR-100 or its stand-in, as ``FEDLAB_DATA`` says."""
    return _load(100)


def _load(num_classes):
    source = data_source()
    spec = _SPECS[num_classes]
    if source == "synthetic":
        sets = _synthetic(num_classes, spec)
        print(f"fedlab: using the SYNTHETIC {spec['name']} stand-in (offline, seed {SYNTHETIC_SEED}; "
              f"not real images): {len(sets[0])} train / {len(sets[1])} test")
    else:
        sets = _cifar(num_classes, spec, source)
        print(f"fedlab: using real {spec['name']} from {cifar_root()}: {len(sets[0])} train / {len(sets[1])} test")
    return sets


# ---------------------------------------------------------------- real CIFAR through torchvision

def cifar_root() -> Path:
    return cache_dir() / "cifar"


def _torchvision_class(num_classes):
    from torchvision import datasets
    return datasets.CIFAR10 if num_classes == 10 else datasets.CIFAR100


def cifar_cached(num_classes) -> bool:
    """Whether the real data set is in the cache and passes torchvision's checksums."""
    cls = _torchvision_class(num_classes)
    probe = cls.__new__(cls)
    probe.root = str(cifar_root())
    return probe._check_integrity()


def _cifar(num_classes, spec, source):
    cls = _torchvision_class(num_classes)
    root = cifar_root()
    if not cifar_cached(num_classes):
        try:
            root.mkdir(parents=True, exist_ok=True)
            cls(str(root), train=True, download=True)
        except Exception as err:  # offline, refused, or a corrupt archive: say what to do
            raise DataSourceError(
                f"{spec['name']} is not in the cache ({root}) and could not be downloaded "
                f"(FEDLAB_DATA={source}): {type(err).__name__}: {err}. Set FEDLAB_DATA=synthetic to use the offline "
                f"stand-in, or put torchvision's {cls.filename} into {root} and try again.") from err
    sets = []
    for train in (True, False):
        raw = cls(str(root), train=train, download=False)
        images = torch.from_numpy(raw.data).permute(0, 3, 1, 2).contiguous()
        sets.append(ImageSet(images, raw.targets, name=spec["name"], source="cifar", classes=list(raw.classes),
                             mean=spec["mean"], std=spec["std"], pad_mode=spec["pad_mode"]))
    return tuple(sets)


# ---------------------------------------------------------------- the synthetic stand-in, cached with a checksum

def _synthetic(num_classes, spec):
    path = cache_dir() / "synthetic" / f"cifar{num_classes}-seed{SYNTHETIC_SEED}-v{SYNTHETIC_VERSION}.pt"
    blob = _read_verified(path)
    if blob is None:
        images, labels = synthetic.make_images(60000, num_classes, seed=SYNTHETIC_SEED * 1000 + num_classes)
        blob = {"images": images, "labels": labels}
        _write_verified(path, blob)
    images, labels = blob["images"], blob["labels"]
    make = lambda sl: ImageSet(images[sl], labels[sl], name=spec["name"], source="synthetic",  # noqa: E731
                               mean=spec["mean"], std=spec["std"], pad_mode=spec["pad_mode"])
    return make(slice(0, 50000)), make(slice(50000, 60000))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_verified(path: Path):
    """The cached tensors at ``path``, or None if absent; a file that fails its checksum is rebuilt."""
    check = path.with_suffix(".sha256")
    if not path.exists() or not check.exists():
        return None
    if _sha256(path) != check.read_text().strip():
        print(f"fedlab: the cached stand-in {path} failed its checksum (changed or damaged); rebuilding it.")
        return None
    return torch.load(path, weights_only=True)


def _write_verified(path: Path, blob) -> None:
    """Write atomically (a temporary file, then rename) so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(blob, tmp)
    digest = _sha256(tmp)
    os.replace(tmp, path)
    tmp_check = path.with_name(f"{path.stem}.{os.getpid()}.sha256.tmp")
    tmp_check.write_text(digest)
    os.replace(tmp_check, path.with_suffix(".sha256"))
