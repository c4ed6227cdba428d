"""Quantized uploads (used in 03 §3.3): a model's weights through the student's ``dorefa_g``, and their size.

The quantizer itself is the student's task; this module only applies the student's ``dorefa_g``
to a whole model, layer by layer, and counts what an upload of the result costs.
"""
import torch
from torch import nn

QUANTIZED = (nn.Conv2d, nn.Linear)  # the layers whose weights a device quantizes before upload
FULL_BITS = 32                      # every other entry goes up as 32-bit float


def _checked_nbit(nbit, where):
    if not isinstance(nbit, int) or isinstance(nbit, bool) or not 1 <= nbit <= FULL_BITS:
        raise ValueError(f"{where}(nbit={nbit!r}): nbit is the bit width, an int from 1 to {FULL_BITS}, e.g. 4")
    return nbit


def _checked_model(model, where):
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}(model=...): need a torch.nn.Module such as device['net'], "
                        f"got {type(model).__name__}")
    return model


@torch.no_grad()
def quantize_model(model, nbit, dorefa_g):
    """Quantize ``model`` in place with the student's ``dorefa_g`` and return it (used in 03 §3.3).

    Every Conv2d and Linear weight becomes ``dorefa_g(weight, nbit)[0]``; the layer's bias, if any,
    is quantized with the weight's scale, ``dorefa_g(bias, nbit, scale)[0]``. Other entries
    (BatchNorm) stay as they are.
    """
    _checked_model(model, "quantize_model")
    _checked_nbit(nbit, "quantize_model")
    if not callable(dorefa_g):
        raise TypeError(f"quantize_model(dorefa_g=...): pass your function dorefa_g itself, "
                        f"got {type(dorefa_g).__name__}")
    for name, layer in model.named_modules():
        if isinstance(layer, QUANTIZED):
            scale = _quantize(layer.weight, nbit, dorefa_g, None, f"{name}.weight")
            if layer.bias is not None:
                _quantize(layer.bias, nbit, dorefa_g, scale, f"{name}.bias")
    return model


def _quantize(tensor, nbit, dorefa_g, scale, key):
    """Overwrite ``tensor`` with ``dorefa_g``'s result; the scale it used, or a TypeError naming what came back."""
    given = tensor.detach().clone()  # the student's function cannot change the model behind our back
    result = dorefa_g(given, nbit) if scale is None else dorefa_g(given, nbit, scale)
    if not (isinstance(result, tuple) and len(result) == 2 and torch.is_tensor(result[0])):
        raise TypeError(f"quantize_model: dorefa_g({key}, nbit={nbit}) must return a tuple (w_q, adaptive_scale) "
                        f"with w_q a tensor, got {type(result).__name__}")
    w_q, used_scale = result
    if w_q.shape != tensor.shape:
        raise TypeError(f"quantize_model: dorefa_g({key}, nbit={nbit}) returned w_q of shape {tuple(w_q.shape)}; "
                        f"it must keep the input's shape {tuple(tensor.shape)}")
    tensor.copy_(w_q)
    return used_scale


def upload_bits(model, nbit):
    """Bits one device uploads when it quantizes ``model`` to ``nbit`` bits (used in 03 §3.3).

    A Conv2d or Linear weight costs ``nbit`` bits per entry, every other state-dict entry
    (biases, BatchNorm) 32; ``nbit=32`` is the unquantized upload.
    """
    _checked_model(model, "upload_bits")
    _checked_nbit(nbit, "upload_bits")
    quantized = {f"{name}.weight" if name else "weight"
                 for name, layer in model.named_modules() if isinstance(layer, QUANTIZED)}
    return sum(v.numel() * (nbit if key in quantized else FULL_BITS) for key, v in model.state_dict().items())
