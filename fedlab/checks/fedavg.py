"""Checks for assignment 01, federated averaging on IID data.

Each check compares the student's function with fixed values (the curriculum's averaging
example, three models whose entries are 0, 1 and 2) and with properties that any correct
answer has (sizes, distinct indices, independence, uniform coverage); none of them holds a
solution of the task.
"""
import torch

from ..models import TestNetwork
from ._kit import (LabelSet, call, chosen_list, fail, labels_unchanged, list_unchanged, make_devices, mean_overlap,
                   partition_of, passed, repeatable, rounded, seeded)

__all__ = ["check_iid_sampler", "check_average_weights", "check_get_devices_for_round"]

# The curriculum's averaging example: two TestNetworks filled with .normal_() after torch.manual_seed(0).
EXPECTED_AVERAGE = {
    "layer1.weight": [[0.3245, -0.9013], [-0.9042, 1.0125]],
    "layer1.bias": [-0.0724, -0.3119],
    "layer2.weight": [[0.2976, 1.0509], [-1.0048, -0.5972], [-0.3088, -0.2682], [-0.1690, -0.1060]],
    "layer2.bias": [-0.4396, 0.3327, -1.3925, 0.3160],
}
ATOL = 1e-2


def check_iid_sampler(iid_sampler):
    """``iid_sampler(dataset, num_devices, data_pct)``: sizes, ids, distinct indices, independence, uniformity."""
    task = "iid_sampler"
    with seeded(0):
        # the experiment's own sizes: 50 devices with 10 % of 50,000 images each
        targets = [i % 10 for i in range(50000)]
        data = LabelSet(targets)
        used = "iid_sampler(50,000 images, num_devices=50, data_pct=0.1)"
        partition_of(task, used, call(task, iid_sampler, used, data, 50, 0.1), 50, 5000, 50000)
        labels_unchanged(task, used, data, targets)

        # the size is round(data_pct * len(dataset)): 3.7 gives 4 (not the floor), 3.2 gives 3 (not the ceiling)
        data = LabelSet([0] * 1000)
        for pct, size in ((0.0037, 4), (0.0032, 3)):
            used = f"iid_sampler(1,000 images, num_devices=3, data_pct={pct}): round({pct} * 1000) = {size}"
            partition_of(task, used, call(task, iid_sampler, used, data, 3, pct), 3, size, 1000)

        # the same seed, the same devices' data: the experiments repeat from one fedlab.seed_everything call
        repeatable(task, "iid_sampler(1,000 images, num_devices=4, data_pct=0.05)", iid_sampler, data, 4, 0.05)

        # many devices over a small set: independent devices, every part of the set equally likely
        used = "iid_sampler(1,000 images, num_devices=200, data_pct=0.1)"
        parts = partition_of(task, used, call(task, iid_sampler, used, data, 200, 0.1), 200, 100, 1000)
        for d, idxs in parts.items():
            if max(idxs) - min(idxs) + 1 == len(idxs):
                fail(task, used, "indices drawn at random from the whole data set",
                     f"device {d} holds one contiguous block {min(idxs)}..{max(idxs)}")
        for d in range(199):
            if set(parts[d]) == set(parts[d + 1]):
                fail(task, used, "every device drawing its own random sample",
                     f"devices {d} and {d + 1} hold the same {len(parts[d])} indices")
        per_tenth = [0] * 10
        for idxs in parts.values():
            for i in idxs:
                per_tenth[i // 100] += 1
        if not all(1800 <= n <= 2200 for n in per_tenth):
            fail(task, used, "indices spread uniformly: about 2000 of the 20,000 drawn indices in each tenth of "
                             "the data set (1800 to 2200 accepted)", f"per tenth: {per_tenth}")
        overlap = mean_overlap(parts)
        if not 8.5 <= overlap <= 11.5:
            fail(task, used, "devices drawing independently: two devices share about 100 * 100 / 1000 = 10 "
                             "indices on average (8.5 to 11.5 accepted)",
                 f"they share {overlap:.1f} on average",
                 hint="each device draws its own random sample; samples may overlap across devices")
    passed(task, "50 devices x 5000 distinct indices, sizes rounded, repeatable, devices independent, coverage "
                 "uniform, data set unchanged")


def _snapshot(devices):
    return [{k: v.detach().clone() for k, v in d["net"].state_dict().items()} for d in devices]


def _unchanged(task, used, devices, before):
    for d, saved in zip(devices, before):
        for k, v in d["net"].state_dict().items():
            if not torch.equal(v, saved[k]):
                fail(task, used, "every device's weights left as they were",
                     f"device {d['id']}'s {k} changed from {rounded(saved[k].flatten()[:4])} "
                     f"to {rounded(v.flatten()[:4])}",
                     hint="copy (or build new tensors) before adding in place")


def _compare_average(task, used, result, expected, dtypes):
    """``result`` has exactly ``expected``'s keys and values within ATOL of them.

    Every entry is float32; an integer entry (``num_batches_tracked``, whose input dtype is in
    ``dtypes``) may also keep its own integer dtype, and then may be rounded either way.
    """
    if not hasattr(result, "keys"):
        fail(task, used, "an OrderedDict {state-dict key: averaged tensor}", type(result).__name__)
    if list(result.keys()) != list(expected):
        fail(task, used, f"the state-dict keys {list(expected)}", f"{list(result.keys())}")
    for key, want in expected.items():
        got = result[key]
        if not torch.is_tensor(got):
            fail(task, used, f"a tensor for {key}", type(got).__name__)
        own = dtypes[key]
        if got.dtype != torch.float32 and not (got.dtype == own and not own.is_floating_point):
            allowed = "torch.float32" + ("" if own.is_floating_point else f" or its own {own}")
            fail(task, used, f"{key} averaged in 32-bit float ({allowed})", f"dtype {got.dtype}",
                 hint="convert every entry with .float() before averaging, integer buffers included")
        got = got.detach().cpu()
        # an integer average may be rounded either way: less than 1 from the mean
        close = torch.allclose(got, want, atol=ATOL) if got.is_floating_point() else \
            bool(((got.float() - want).abs() < 1).all())
        if got.shape != want.shape or not close:
            fail(task, used, f"{key} = {rounded(want)} (atol {ATOL})", f"{rounded(got)}")


def check_average_weights(average_weights):
    """``average_weights(devices)``: the curriculum's example, a BatchNorm net, devices left unmodified."""
    task = "average_weights"
    with seeded(0):  # building the nets must not shift the student's random numbers
        for nets, used, expected in (_curriculum_example(), _batchnorm_example()):
            devices = make_devices(nets)
            before = _snapshot(devices)
            result = call(task, average_weights, used, devices)
            _compare_average(task, used, result, expected, {k: v.dtype for k, v in before[0].items()})
            _unchanged(task, used, devices, before)
    passed(task, "the curriculum's two-device example and BatchNorm nets (buffers and their integer counter "
                 "averaged too); devices unmodified")


def _curriculum_example():
    """Two TestNetworks filled with .normal_() in a fixed order after torch.manual_seed(0), and their average."""
    nets = [TestNetwork(), TestNetwork()]
    torch.manual_seed(0)
    with torch.no_grad():
        for net in nets:
            for key in EXPECTED_AVERAGE:
                net.state_dict()[key].normal_()
    used = ("two devices with fedlab.TestNetwork; after torch.manual_seed(0) each entry filled with .normal_() in "
            "the order layer1.weight, layer1.bias, layer2.weight, layer2.bias, device 0 then device 1")
    return nets, used, {k: torch.tensor(v) for k, v in EXPECTED_AVERAGE.items()}


def _batchnorm_example():
    """Three nets with BatchNorm whose every entry is 0, 1 and 2 (integer counter included): the mean is 1.0."""
    nets = [torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)) for _ in range(3)]
    with torch.no_grad():
        for value, net in enumerate(nets):
            for tensor in net.state_dict().values():
                tensor.fill_(value)
    used = ("three devices with Sequential(Linear(2, 3), BatchNorm1d(3)); every entry of device i's state dict "
            "is i, the integer num_batches_tracked included")
    return nets, used, {k: torch.ones_like(v, dtype=torch.float32) for k, v in nets[0].state_dict().items()}


