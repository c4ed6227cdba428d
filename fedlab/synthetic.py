"""An offline stand-in for CIFAR: the real shapes, sizes and class counts, made from a seed.

Each class owns two smooth colour patterns ("modes"). An image is one of its class's
modes blended with a little of another class's, shifted, rescaled in contrast, laid over a
smooth distractor that belongs to no class, under strong pixel noise. Classes share most of
their pattern, and one image shows its pattern through much noise, so a small model learns
the patterns quickly but needs many images to tell pattern from noise: more data helps (ten
times the images win clearly, which the course's FedAvg-vs-one-device lesson relies on), and
nothing reaches 100 %.
"""
import torch
import torch.nn.functional as F

MODES_PER_CLASS = 2


def _smooth_fields(n: int, size: int, gen: torch.Generator, coarse: int = 4) -> torch.Tensor:
    """n random 3-channel fields of unit scale that vary slowly across the image."""
    low = torch.randn(n, 3, coarse, coarse, generator=gen)
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)


def _mirror_symmetric(fields: torch.Tensor) -> torch.Tensor:
    """Fields that equal their left-right mirror image, as scaled as the input.

    CIFAR's classes look alike mirrored, which is why training flips images; the class
    patterns must share that, or flipping would teach the model the wrong thing.
    """
    return (fields + fields.flip(-1)) / 2 ** 0.5


def make_images(num_images: int, num_classes: int, seed: int, chunk: int = 10000):
    """``num_images`` uint8 images (N, 3, 32, 32) and their int64 labels.

    Labels are balanced within every ``chunk`` images (as far as ``chunk`` allows), so a split
    at a multiple of ``chunk`` (50,000 train / 10,000 test) is balanced like CIFAR's.
    """
    gen = torch.Generator().manual_seed(seed)
    shared = _mirror_symmetric(_smooth_fields(1, 32, gen))              # what every class has in common
    own = _mirror_symmetric(_smooth_fields(num_classes * MODES_PER_CLASS, 32, gen, coarse=6))  # a mode's own
    modes = (shared + 0.7 * own).view(num_classes, MODES_PER_CLASS, 3, 32, 32)
    labels = torch.empty(num_images, dtype=torch.int64)
    images = torch.empty(num_images, 3, 32, 32, dtype=torch.uint8)
    for start in range(0, num_images, chunk):
        n = min(chunk, num_images - start)
        y = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
        labels[start:start + n] = y
        m = torch.randint(MODES_PER_CLASS, (n,), generator=gen)
        # blend in a mode of another class; past an equal share the image is truly ambiguous,
        # which keeps even a perfect model below 100 %
        other = (y + torch.randint(1, num_classes, (n,), generator=gen)) % num_classes
        share = 0.6 * torch.rand(n, 1, 1, 1, generator=gen)
        x = (1 - share) * modes[y, m] + share * modes[other, torch.randint(MODES_PER_CLASS, (n,), generator=gen)]
        # shift each image by up to 3 pixels (wrapping around), each by its own amount
        rows = (torch.arange(32) + torch.randint(-3, 4, (n, 1), generator=gen)) % 32
        cols = (torch.arange(32) + torch.randint(-3, 4, (n, 1), generator=gen)) % 32
        x = x[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]
        contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=gen)
        x = contrast * x + 0.9 * _smooth_fields(n, 32, gen) + 1.1 * torch.randn(n, 3, 32, 32, generator=gen)
        images[start:start + n] = (120 + 45 * x).round().clamp(0, 255).to(torch.uint8)
    return images, labels
