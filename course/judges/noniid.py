"""The judge of assignment 02 (noniid.ipynb): its four graded test cells, outside the student's process.

One plan per graded test cell (its grade_id): the cell's visible test and its hidden tests, as calls
answered inside the sandbox and verdicts given here, worded like the notebook's tests. Labels and
nets are built here and sent in; the test set's labels, which test_group and cifar_noniid_group_test
are measured against, are read here from the same data set the notebook loads. Where the hidden
tests' checks imply the visible one on the same answer, they are judged first, so the message names
the mistake rather than its symptom.
"""
import functools
from collections import Counter

import numpy as np
import torch

from ..answer import answering_net
from . import Plan, ReadOnce, dataset, decode, type_name
from .fedavg import _chosen_ids

NOTEBOOK = "noniid.ipynb"
GROUPS = {0: [0, 1, 2, 3], 1: [4, 5, 6], 2: [7, 8, 9]}
DEVICES_PER_GROUP = 20
NUM_DEVICES = DEVICES_PER_GROUP * len(GROUPS)


@functools.lru_cache(maxsize=1)
def _test_targets():
    """The labels of the notebook's testset (the data set FEDLAB_DATA names), and where it came from."""
    testset = dataset("cifar10")[1]
    return tuple(int(y) for y in testset.targets), testset.source


# ---------------------------------------------------------------- test_noniid_group_sampler (10 points)

# 50,000 strongly unbalanced labels: per class 10,000, 1500, 2500, 6000 | 1800, 9000, 4200 | 6500, 2000, 6500
UNBALANCED = [10000, 1500, 2500, 6000, 1800, 9000, 4200, 6500, 2000, 6500]
FEW = (6000, 120, 34)  # labels i % 10, items per device, seed: a size other than the visible test's


def _unbalanced_targets():
    order = torch.randperm(50000, generator=torch.Generator().manual_seed(31))
    return torch.arange(10).repeat_interleave(torch.tensor(UNBALANCED))[order]


def _sampler_used(n, num, seed):
    return f"noniid_group_sampler({n} labels, num_items_per_device={num}) after fedlab.seed_everything({seed})"


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _parts(answer, targets, used, name):
    """The answer as {device: [int indices]}, after the checks of its form and of the data set left alone."""
    parts = answer.result(used, name)
    assert isinstance(parts, dict), f"{used}: expected a dict {{device_id: [indices]}}, got {type_name(parts)}"
    keys = sorted(parts, key=str)
    assert all(_is_int(k) for k in keys) and \
        sorted(int(k) for k in keys) == list(range(NUM_DEVICES)), \
        f"{used}: expected the int device ids 0..{NUM_DEVICES - 1} as keys, got {len(keys)} keys: {keys[:5]} ..."
    if targets is not None:
        after = {key: decode(node, answer.arrays) for key, node in answer.after[0].items()}
        shown = after["targets"].tolist()[:8] if hasattr(after["targets"], "tolist") else type_name(after["targets"])
        assert all(hasattr(after[key], "tolist") and after[key].tolist() == targets for key in ("targets", "labels")), \
            f"{used}: expected the data set left as it was, {targets[:8]} ..., got its labels changed, sorted or " \
            f"replaced: {shown} ..."
    out = {}
    for d, idxs in parts.items():
        assert not isinstance(idxs, ReadOnce), \
            f"{used}: expected a list of indices for device {d}, got {type_name(idxs)}, which can be read only once"
        values = idxs.tolist() if hasattr(idxs, "tolist") else idxs
        assert isinstance(values, (list, tuple)) and all(_is_int(i) for i in values), \
            f"{used}: expected a list of int indices for device {d}, got {type_name(idxs)}"
        out[int(d)] = [int(i) for i in values]
    return out