def check_get_devices_for_round(get_devices_for_round):
    """``get_devices_for_round(devices, device_pct)``: round(pct * n) distinct devices, chosen uniformly."""
    task = "get_devices_for_round"
    with seeded(0):
        devices = make_devices([TestNetwork() for _ in range(50)])
        # sizes follow round(): 0.7 -> 1, 3.6 -> 4 (not the floor), 2.2 -> 2 and 4.2 -> 4 (not the ceiling)
        for n, pct, want in [(50, 0.1, 5), (10, 0.07, 1), (20, 0.18, 4), (20, 0.11, 2), (30, 0.14, 4), (10, 1.0, 10)]:
            used = f"get_devices_for_round({n} devices with ids 0..{n - 1}, device_pct={pct})"
            pool = devices[:n]
            ids = chosen_list(task, used, call(task, get_devices_for_round, used, pool, pct), pool)
            list_unchanged(task, used, pool, devices[:n])
            if len(ids) != want:
                fail(task, used, f"round({pct} * {n}) = {want} devices", f"{len(ids)}: ids {ids}",
                     hint="round(), not int() (which cuts off) nor math.ceil() (which rounds up)")
            if len(set(ids)) != len(ids):
                fail(task, used, f"{want} distinct devices", f"ids {ids}", hint="choose without replacement")
        repeatable(task, "get_devices_for_round(50 devices, device_pct=0.1)", get_devices_for_round, devices[:], 0.1)

        used = "get_devices_for_round(10 devices, device_pct=0.3), called 3000 times"
        counts = [0] * 10
        pool = devices[:10]
        for _ in range(3000):
            for i in chosen_list(task, used, call(task, get_devices_for_round, used, pool, 0.3), pool):
                counts[i] += 1
        if not all(765 <= c <= 1035 for c in counts):
            fail(task, used, "every device chosen about 900 times (765 to 1035 accepted)",
                 f"times chosen per device id: {counts}", hint="choose at random on every call")
    list_unchanged(task, used, pool, devices[:10])
    passed(task, "a list of round(device_pct * n) distinct devices from the list, each equally likely, repeatable; "
                 "the list unchanged")
