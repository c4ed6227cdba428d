"""The networks the assignments train: ConvNet (01-04), ResNet-20 (05) and the averaging check's MLP."""
from torch import nn
import torch.nn.functional as F


def _conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ConvNet(nn.Module):
    """Nine 3x3 conv blocks (conv, BatchNorm, ReLU), global average pooling and a linear classifier.

    1,212,778 trainable parameters with 10 classes.
    """

    # (in, out, stride) of the nine blocks, as the course fixes them.
    BLOCKS = [(3, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 64, 1),
              (64, 128, 2), (128, 128, 1), (128, 256, 1), (256, 256, 1)]

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(*[_conv_block(i, o, s) for i, o, s in self.BLOCKS])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class BasicBlock(nn.Module):
    """Two 3x3 conv layers with a shortcut; a 1x1 conv shortcut where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """The CIFAR ResNet of He et al. (2016): a 3x3 stem and three stages of 16, 32 and 64 channels."""

    def __init__(self, blocks_per_stage: int, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, c_in = [], 16
        for c_out, stride in [(16, 1), (32, 2), (64, 2)]:
            for b in range(blocks_per_stage):
                layers.append(BasicBlock(c_in, c_out, stride if b == 0 else 1))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(self.pool(out).flatten(1))


def resnet20(num_classes: int = 10) -> ResNet:
    """ResNet-20 for 32x32 images: three stages of three basic blocks."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"resnet20(num_classes): need a positive int, got {num_classes!r} (100 for CIFAR-100)")
    return ResNet(3, num_classes)


class TestNetwork(nn.Module):
    """The two-layer MLP of the averaging check: Linear(2, 2), ReLU, Linear(2, 4)."""

    __test__ = False  # not a pytest test class despite its name

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(2, 2)
        self.layer2 = nn.Linear(2, 4)

    def forward(self, x):
        return self.layer2(F.relu(self.layer1(x)))
