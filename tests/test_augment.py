"""Issue 2, item 2: whole-batch crop/flip and normalization; no DataLoader worker processes."""
import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import fedlab
from fedlab import augment

ROOT = Path(__file__).resolve().parent.parent


def _position_images(n):
    """uint8 images whose channels encode where a pixel came from: row + 1, column + 1, and 200."""
    rows = torch.arange(1, 33).view(32, 1).expand(32, 32)
    cols = torch.arange(1, 33).view(1, 32).expand(32, 32)
    image = torch.stack([rows, cols, torch.full((32, 32), 200)]).to(torch.uint8)
    return image.expand(n, 3, 32, 32).clone()


def _crop(image, dy, dx, flip, pad_mode):
    """What one image must become: padded (numpy's own padding), cut at (dy, dx), maybe mirrored."""
    mode = "constant" if pad_mode == "constant" else "reflect"
    padded = np.pad(image.numpy(), ((0, 0), (4, 4), (4, 4)), mode=mode)
    out = padded[:, dy:dy + 32, dx:dx + 32]
    return torch.from_numpy(np.ascontiguousarray(out[:, :, ::-1] if flip else out))


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_crops_stay_within_the_padding_and_half_are_flipped(pad_mode):
    torch.manual_seed(0)
    images = _position_images(2000)
    out = augment.random_crop_flip(images, padding=4, pad_mode=pad_mode)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    offsets, flips = set(), 0
    for k in range(len(out)):
        # the centre pixel always comes from the image itself: it tells the offset and the flip
        dy = int(out[k, 0, 16, 16]) - 1 - 16 + 4
        row = out[k, 1, 16].int()
        flip = bool(row[17] < row[16])
        dx = int(out[k, 1, 16, 16]) - 1 - (15 if flip else 16) + 4
        assert 0 <= dy <= 8 and 0 <= dx <= 8, f"image {k}: offset ({dy}, {dx}) beyond the 4-pixel padding"
        assert torch.equal(out[k], _crop(images[k], dy, dx, flip, pad_mode)), f"image {k}"
        offsets.add((dy, dx))
        flips += flip
    assert len(offsets) == 81  # every offset of the 9 x 9 possible ones occurs
    assert 800 < flips < 1200


def test_constant_padding_fills_zeros_and_reflect_padding_mirrors():
    torch.manual_seed(1)
    images = _position_images(500)
    constant = augment.random_crop_flip(images, pad_mode="constant")
    reflect = augment.random_crop_flip(images, pad_mode="reflect")
    assert (constant == 0).any() and not (reflect == 0).any()


def test_each_image_gets_its_own_offset_not_one_per_batch():
    torch.manual_seed(2)
    out = augment.random_crop_flip(_position_images(64))
    assert len({tuple(img[:2, 16, 16].tolist()) for img in out}) > 10


def test_normalization_uses_the_course_constants():
    assert augment.CIFAR10_MEAN == (0.4914, 0.4822, 0.4465)
    assert augment.CIFAR10_STD == (0.2023, 0.1994, 0.2010)
    assert augment.CIFAR100_MEAN == (0.5074, 0.4867, 0.4411)
    assert augment.CIFAR100_STD == (0.2011, 0.1987, 0.2025)
    images = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    out = fedlab.normalize(images, augment.CIFAR10_MEAN, augment.CIFAR10_STD)
    expected = [(0 - 0.4914) / 0.2023, (1 - 0.4822) / 0.1994, (0.2 - 0.4465) / 0.2010]
    assert out.dtype == torch.float32 and out.shape == images.shape
    for c in range(3):
        assert torch.allclose(out[:, c], torch.full((2, 2, 2), expected[c]), atol=1e-6)


def test_data_sets_carry_their_constants_and_padding(cifar10, cifar100):
    for ds in cifar10:
        assert (ds.mean, ds.std, ds.pad_mode) == (augment.CIFAR10_MEAN, augment.CIFAR10_STD, "constant")
    for ds in cifar100:
        assert (ds.mean, ds.std, ds.pad_mode) == (augment.CIFAR100_MEAN, augment.CIFAR100_STD, "reflect")


def test_augmented_batches_use_the_sets_padding(cifar100):
    trainset, _ = cifar100
    torch.manual_seed(3)
    x, _ = trainset.batch(torch.arange(200), "cpu", augment_images=True)
    black = fedlab.normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8), trainset.mean, trainset.std)
    # reflect padding brings in no black pixels (the stand-in's images have almost none); zeros would
    assert (x == black).all(1).float().mean() < 0.001


def _dataloader_uses(path):
    """Places in a Python file that use a DataLoader or worker processes (code only, not docs)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        name = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                else node.arg if isinstance(node, ast.keyword) else None)
        if isinstance(node, ast.ImportFrom):
            name = next((a.name for a in node.names if a.name == "DataLoader"), None)
        if name in ("DataLoader", "num_workers"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    return found


def test_no_dataloader_worker_processes_anywhere():
    files = sorted((ROOT / "fedlab").rglob("*.py")) + sorted((ROOT / "course").rglob("*.py"))
    assert len(files) > 10
    assert [use for f in files for use in _dataloader_uses(f)] == []