def _expect_in_groups(parts, targets, num, used):
    """Every device: ``num`` distinct indices of the data set, of its group's classes only; the draws per class."""
    drawn = Counter()
    for d, idxs in parts.items():
        assert len(idxs) == num and len(set(idxs)) == num, \
            f"{used}: expected {num} indices for device {d} ({num} distinct indices), got {len(idxs)} " \
            f"({len(set(idxs))} distinct)"
        assert min(idxs) >= 0 and max(idxs) < len(targets), \
            f"{used}: expected indices in 0..{len(targets) - 1} for device {d}, got {min(idxs)} .. {max(idxs)}"
        group = d // DEVICES_PER_GROUP
        labels = sorted({targets[i] for i in idxs})
        assert set(labels) <= set(GROUPS[group]), \
            f"{used}: expected device {d} (group {group}) to hold images of classes {GROUPS[group]} only, got " \
            f"classes {labels}: a device of group g holds only classes of group g (devices 0-19: group 0, ...)"
        drawn.update(targets[i] for i in idxs)
    return drawn


def noniid_group_sampler_plan(name="noniid_group_sampler") -> Plan:
    unbalanced = _unbalanced_targets()
    few = [i % 10 for i in range(FEW[0])]
    arrays = {"s|unbalanced": unbalanced.numpy(), "s|few": torch.tensor(few).numpy()}
    calls = [{"function": name, "args": [{"fixture": "labels", "array": "s|few", "images": False, "as_arrays": True},
                                         FEW[1]], "seed": FEW[2]},
             {"function": name, "args": [{"fixture": "trainset"}, 100]},
             {"function": name, "args": [{"fixture": "labels", "array": "s|unbalanced", "images": False,
                                          "as_arrays": True}, 1500], "seed": 32}]
    calls += [{"function": name, "args": [{"fixture": "labels", "n": 1000, "images": False, "as_arrays": True}, 7],
               "seed": 33}] * 2

    def verdict(answers):
        (few_answer,), (visible,), (timed,), (first,), (second,) = answers
        used = _sampler_used(*FEW)
        _expect_in_groups(_parts(few_answer, few, used, name), few, FEW[1], used)

        used = "noniid_group_sampler(trainset, 100)"
        parts = visible.result(used, name)
        assert isinstance(parts, dict) and all(_is_int(k) for k in parts) and \
            sorted(int(k) for k in parts) == list(range(NUM_DEVICES)), \
            f"{used}: expected device ids 0..{NUM_DEVICES - 1}, got {len(parts) if isinstance(parts, dict) else 0} ids"
        sizes = sorted({len(list(idxs)) if isinstance(idxs, ReadOnce) else len(idxs) if hasattr(idxs, "__len__")
                        else -1 for idxs in parts.values()})
        assert sizes == [100], f"{used}: expected 100 indices per device, got sizes {sizes}"

        targets = unbalanced.tolist()
        used = _sampler_used(50000, 1500, 32)
        parts = _parts(timed, targets, used, name)
        assert timed.elapsed is not None and timed.elapsed < 1.0, \
            f"{used}: expected well under a second, took {timed.elapsed or float('inf'):.2f} s; read dataset.targets"
        drawn = _expect_in_groups(parts, targets, 1500, used)
        for d in range(NUM_DEVICES - 1):
            assert d // DEVICES_PER_GROUP != (d + 1) // DEVICES_PER_GROUP or set(parts[d]) != set(parts[d + 1]), \
                f"{used}: expected every device drawing independently its own random sample, got devices {d} and " \
                f"{d + 1} holding the same {len(parts[d])} indices"
        for g, classes in GROUPS.items():
            pool = sum(UNBALANCED[c] for c in classes)
            want = {c: round(DEVICES_PER_GROUP * 1500 * UNBALANCED[c] / pool) for c in classes}
            got = {c: drawn[c] for c in classes}
            assert all(abs(got[c] - want[c]) <= 0.05 * want[c] for c in classes), \
                f"{used}: expected group {g}'s 30,000 draws in proportion to its classes' images, about {want} " \
                f"(class: draws, within 5 %), got {got}; draw num_items_per_device distinct indices uniformly from " \
                f"all of the group's images together"
            shared = [len(set(parts[d]) & set(parts[d + 1])) for d in range(20 * g, 20 * g + 19)]
            expected = 1500 * 1500 / pool  # two independent devices share this many indices on average
            assert abs(sum(shared) / 19 - expected) <= 0.15 * expected, \
                f"{used}: expected the devices of group {g} to share about {expected:.0f} indices (each drawing " \
                f"independently its own random sample), got {sum(shared) / 19:.0f}"

        small = [i % 10 for i in range(1000)]
        used = _sampler_used(1000, 7, 33)
        parts = _parts(first, small, used, name)
        assert all(len(set(v)) == 7 == len(v) for v in parts.values()), \
            f"{used}: expected 7 distinct indices for every device, got sizes " \
            f"{sorted({len(v) for v in parts.values()})}"
        assert parts == _parts(second, small, used, name), \
            f"{used}, twice: expected the same result both times, got two different ones (draw with random, " \
            f"np.random or torch, which fedlab.seed_everything seeds; not with an unseeded np.random.default_rng())"

    return Plan(calls, verdict, arrays)


