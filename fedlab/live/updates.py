"""Checks of the updates clients send, before the server averages them (one bad notebook must not spoil a run).

An update is rejected, with its reason, when its arrays do not fit the global model (number,
shapes, dtypes), when a value is NaN or infinite, or when it moves the global model far more
than the round's other updates do (or, alone, far beyond the global model's own norm). Only
what is left is averaged (used by :mod:`fedlab.live.server`).
"""
import statistics

import numpy as np

OUTLIER_FACTOR = 10.0  # an update may move the model up to this many times as far as the round's others do
SIZE_FACTOR = 100.0    # ... and never farther than this many times the global model's own norm (a lone client)


def fit_problem(arrays, template):
    """Why ``arrays`` cannot be the global model's weights (number, shape, dtype, finite values), or None."""
    if len(arrays) != len(template):
        return f"it sent {len(arrays)} weight arrays, the global model (ResNet-20, 100 classes) has {len(template)}"
    for (key, ref), array in zip(template.items(), arrays):
        if tuple(array.shape) != tuple(ref.shape):
            return f"'{key}' has shape {tuple(array.shape)}, the global model's has {tuple(ref.shape)}"
        if array.dtype != ref.numpy().dtype:
            return f"'{key}' has dtype {array.dtype}, the global model's has {ref.numpy().dtype}"
    for key, array in zip(template, arrays):
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
            return f"'{key}' holds {nan} NaN and {inf} infinite values"
    return None


def distance(arrays, global_arrays):
    """How far ``arrays`` move the global model: the Euclidean norm of the difference of all float arrays."""
    return float(np.sqrt(sum(np.sum((a.astype(np.float64) - g.astype(np.float64)) ** 2)
                             for a, g in zip(arrays, global_arrays) if g.dtype.kind == "f")))


def outlier_problems(distances, global_norm):
    """For each distance, why it is too far to average (or None): beyond the size bound or the round's others.

    Each is compared with the lower median of the *others*' nonzero distances, so one outlier
    cannot raise its own reference and two clients suffice; a client that sent the model back
    unchanged (distance 0) is no reference.
    """
    problems = []
    for i, d in enumerate(distances):
        others = [o for j, o in enumerate(distances) if j != i and o > 0]
        if d > SIZE_FACTOR * global_norm:
            problems.append(f"it moves the model by {d:.3g}, more than {SIZE_FACTOR:g} times the global model's "
                            f"own norm ({global_norm:.3g})")
        elif others and d > OUTLIER_FACTOR * statistics.median_low(others):
            problems.append(f"it moves the model by {d:.3g}, more than {OUTLIER_FACTOR:g} times as far as the "
                            f"round's other updates (median {statistics.median_low(others):.3g})")
        else:
            problems.append(None)
    return problems
