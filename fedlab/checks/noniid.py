"""Checks for assignment 02, non-IID data and fairness.

The setting is fixed by the curriculum: 60 devices in three groups of 20; devices 0-19 hold
classes 0-3, 20-39 classes 4-6, 40-59 classes 7-9. The checks test that layout, sizes,
distinct indices, independence and uniformity on label-only data sets, and measure per-group
accuracy with nets whose answers are known; none holds a solution.
"""
import torch

from ..devices import create_device
from ..models import TestNetwork
from ._kit import (LabelSet, as_indices, balanced_labels, call, chosen_list, fail, labels_unchanged, list_unchanged,
                   make_devices, mean_overlap, partition_of, passed, repeatable, rounded, seeded)

__all__ = ["check_noniid_group_sampler", "check_get_devices_for_round_group", "check_group_test_split",
           "check_test_group"]

GROUP_CLASSES = {0: [0, 1, 2, 3], 1: [4, 5, 6], 2: [7, 8, 9]}
DEVICES_PER_GROUP = 20
# 50,000 labels, strongly unbalanced within each group (pools of 20,000 / 15,000 / 15,000 images):
# a sampler that takes an equal count of every class cannot pass for a uniform one
UNBALANCED_COUNTS = [9000, 1500, 3000, 6500, 2000, 8500, 4500, 1800, 6000, 7200]


def group_of(device_id: int) -> int:
    return device_id // DEVICES_PER_GROUP


def _unbalanced_labels():
    labels = torch.arange(10).repeat_interleave(torch.tensor(UNBALANCED_COUNTS))
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(2))].tolist()


def check_noniid_group_sampler(noniid_group_sampler):
    """``noniid_group_sampler(dataset, num_items_per_device)``: 60 devices, each from its group's classes only."""
    task = "noniid_group_sampler"
    with seeded(0):
        # 50,000 labels without images (dataset[i] raises), per class: UNBALANCED_COUNTS
        targets = _unbalanced_labels()
        data = LabelSet(targets, images=False)
        used = (f"noniid_group_sampler(50,000 labels, per class {UNBALANCED_COUNTS}, "
                f"num_items_per_device=5000)")
        parts = partition_of(task, used, call(task, noniid_group_sampler, used, data, 5000), 60, 5000, 50000)
        labels_unchanged(task, used, data, targets)
        for d, idxs in parts.items():
            g = group_of(d)
            strays = {}
            for i in idxs:
                if targets[i] not in GROUP_CLASSES[g]:
                    strays[targets[i]] = strays.get(targets[i], 0) + 1
            if strays:
                fail(task, used, f"device {d} (group {g}) holds only classes {GROUP_CLASSES[g]}",
                     f"it holds {dict(sorted(strays.items()))} (class: count) from other groups",
                     hint="devices 0-19 are group 0 (classes 0-3), 20-39 group 1 (4-6), 40-59 group 2 (7-9)")
        for g, classes in GROUP_CLASSES.items():
            members = range(g * DEVICES_PER_GROUP, (g + 1) * DEVICES_PER_GROUP)
            pool = sum(UNBALANCED_COUNTS[c] for c in classes)
            drawn = {c: 0 for c in classes}
            for d in members:
                for i in parts[d]:
                    drawn[targets[i]] += 1
            want = {c: round(DEVICES_PER_GROUP * 5000 * UNBALANCED_COUNTS[c] / pool) for c in classes}
            if not all(abs(drawn[c] - want[c]) <= 0.05 * want[c] for c in classes):
                fail(task, used, f"group {g}'s {DEVICES_PER_GROUP} x 5000 draws in proportion to its classes' "
                                 f"images: about {want} (class: draws, within 5 %)", f"{drawn}",
                     hint="draw uniformly from all images of the group's classes together, not a fixed number "
                          "per class")
            expected = 5000 * 5000 / pool
            overlap = mean_overlap({d: parts[d] for d in members})
            if not 0.9 * expected <= overlap <= 1.1 * expected:
                fail(task, used, f"devices of group {g} drawing independently from its {pool} images: two devices "
                                 f"share about 5000 * 5000 / {pool} = {expected:.0f} indices (within 10 %)",
                     f"they share {overlap:.0f} on average",
                     hint="each device draws its own random sample from the group's images")

        # the size comes from the argument; the same seed gives the same devices' data
        data = LabelSet(balanced_labels(100), images=False)
        used = "noniid_group_sampler(1,000 labels, 100 of each class, num_items_per_device=120)"
        partition_of(task, used, repeatable(task, used, noniid_group_sampler, data, 120), 60, 120, 1000)
    passed(task, "60 devices x 5000 distinct indices of their group's classes, drawn in proportion to unbalanced "
                 "classes, devices independent, repeatable; reads labels only and leaves them unchanged")