# ---------------------------------------------------------------- test_get_devices_for_round_GROUP (5 points)

GROUP_ROUND_CASES = [(41, [2, 0, 4]), (42, [20, 0, 0]), (43, [1, 1, 1]), (44, [3, 7, 1])]
TWICE = (46, [2, 3, 2])
ROUNDS, ROUND_NUMS, ROUND_SEED = 4000, [4, 6, 10], 45


def _group_round_used(nums, seed):
    return f"get_devices_for_round_GROUP({NUM_DEVICES} devices with ids 0..{NUM_DEVICES - 1}, device_nums={nums}) " \
           f"after fedlab.seed_everything({seed})"


def get_devices_for_round_group_plan(name="get_devices_for_round_GROUP") -> Plan:
    pool = {"fixture": "id_dicts", "n": NUM_DEVICES}
    calls = [{"function": name, "args": [pool, [1, 1, 1]]}]
    calls += [{"function": name, "args": [pool, nums], "seed": seed} for seed, nums in GROUP_ROUND_CASES]
    calls += [{"function": name, "args": [pool, TWICE[1]], "seed": TWICE[0]}] * 2
    calls += [{"function": name, "args": [pool, ROUND_NUMS], "seed": ROUND_SEED, "repeat": ROUNDS}]

    def verdict(answers):
        (visible,), *cases, (first,), (second,), rounds = answers
        used = f"get_devices_for_round_GROUP({NUM_DEVICES} devices, [1, 1, 1])"
        chosen = visible.result(used, name)
        count = len(list(chosen)) if isinstance(chosen, (list, tuple, ReadOnce)) else type_name(chosen)
        assert count == 3, f"{used}: expected 3 devices, got {count}"
        for (answer,), (seed, nums) in zip(cases, GROUP_ROUND_CASES):
            used = _group_round_used(nums, seed)
            ids = _chosen_ids(answer, NUM_DEVICES, used, name)
            per_group = [sum(i // DEVICES_PER_GROUP == g for i in ids) for g in GROUPS]
            assert per_group == nums, f"{used}: expected {nums} devices of groups 0, 1, 2, got {per_group}: ids {ids}"
            assert len(set(ids)) == len(ids), f"{used}: expected distinct devices, got ids {sorted(ids)}"
        used = _group_round_used(TWICE[1], TWICE[0])
        ids = _chosen_ids(first, NUM_DEVICES, used, name)
        assert ids == _chosen_ids(second, NUM_DEVICES, used, name), \
            f"{used}, twice: expected the same result both times (the same devices), got {ids} and then others " \
            f"(draw with random, np.random or torch, which fedlab.seed_everything seeds)"
        used = f"get_devices_for_round_GROUP({NUM_DEVICES} devices, {ROUND_NUMS}), {ROUNDS} times after " \
               f"fedlab.seed_everything({ROUND_SEED})"
        counts = Counter(i for answer in rounds for i in _chosen_ids(answer, NUM_DEVICES, used, name))
        for i in range(NUM_DEVICES):
            want = ROUNDS * ROUND_NUMS[i // DEVICES_PER_GROUP] / DEVICES_PER_GROUP
            assert abs(counts[i] - want) <= 0.2 * want, \
                f"{used}: expected device {i} chosen about {want:.0f} times (within 20 %), got {counts[i]}"

    return Plan(calls, verdict)


# ---------------------------------------------------------------- test_cifar_noniid_group_test (3 points)

SPLIT_LABELS = [9, 9, 0, 5, 4, 4, 7, 3, 2, 8, 6, 1]


def _expect_split(answer, before, what, name):
    used = f"cifar_noniid_group_test({what})"
    split = answer.result(used, name)
    after = answer.after[0]["targets"]
    assert after == before, \
        f"{used}: expected the data set left as it was, {before[:8]} ..., got its labels changed, sorted or " \
        f"replaced: {after[:8]} ..."
    assert isinstance(split, dict) and sorted(split, key=str) == [0, 1, 2], \
        f"{used}: expected a dict with the keys 0, 1, 2 (the groups), got {str(split)[:80]}"
    for g, classes in GROUPS.items():
        want = [i for i, y in enumerate(before) if y in classes]
        values = split[g].tolist() if hasattr(split[g], "tolist") else split[g]
        assert isinstance(values, (list, tuple, ReadOnce)) and all(_is_int(i) for i in values), \
            f"{used}: expected a list of int indices for group {g}, got {type_name(split[g])}"
        got = sorted(int(i) for i in values)
        assert got == want, \
            f"{used}: expected group {g}: the {len(want)} indices whose label is in {classes}" \
            f"{': ' + str(want) if len(want) < 15 else ''}, got {len(got)} indices" \
            f"{': ' + str(got) if len(got) < 15 else ''}"
    return split


def cifar_noniid_group_test_plan(name="cifar_noniid_group_test") -> Plan:
    random_labels = torch.randint(0, 10, (2000,), generator=torch.Generator().manual_seed(51))
    arrays = {"split|few": torch.tensor(SPLIT_LABELS).numpy(), "split|random": random_labels.numpy()}
    calls = [{"function": name, "args": [{"fixture": "testset"}]},
             {"function": name, "args": [{"fixture": "labels", "array": "split|few"}]},
             {"function": name, "args": [{"fixture": "labels", "array": "split|random"}]}]

    def verdict(answers):
        (visible,), (few,), (random,) = answers
        targets, source = _test_targets()
        split = _expect_split(visible, list(targets), "this notebook's testset", name)
        count = sum(len(split[g]) for g in GROUPS)
        assert count == len(targets), \
            f"cifar_noniid_group_test(testset): expected all {len(targets)} test images in the three groups, " \
            f"got {count}"
        _expect_split(few, SPLIT_LABELS, f"a data set with labels {SPLIT_LABELS}", name)
        _expect_split(random, random_labels.tolist(), "a data set of 2000 random labels", name)
        if source == "cifar":
            sizes = [len(split[g]) for g in GROUPS]
            assert sizes == [4000, 3000, 3000], \
                f"CIFAR-10's test set: expected 4000 / 3000 / 3000 per group, got {sizes}"

    return Plan(calls, verdict, arrays)


# ---------------------------------------------------------------- test_test_group (2 points)

GROUP_SIZES = {0: 200, 1: 75, 2: 111}  # the last test images of each group
ANSWERS = (6, 9, 4)


def _answering(answer):
    """A net answering class ``answer`` in eval mode; in training mode BatchNorm's batch statistics make it answer 0."""
    net = answering_net()
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].bias.zero_()
        net[2].running_mean[answer] = -2.0
    return net


def test_group_plan(name="test_group") -> Plan:
    nets = {answer: _answering(answer) for answer in ANSWERS}
    arrays = {f"g{answer}|0|{key}": value.numpy().copy() for answer, net in nets.items()
              for key, value in net.state_dict().items()}
    targets, _ = _test_targets()
    idxs = {g: [i for i, y in enumerate(targets) if y in GROUPS[g]][-n:] for g, n in GROUP_SIZES.items()}
    groups = {"fixture": "int_keys", "items": [[g, i] for g, i in idxs.items()]}
    calls = [{"function": name, "args": [0, {"fixture": "device", "net": "convnet"},
                                         {"fixture": "int_keys", "items": [[0, [0, 1]], [1, [2]], [2, [3]]]}]}]
    calls += [{"function": name, "args": [{"fixture": "repeat"},
                                          {"fixture": "device", "net": "answering", "states": f"g{answer}",
                                           "create": True, "data": "testset", "keep": True,
                                           "report": ["group_acc_tracker"]}, groups], "repeat": 2}
              for answer in ANSWERS]

    def verdict(answers):
        (visible,), *calls_made = answers
        accs = visible.result("test_group on groups 0, 1, 2", name)
        assert isinstance(accs, dict) and sorted(accs, key=str) == [0, 1, 2], \
            f"test_group on groups 0, 1, 2: expected one accuracy per group, got {str(accs)[:80]}"
        for repeats, answer in zip(calls_made, ANSWERS):
            for call, one in enumerate(repeats, 1):
                used = f"test_group({call}, a device whose BatchNorm net answers class {answer} in eval mode, the " \
                       f"last 200 / 75 / 111 test images of groups 0 / 1 / 2), call {call}"
                _expect_group_accuracies(one, answer, call, idxs, targets, used, name)
            state = decode(repeats[-1].after[1]["state"], repeats[-1].arrays)
            for key, value in nets[answer].state_dict().items():
                assert torch.is_tensor(state.get(key)) and state[key].shape == value.shape and \
                    bool((state[key] == value).all()), \
                    f"{used}: expected the device's net left unchanged, but its {key} changed (evaluate in eval mode)"

    return Plan(calls, verdict, arrays)


def _expect_group_accuracies(one, answer, call, idxs, targets, used, name):
    accs = one.result(used, name)
    assert isinstance(accs, dict) and sorted(accs, key=str) == [0, 1, 2], \
        f"{used}: expected a dict {{group: accuracy}} with keys 0, 1, 2, got {str(accs)[:80]}"
    tracker = decode(one.after[1]["entries"]["group_acc_tracker"], one.arrays)
    for g, group_idxs in idxs.items():
        want = 100.0 * sum(targets[i] == answer for i in group_idxs) / len(group_idxs)
        got = accs[g]
        assert isinstance(got, (int, float)) and not isinstance(got, bool), \
            f"{used}: expected a float accuracy for group {g}, got {type_name(got)} (use .item())"
        assert abs(got - want) <= 0.01, \
            f"{used}: expected group {g}'s accuracy {want:.2f} % (within 0.01), got {got!r}; measure in eval mode " \
            f"on testset at group_idxs[group], in percent"
        kept = tracker.get(g) if isinstance(tracker, dict) else None
        assert isinstance(kept, list) and len(kept) == call and kept[-1] == got, \
            f"{used}: expected device['group_acc_tracker'][{g}] to be a list of {call} accuracies ending in " \
            f"{got!r}, got {str(kept)[:80]}"


PLANS = {"test_noniid_group_sampler": noniid_group_sampler_plan,
         "test_get_devices_for_round_GROUP": get_devices_for_round_group_plan,
         "test_cifar_noniid_group_test": cifar_noniid_group_test_plan, "test_test_group": test_group_plan}
