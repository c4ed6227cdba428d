"""fedlab.quantize_model and fedlab.upload_bits (used in 03 §3.3) with a stand-in for the student's dorefa_g."""
import pytest
import torch

import fedlab

# the ConvNet's numbers: conv and linear weights (3*32*9 + ... + 256*256*9 + 256*10) and every state-dict entry
CONVNET_WEIGHTS = 1_210_720
CONVNET_ENTRIES = 1_214_835


def recording_dorefa_g(calls):
    """A dorefa_g whose result is recognisable: every entry becomes nbit, the scale 1 + the call's number."""
    def dorefa_g(w, nbit, adaptive_scale=None):
        calls.append((tuple(w.shape), nbit, adaptive_scale))
        return torch.full_like(w, float(nbit)), torch.tensor(1.0 + len(calls))
    return dorefa_g


def small_net():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=True), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                               torch.nn.Linear(4, 2, bias=False))


def test_every_conv_and_linear_weight_goes_through_dorefa_g_and_the_bias_uses_its_scale():
    net = small_net()
    batchnorm = {k: v.clone() for k, v in net[1].state_dict().items()}
    calls = []
    assert fedlab.quantize_model(net, 4, recording_dorefa_g(calls)) is net
    assert calls == [((4, 3, 3, 3), 4, None), ((4,), 4, torch.tensor(2.0)), ((2, 4), 4, None)]
    for tensor in (net[0].weight, net[0].bias, net[3].weight):
        assert torch.equal(tensor, torch.full_like(tensor, 4.0))
    assert all(torch.equal(v, batchnorm[k]) for k, v in net[1].state_dict().items())


def test_dorefa_g_gets_a_copy_and_the_model_keeps_its_dtype_and_gradients_off():
    net = small_net()
    def in_place_ones(w, nbit, adaptive_scale=None):
        w.mul_(0)  # a student's in-place change must not reach the model before the result does
        return torch.ones(w.shape, dtype=torch.float64), 1.0
    fedlab.quantize_model(net, 8, in_place_ones)
    assert net[0].weight.dtype == torch.float32 and torch.equal(net[0].weight, torch.ones_like(net[0].weight))
    assert net[0].weight.requires_grad and net[0].weight.grad is None


@pytest.mark.parametrize("result, says", [(torch.zeros(1), "must return a tuple (w_q, adaptive_scale)"),
                                          ((torch.zeros(1), 1.0), "it must keep the input's shape (4, 3, 3, 3)")])
def test_a_dorefa_g_that_returns_the_wrong_thing_is_named(result, says):
    with pytest.raises(TypeError, match=r"dorefa_g\(0.weight, nbit=4\)") as err:
        fedlab.quantize_model(small_net(), 4, lambda w, nbit, s=None: result)
    assert says in str(err.value)


@pytest.mark.parametrize("nbit", [0, 33, 4.0, True, "4"])
def test_bad_bit_widths_are_refused(nbit):
    with pytest.raises(ValueError, match="nbit is the bit width, an int from 1 to 32"):
        fedlab.quantize_model(small_net(), nbit, recording_dorefa_g([]))
    with pytest.raises(ValueError, match=r"upload_bits\(nbit="):
        fedlab.upload_bits(small_net(), nbit)


def test_bad_models_and_functions_are_refused():
    with pytest.raises(TypeError, match=r"quantize_model\(model=...\): need a torch.nn.Module such as device\['net'\]"):
        fedlab.quantize_model({"net": small_net()}, 4, recording_dorefa_g([]))
    with pytest.raises(TypeError, match="pass your function dorefa_g itself"):
        fedlab.quantize_model(small_net(), 4, "dorefa_g")


def test_upload_bits_of_the_convnet():
    net = fedlab.ConvNet()
    assert fedlab.upload_bits(net, 32) == 32 * CONVNET_ENTRIES
    for nbit in (16, 4, 1):
        assert fedlab.upload_bits(net, nbit) == nbit * CONVNET_WEIGHTS + 32 * (CONVNET_ENTRIES - CONVNET_WEIGHTS)
    # five devices upload per round: 24.30 MB at 32 bits, 12.19 MB at 16, 3.11 MB at 4
    assert [round(5 * fedlab.upload_bits(net, b) / 8e6, 2) for b in (32, 16, 4)] == [24.30, 12.19, 3.11]


def test_upload_bits_of_a_single_layer_model():
    assert fedlab.upload_bits(torch.nn.Linear(3, 2), 4) == 6 * 4 + 2 * 32