def check_get_devices_for_round_group(get_devices_for_round_GROUP):
    """``get_devices_for_round_GROUP(devices, device_nums)``: device_nums[g] distinct devices of each group g."""
    task = "get_devices_for_round_GROUP"
    with seeded(0):
        devices = make_devices([TestNetwork() for _ in range(60)])
        given = devices[:]
        for nums in ([1, 1, 1], [5, 1, 1], [0, 2, 3], [20, 20, 20]):
            used = f"get_devices_for_round_GROUP(60 devices with ids 0..59, device_nums={nums})"
            ids = chosen_list(task, used, call(task, get_devices_for_round_GROUP, used, given, nums), given)
            list_unchanged(task, used, given, devices)
            per_group = [sum(group_of(i) == g for i in ids) for g in range(3)]
            if per_group != nums:
                fail(task, used, f"{nums} devices of groups 0, 1, 2 (ids 0-19, 20-39, 40-59)",
                     f"ids {sorted(ids)}: {per_group} per group",
                     hint="group g is the devices devices[20 * g : 20 * (g + 1)]")
            if len(set(ids)) != len(ids):
                repeated = sorted({i for i in ids if ids.count(i) > 1})
                fail(task, used, f"{sum(nums)} distinct devices", f"ids {repeated} chosen more than once",
                     hint="choose without replacement within a group")

        repeatable(task, "get_devices_for_round_GROUP(60 devices, device_nums=[2, 2, 2])",
                   get_devices_for_round_GROUP, given, [2, 2, 2])
        nums = [5, 4, 3]
        used = f"get_devices_for_round_GROUP(60 devices, device_nums={nums}), called 4000 times"
        counts = [0] * 60
        for _ in range(4000):
            for i in chosen_list(task, used, call(task, get_devices_for_round_GROUP, used, given, nums), given):
                counts[i] += 1
        for g, n in enumerate(nums):
            want = 4000 * n / DEVICES_PER_GROUP
            group = counts[g * DEVICES_PER_GROUP:(g + 1) * DEVICES_PER_GROUP]
            if not all(0.8 * want <= c <= 1.2 * want for c in group):
                fail(task, used, f"every device of group {g} chosen about {want:.0f} times (within 20 %)",
                     f"times chosen, devices {g * DEVICES_PER_GROUP}..{(g + 1) * DEVICES_PER_GROUP - 1}: {group}",
                     hint="choose at random within each group on every call")
    list_unchanged(task, used, given, devices)
    passed(task, "a list of device_nums[g] distinct devices from each group g, each equally likely, repeatable; "
                 "the list unchanged")


def check_group_test_split(cifar_noniid_group_test):
    """``cifar_noniid_group_test(dataset)``: every index whose label is in group g, under key g."""
    task = "cifar_noniid_group_test"
    small = [3, 4, 9, 0, 6, 7, 5, 8, 1, 2]
    cases = [(LabelSet(small), f"cifar_noniid_group_test(a data set with labels {small})",
              {0: [0, 3, 8, 9], 1: [1, 4, 6], 2: [2, 5, 7]})]
    data = LabelSet(balanced_labels(1000, seed=1))
    cases.append((data, "cifar_noniid_group_test(CIFAR-10's test labels: 10,000, 1000 of each class)",
                   {g: [i for i, y in enumerate(data.targets) if y in classes]
                    for g, classes in GROUP_CLASSES.items()}))
    for data, used, expected in cases:
        targets = list(data.targets)
        result = call(task, cifar_noniid_group_test, used, data)
        labels_unchanged(task, used, data, targets)
        if not isinstance(result, dict) or sorted(result) != [0, 1, 2]:
            fail(task, used, "a dict with keys 0, 1, 2 (the groups)",
                 f"{type(result).__name__} with keys {sorted(result, key=str) if isinstance(result, dict) else '-'}")
        for g, want in expected.items():
            got = sorted(as_indices(task, used, result[g]))
            if got != want:
                wrong = sorted({data.targets[i] for i in got if 0 <= i < len(data)} - set(GROUP_CLASSES[g]))
                fail(task, used, f"group {g}: the {len(want)} indices whose label is in {GROUP_CLASSES[g]}"
                                 f"{': ' + str(want) if len(want) < 20 else ''}",
                     f"{len(got)} indices{': ' + str(got) if len(got) < 20 else ''}"
                     f"{f', including labels {wrong}' if wrong else ''}")
    passed(task, "groups 0, 1, 2 hold every index with labels 0-3, 4-6, 7-9 (4000 / 3000 / 3000 on CIFAR-10)")


