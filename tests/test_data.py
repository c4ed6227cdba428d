"""Issue 2, item 1: the data sets, their sources (FEDLAB_DATA) and the stand-in's cache.

The real-data path runs on small files written here in torchvision's CIFAR pickle format;
"no network" is made certain (and fast) by pointing urllib's proxies at a closed port.
"""
import hashlib
import pickle
import shutil
import urllib.request

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import fedlab
from fedlab import data, synthetic

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def _normalized(images_uint8, mean, std):
    mean = torch.tensor(mean).view(-1, 1, 1)
    std = torch.tensor(std).view(-1, 1, 1)
    return (images_uint8.float() / 255 - mean) / std


# ---------------------------------------------------------------- the synthetic stand-in

@pytest.mark.parametrize("which, classes", [("cifar10", 10), ("cifar100", 100)])
def test_stand_in_has_the_cifar_shapes_sizes_and_balanced_classes(request, which, classes):
    trainset, testset = request.getfixturevalue(which)
    for ds, size in ((trainset, 50_000), (testset, 10_000)):
        assert len(ds) == size
        assert ds.data.dtype == torch.uint8 and tuple(ds.data.shape) == (size, 3, 32, 32)
        assert isinstance(ds.targets, list) and {type(t) for t in ds.targets} == {int}
        assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == ds.targets
        assert torch.bincount(ds.labels, minlength=classes).tolist() == [size // classes] * classes
        assert len(ds.classes) == classes and ds.source == "synthetic"


def test_stand_in_images_are_not_blank_or_saturated(cifar10):
    images = cifar10[0].data[:2000].float()
    assert 60 < images.mean() < 200 and images.std() > 20
    # v5's strong pixel noise clips about 8 % of values to black and 3.5 % to white: under a tenth, as CIFAR's dark
    # and bright photos do, never mostly saturated
    assert (images == 0).float().mean() < 0.1 and (images == 255).float().mean() < 0.1


def test_item_is_a_normalized_float_image_and_an_int_label(cifar10):
    trainset, testset = cifar10
    for ds in (trainset, testset):
        for i in (0, 7, len(ds) - 1, -1, np.int64(3), torch.tensor(5)):
            image, label = ds[i]
            assert image.dtype == torch.float32 and tuple(image.shape) == (3, 32, 32)
            assert type(label) is int and label == ds.targets[i]
            assert torch.allclose(image, _normalized(ds.data[i], CIFAR10_MEAN, CIFAR10_STD), atol=1e-6)


def test_sets_work_with_the_torch_tools_student_code_uses(cifar10):
    trainset, _ = cifar10
    subset = torch.utils.data.Subset(trainset, [4, 2, 9])
    images, labels = next(iter(torch.utils.data.DataLoader(subset, batch_size=3)))
    assert tuple(images.shape) == (3, 3, 32, 32)
    assert labels.tolist() == [trainset.targets[i] for i in (4, 2, 9)]


def test_batch_gives_normalized_images_and_labels_on_the_device(cifar10):
    trainset, _ = cifar10
    idxs = [11, 3, 42, 3]
    x, y = trainset.batch(idxs, torch.device("cpu"))
    assert x.dtype == torch.float32 and tuple(x.shape) == (4, 3, 32, 32) and x.device.type == "cpu"
    assert y.dtype == torch.int64 and y.tolist() == [trainset.targets[i] for i in idxs]
    for row, i in enumerate(idxs):
        assert torch.equal(x[row], trainset[i][0])
    x_aug, y_aug = trainset.batch(torch.tensor(idxs), "cpu", augment_images=True)
    assert tuple(x_aug.shape) == (4, 3, 32, 32) and torch.equal(y_aug, y)


def test_the_generator_is_deterministic_from_its_seed_and_balanced():
    images, labels = synthetic.make_images(400, 10, seed=3, chunk=200)
    again_images, again_labels = synthetic.make_images(400, 10, seed=3, chunk=200)
    other_images, _ = synthetic.make_images(400, 10, seed=4, chunk=200)
    assert torch.equal(images, again_images) and torch.equal(labels, again_labels)
    assert not torch.equal(images, other_images)
    for start in (0, 200):  # every chunk is balanced, so a split at a chunk boundary is too
        assert torch.bincount(labels[start:start + 200]).tolist() == [20] * 10


def test_stand_in_is_learnable(cifar10, quick_off):
    """A small CNN beats chance (10 %) clearly on the test split after a few CPU seconds."""
    trainset, testset = cifar10
    torch.manual_seed(0)

    def block(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                             nn.ReLU(), nn.MaxPool2d(2))

    net = nn.Sequential(nn.AvgPool2d(2), block(3, 16), block(16, 32), block(32, 64), nn.Flatten(),
                        nn.Linear(64 * 2 * 2, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many tiny steps: one thread is as fast, and robust on a busy machine
    try:
        net.train()
        for _ in range(3):
            order = torch.randperm(5000)
            for start in range(0, 5000, 64):
                x, y = trainset.batch(order[start:start + 64], "cpu")
                loss = nn.functional.cross_entropy(net(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        _, accuracy = fedlab.evaluate(net, testset)
    finally:
        torch.set_num_threads(threads)
    assert accuracy > 30, f"a small CNN reached only {accuracy:.1f} % on the stand-in's test split"


# ---------------------------------------------------------------- choosing the source

def test_every_load_says_which_data_it_used(monkeypatch, capsys):
    monkeypatch.setenv("FEDLAB_DATA", "synthetic")
    fedlab.load_cifar100()
    out = capsys.readouterr().out
    assert "SYNTHETIC CIFAR-100 stand-in" in out and "50000 train / 10000 test" in out


@pytest.mark.parametrize("value", ["cifar-10", "real", "offline"])
def test_unknown_source_is_refused_with_the_choices(monkeypatch, value):
    monkeypatch.setenv("FEDLAB_DATA", value)
    with pytest.raises(fedlab.DataSourceError, match=r"FEDLAB_DATA=.*auto, cifar, synthetic"):
        fedlab.load_cifar10()


def test_source_names_are_read_leniently_and_default_to_auto(monkeypatch):
    monkeypatch.setenv("FEDLAB_DATA", " Synthetic ")
    assert data.data_source() == "synthetic"
    monkeypatch.delenv("FEDLAB_DATA")
    assert data.data_source() == "auto"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty cache and no network: every download is refused at once by a closed local port."""
    monkeypatch.setenv("FEDLAB_CACHE", str(tmp_path))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(urllib.request, "_opener", None)  # so urllib reads the proxies afresh
    return tmp_path


@pytest.mark.parametrize("source", ["auto", "cifar"])
@pytest.mark.parametrize("load", [fedlab.load_cifar10, fedlab.load_cifar100])
def test_real_data_neither_cached_nor_downloadable_is_an_error_naming_synthetic(offline, monkeypatch, source, load):
    monkeypatch.setenv("FEDLAB_DATA", source)
    with pytest.raises(fedlab.DataSourceError, match="FEDLAB_DATA=synthetic") as err:
        load()
    assert "could not be downloaded" in str(err.value) and str(offline) in str(err.value)


# ---------------------------------------------------------------- real CIFAR, from files in torchvision's format

def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_pickle(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return [path.name, _md5(path)]


def _fake_cifar(root, monkeypatch, num_classes, per_file, rng):
    """Small CIFAR files in torchvision's layout under ``root``; torchvision's md5 table pointed at them.

    Returns the images (N, 3, 32, 32) and labels written, train first, then test.
    """
    if num_classes == 10:
        cls, folder, label_key = torchvision.datasets.CIFAR10, "cifar-10-batches-py", "labels"
        train_names, meta = [f"data_batch_{k}" for k in range(1, 6)], ("batches.meta", "label_names")
    else:
        cls, folder, label_key = torchvision.datasets.CIFAR100, "cifar-100-python", "fine_labels"
        train_names, meta = ["train"], ("meta", "fine_label_names")
    written = {}
    for split, names in (("train", train_names), ("test", ["test" if num_classes == 100 else "test_batch"])):
        entries, images, labels = [], [], []
        for name in names:
            x = rng.integers(0, 256, size=(per_file, 3, 32, 32), dtype=np.uint8)
            y = rng.integers(0, num_classes, size=per_file).tolist()
            entries.append(_write_pickle(root / folder / name, {"data": x.reshape(per_file, -1), label_key: y}))
            images.append(x)
            labels += y
        written[split] = (torch.from_numpy(np.concatenate(images)), labels)
        monkeypatch.setattr(cls, f"{split}_list", entries)
    class_names = [f"class-{c}" for c in range(num_classes)]
    _, meta_md5 = _write_pickle(root / folder / meta[0], {meta[1]: class_names})
    monkeypatch.setattr(cls, "meta", {"filename": meta[0], "key": meta[1], "md5": meta_md5})
    return written, class_names


@pytest.mark.parametrize("source", ["auto", "cifar"])
def test_cached_real_cifar10_is_used_without_network(offline, monkeypatch, capsys, source):
    written, class_names = _fake_cifar(offline / "cifar", monkeypatch, 10, 6, np.random.default_rng(0))
    monkeypatch.setenv("FEDLAB_DATA", source)
    trainset, testset = fedlab.load_cifar10()
    assert "real CIFAR-10" in capsys.readouterr().out
    for ds, split in ((trainset, "train"), (testset, "test")):
        images, labels = written[split]
        assert ds.source == "cifar" and ds.classes == class_names
        assert ds.data.dtype == torch.uint8 and torch.equal(ds.data, images)
        assert ds.targets == labels and ds.labels.tolist() == labels
        image, label = ds[1]
        assert label == labels[1] and torch.allclose(image, _normalized(images[1], CIFAR10_MEAN, CIFAR10_STD))
    assert len(trainset) == 30 and len(testset) == 6


def test_cached_real_cifar100_is_used_with_its_own_constants(offline, monkeypatch, capsys):
    written, class_names = _fake_cifar(offline / "cifar", monkeypatch, 100, 8, np.random.default_rng(1))
    monkeypatch.setenv("FEDLAB_DATA", "auto")
    trainset, testset = fedlab.load_cifar100()
    assert "real CIFAR-100" in capsys.readouterr().out
    assert torch.equal(trainset.data, written["train"][0]) and trainset.targets == written["train"][1]
    assert torch.equal(testset.data, written["test"][0]) and testset.targets == written["test"][1]
    assert trainset.classes == class_names
    assert trainset.mean == (0.5074, 0.4867, 0.4411) and trainset.std == (0.2011, 0.1987, 0.2025)
    assert trainset.pad_mode == "reflect"


def test_real_files_that_fail_their_checksums_count_as_absent(offline, monkeypatch):
    _fake_cifar(offline / "cifar", monkeypatch, 10, 4, np.random.default_rng(2))
    batch = offline / "cifar" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-10])
    monkeypatch.setenv("FEDLAB_DATA", "auto")
    assert not data.cifar_cached(10)
    with pytest.raises(fedlab.DataSourceError, match="FEDLAB_DATA=synthetic"):
        fedlab.load_cifar10()


# ---------------------------------------------------------------- the stand-in's cache

def test_damaged_stand_in_cache_is_detected_and_rebuilt_to_the_same_data(cifar10, monkeypatch, tmp_path, capsys):
    name = f"cifar10-seed{data.SYNTHETIC_SEED}-v{data.SYNTHETIC_VERSION}"
    cached = tmp_path / "synthetic" / f"{name}.pt"
    cached.parent.mkdir()
    for suffix in (".pt", ".sha256"):
        shutil.copy(data.cache_dir() / "synthetic" / f"{name}{suffix}", cached.with_suffix(suffix))
    with open(cached, "r+b") as f:  # damage one byte in the middle of the images
        f.seek(cached.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setenv("FEDLAB_CACHE", str(tmp_path))
    monkeypatch.setenv("FEDLAB_DATA", "synthetic")

    trainset, testset = fedlab.load_cifar10()
    assert "failed its checksum" in capsys.readouterr().out
    assert torch.equal(trainset.data, cifar10[0].data) and trainset.targets == cifar10[0].targets
    assert torch.equal(testset.data, cifar10[1].data) and testset.targets == cifar10[1].targets

    assert hashlib.sha256(cached.read_bytes()).hexdigest() == cached.with_suffix(".sha256").read_text().strip()
    fedlab.load_cifar10()
    assert "failed its checksum" not in capsys.readouterr().out
    assert sorted(p.name for p in cached.parent.iterdir()) == [f"{name}.pt", f"{name}.sha256"]
