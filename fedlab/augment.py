"""Whole-batch augmentation and normalization on the compute device.

The original augmented one PIL image at a time in DataLoader workers; most of its time went
there. Here a batch of uint8 images is cropped, flipped and normalized in a few tensor ops.
"""
import torch
import torch.nn.functional as F

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
CIFAR100_MEAN = (0.5074, 0.4867, 0.4411)
CIFAR100_STD = (0.2011, 0.1987, 0.2025)


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 images (N, 3, H, W) -> float images scaled to [0, 1] and standardized per channel."""
    mean = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def random_crop_flip(images: torch.Tensor, padding: int = 4, pad_mode: str = "constant") -> torch.Tensor:
    """Pad by ``padding`` pixels, crop each image back at its own random offset, flip half of them.

    ``pad_mode`` is ``"constant"`` (zeros, as torchvision's RandomCrop) or ``"reflect"``.
    """
    n, _, h, w = images.shape
    dev = images.device
    src = images.float() if pad_mode == "reflect" else images  # reflect padding needs floats
    padded = F.pad(src, (padding,) * 4, mode=pad_mode).to(images.dtype)
    dy = torch.randint(0, 2 * padding + 1, (n, 1), device=dev)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), device=dev)
    rows = (dy + torch.arange(h, device=dev))[:, None, :, None]
    cols = (dx + torch.arange(w, device=dev))
    flip = torch.rand(n, 1, device=dev) < 0.5
    cols = torch.where(flip, cols.flip(1), cols)[:, None, None, :]
    batch = torch.arange(n, device=dev)[:, None, None, None]
    chans = torch.arange(images.shape[1], device=dev)[None, :, None, None]
    return padded[batch, chans, rows, cols]
