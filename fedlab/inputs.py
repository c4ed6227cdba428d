"""The one check of what a notebook passes as image indices, learning rates and milestones.

Used by ``create_device`` (data_idxs, lr, milestones), ``evaluate`` (idxs), ``train`` and
``evaluate`` (the net's dtype) and the live client (the rate of a round). A value that is not
what it should be raises an error that names the argument and the fix; nothing is coerced
(a float index is not truncated, a boolean mask is not read as indices).
"""
import math
import numbers

import numpy as np
import torch


def indices(value, size, where, purpose):
    """``value`` as a 1-D int64 tensor of distinct indices into ``size`` images, else a ValueError.

    ``where`` names the argument (``"create_device(data_idxs=...)"``), ``purpose`` says what the
    images are for (``"to train the device on"``), for the message about an empty selection.
    """
    if torch.is_tensor(value):
        idxs = value.detach().cpu()
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            raise ValueError(f"{where}: need int indices into the data set, got a numpy array of Python objects")
        idxs = torch.from_numpy(value)
    elif value is None or isinstance(value, (str, bytes, dict, numbers.Number)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{where}: need a list of int indices into the data set, got {_shown(value)}"
                         + (f"; for one image write [{value}]" if isinstance(value, numbers.Integral) else ""))
    else:
        idxs = _int_list(value)
        if idxs is None:  # not plainly ints: look at each element, for a message that names the first bad one
            idxs = torch.tensor([_index(x, i, where) for i, x in enumerate(value)], dtype=torch.int64)
    if idxs.dtype == torch.bool:
        raise ValueError(f"{where}: got a boolean mask ({len(idxs.flatten())} True/False values), not indices; "
                         f"pass the positions it selects, e.g. torch.nonzero(mask).flatten()")
    if idxs.is_floating_point() or idxs.is_complex():
        raise ValueError(f"{where}: got {idxs.dtype} values; indices must be ints (a float index is not "
                         f"truncated for you): check how they were computed")
    if idxs.ndim != 1:
        raise ValueError(f"{where}: need one flat list of indices, got a {idxs.ndim}-D array of shape "
                         f"{tuple(idxs.shape)}; pass one row of it, or flatten it if every index is meant")
    if len(idxs) == 0:
        raise ValueError(f"{where}: no indices, so no data {purpose}; pass a non-empty list of indices "
                         f"(check your sampler's output)")
    idxs = idxs.to(torch.int64)
    low, high = int(idxs.min()), int(idxs.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise ValueError(f"{where}: index {bad} is out of range for a data set of {size} images; indices must "
                         f"lie in 0..{size - 1}")
    values, counts = torch.unique(idxs, return_counts=True)
    if len(values) != len(idxs):
        first = int(values[counts > 1][0])
        raise ValueError(f"{where}: index {first} is listed {int(counts[values == first][0])} times "
                         f"({len(idxs) - len(values)} repeats in all); list each image once (draw without "
                         f"replacement, e.g. replace=False)")
    return idxs


def _int_list(value):
    """A flat sequence of ints as an int64 tensor in one numpy pass (60 devices x 5,000 indices in 02), else None."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.ndim != 1 or array.dtype.kind not in "iu" or len(array) != len(value):
        return None
    return torch.from_numpy(array.astype(np.int64, copy=False))


def _index(x, position, where):
    """One element of a list of indices: an int (not a bool, not a float, not a list), else a ValueError."""
    if isinstance(x, (bool, np.bool_)) or (torch.is_tensor(x) and x.dtype == torch.bool):
        raise ValueError(f"{where}: element {position} is {x!r}, a bool; pass the positions of the images "
                         f"(ints), not a True/False mask")
    if isinstance(x, numbers.Integral):
        return int(x)
    if torch.is_tensor(x) and x.ndim == 0 and not (x.is_floating_point() or x.is_complex()):
        return int(x)
    if isinstance(x, (list, tuple, np.ndarray)) or torch.is_tensor(x):
        raise ValueError(f"{where}: element {position} is itself a list ({_shown(x)}); need one flat list of "
                         f"int indices, not a list of lists (pass one device's list)")
    raise ValueError(f"{where}: element {position} is {_shown(x)}, not an int; need int indices (a float index "
                     f"is not truncated for you): check how they were computed")


def learning_rate(value, where):
    """``value`` if it is a finite positive number; else a TypeError or ValueError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: the learning rate must be a number such as 0.1, got {_shown(value)}")
    if not math.isfinite(value) or not value > 0:
        raise ValueError(f"{where}: the learning rate must be a finite positive number such as 0.1, got {value!r}")
    return value


def milestones(value, where):
    """``value`` as a list of distinct rounds (ints >= 1) at which the rate drops; else an error naming ``where``."""
    if isinstance(value, (str, bytes, numbers.Number)) or not isinstance(value, (list, tuple, range)):
        raise TypeError(f"{where}: need a list of rounds at which the learning rate drops, e.g. [25, 50, 75], "
                        f"got {_shown(value)}" + (f"; for one milestone write [{value}]"
                                                  if isinstance(value, numbers.Integral) else ""))
    rounds = list(value)
    for m in rounds:
        if isinstance(m, bool) or not isinstance(m, numbers.Integral):
            raise TypeError(f"{where}: milestone {_shown(m)} is not an int; milestones are round numbers, "
                            f"e.g. [25, 50, 75]")
        if m < 1:
            raise ValueError(f"{where}: milestone {m} is not a round; rounds count from 1 (e.g. [25, 50, 75])")
    repeated = sorted({m for m in rounds if rounds.count(m) > 1})
    if repeated:
        raise ValueError(f"{where}: milestone {repeated[0]} is listed more than once (the rate would drop twice "
                         f"there); list each round once")
    return [int(m) for m in rounds]


def float32_net(net, where):
    """Raise a TypeError naming ``where`` unless ``net``'s weights have the dtype of fedlab's images.

    That is float32 (float64 only where a test made float64 torch's default dtype).
    """
    images = torch.promote_types(torch.float32, torch.get_default_dtype())
    dtypes = sorted({str(p.dtype) for p in net.parameters()} - {str(images)})
    if dtypes:
        raise TypeError(f"{where} has {', '.join(dtypes)} weights, but fedlab's images are {images}; keep the "
                        f"net in float32 (undo .double()/.half() with .float(), or build the device again with "
                        f"fedlab.create_device)")


def _shown(value):
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({type(value).__name__})"