def _answers_eval_only(answer):
    """A net that answers class ``answer`` in eval mode, and class 0 with BatchNorm in training mode.

    Its last layer is BatchNorm over all-zero inputs: the running mean (used in eval mode) favours
    ``answer``; a batch's own statistics (training mode) make every output 0, so the argmax is 0.
    """
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10), torch.nn.BatchNorm1d(10))
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].bias.zero_()
        net[2].running_mean[answer] = -1.0
    return net


def check_test_group(test_group, testset):
    """``test_group(epoch, device, group_idxs)``: each group's accuracy (%) on ``testset``, in eval mode, recorded.

    The nets answer one fixed class in eval mode and another with BatchNorm in training mode, so
    the expected accuracies follow from the test labels; they must come back as floats (within
    0.01 percentage points, which float32 arithmetic meets) and be appended to
    ``device["group_acc_tracker"][group]`` once per call; the net must not change.
    """
    task = "test_group"
    targets = [int(y) for y in (testset.targets.tolist() if hasattr(testset.targets, "tolist") else testset.targets)]
    sizes = {0: 150, 1: 90, 2: 120}  # one evaluation batch each, so quick mode measures them whole
    group_idxs = {g: [i for i, y in enumerate(targets) if y in GROUP_CLASSES[g]][:n] for g, n in sizes.items()}
    for answer in (5, 8):
        with seeded(0):
            device = create_device(_answers_eval_only(answer), 0, testset, [0])
        before = {k: v.detach().clone() for k, v in device["net"].state_dict().items()}
        expected = {g: 100.0 * sum(targets[i] == answer for i in idxs) / len(idxs) for g, idxs in group_idxs.items()}
        for epoch in (0, 1):
            used = (f"test_group({epoch}, a device whose net answers class {answer} for every image in eval mode "
                    f"(BatchNorm), group_idxs = the first {list(sizes.values())} test images of groups 0, 1, 2)"
                    + (", called a second time" if epoch else ""))
            accs = call(task, test_group, used, epoch, device, group_idxs)
            if not isinstance(accs, dict) or sorted(accs, key=str) != [0, 1, 2]:
                fail(task, used, "a dict {group: accuracy} with keys 0, 1, 2", repr(accs)[:120])
            for g, want in expected.items():
                got = accs[g]
                if not isinstance(got, (int, float)) or isinstance(got, bool):
                    fail(task, used, f"a float accuracy (percent) for group {g}, such as {want:.2f}",
                         f"{type(got).__name__}: {str(got)[:60]}",
                         hint=".item() turns a one-element tensor into a float; fedlab.evaluate returns a float")
                if abs(got - want) > 0.01:
                    hint = ("evaluate in eval mode (net.eval(), as fedlab.evaluate does): in training mode "
                            "BatchNorm uses the batch's statistics" if g == 0 and got > 0 else
                            "the accuracy in percent (0-100) of the device's net on this notebook's testset, "
                            "at the indices group_idxs[group]")
                    fail(task, used, f"group {g}: {want:.2f} % (within 0.01)", f"{got!r}", hint=hint)
            tracker = device.get("group_acc_tracker")
            for g, want in expected.items():
                kept = tracker.get(g) if isinstance(tracker, dict) else None
                if not isinstance(kept, list) or len(kept) != epoch + 1 or kept[-1] != accs[g]:
                    fail(task, used, f"device['group_acc_tracker'][{g}] a list of {epoch + 1} accuracies, the last "
                                     f"{accs[g]!r}",
                         f"device['group_acc_tracker'] = {str(tracker)[:120]}",
                         hint="create the dict of lists on the first call, then append each group's accuracy")
            for k, v in device["net"].state_dict().items():
                if not torch.equal(v, before[k]):
                    fail(task, used, "the device's net left as it was", f"its {k} changed from "
                         f"{rounded(before[k].flatten()[:4])} to {rounded(v.flatten()[:4])}",
                         hint="evaluate in eval mode under torch.no_grad(): in training mode BatchNorm updates its "
                              "running statistics with the test images")
    passed(task, "each group's accuracy in percent, in eval mode, returned as floats and appended to "
                 "device['group_acc_tracker']; the net unchanged")
