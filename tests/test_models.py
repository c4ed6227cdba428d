"""Issue 2, item 3: ConvNet as the course fixes it, ResNet-20, and the averaging check's MLP."""
import pytest
import torch
from torch import nn

import fedlab

# (in channels, out channels, stride) of ConvNet's nine blocks, from the course specification
CONVNET_BLOCKS = [(3, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 64, 1),
                  (64, 128, 2), (128, 128, 1), (128, 256, 1), (256, 256, 1)]


def _trainable(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def test_convnet_has_exactly_the_course_parameter_count():
    assert _trainable(fedlab.ConvNet()) == 1_212_778


def test_convnet_is_nine_conv_bn_relu_blocks_pooling_and_a_linear_layer():
    net = fedlab.ConvNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == CONVNET_BLOCKS
    for conv, norm in zip(convs, norms, strict=True):
        assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.bias is None
        assert norm.num_features == conv.out_channels
    # each block runs conv -> BatchNorm -> ReLU, in that order
    kinds = [type(m) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.ReLU))]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 9
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(pools) == 1 and pools[0].output_size in (1, (1, 1))
    assert [(fc.in_features, fc.out_features) for fc in linears] == [(256, 10)]


def test_convnet_maps_cifar_images_to_ten_scores():
    out = fedlab.ConvNet().eval()(torch.randn(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 10)


def test_resnet20_for_cifar100():
    net = fedlab.resnet20(100)
    assert tuple(net.eval()(torch.randn(3, 3, 32, 32)).shape) == (3, 100)
    convs3 = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3) == 19  # the stem and 3 stages x 3 blocks x 2 convs; with the classifier, 20 layers
    assert [c.out_channels for c in convs3] == [16] * 7 + [32] * 6 + [64] * 6
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [(64, 100)]
    assert 270_000 < _trainable(fedlab.resnet20(10)) < 280_000  # ResNet-20 has about 0.27 M parameters


@pytest.mark.parametrize("bad", [0, -5, 2.5, "100"])
def test_resnet20_refuses_a_bad_class_count(bad):
    with pytest.raises(ValueError, match="num_classes"):
        fedlab.resnet20(bad)


def test_test_network_is_the_two_layer_mlp_of_the_averaging_check():
    net = fedlab.TestNetwork()
    assert isinstance(net.layer1, nn.Linear) and (net.layer1.in_features, net.layer1.out_features) == (2, 2)
    assert isinstance(net.layer2, nn.Linear) and (net.layer2.in_features, net.layer2.out_features) == (2, 4)
    assert list(net.state_dict()) == ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"]
    assert tuple(net(torch.randn(5, 2)).shape) == (5, 4)
