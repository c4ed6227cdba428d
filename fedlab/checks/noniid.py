"""Checks for assignment 02, non-IID data and fairness.

The setting is fixed by the curriculum: 60 devices in three groups of 20; devices 0-19 hold
classes 0-3, 20-39 classes 4-6, 40-59 classes 7-9. The checks test that layout, sizes,
distinct indices, independence and uniformity on label-only data sets; none holds a solution.
"""
from ..models import TestNetwork
from ._kit import (LabelSet, as_indices, balanced_labels, call, check_partition, chosen_ids, fail, make_devices,
                   mean_overlap, passed, seeded)

__all__ = ["check_noniid_group_sampler", "check_get_devices_for_round_group", "check_group_test_split"]

GROUP_CLASSES = {0: [0, 1, 2, 3], 1: [4, 5, 6], 2: [7, 8, 9]}
DEVICES_PER_GROUP = 20


def group_of(device_id: int) -> int:
    return device_id // DEVICES_PER_GROUP


def check_noniid_group_sampler(noniid_group_sampler):
    """``noniid_group_sampler(dataset, num_items_per_device)``: 60 devices, each from its group's classes only."""
    task = "noniid_group_sampler"
    with seeded(0):
        # CIFAR-10's train labels (5000 per class) without images: dataset[i] raises
        data = LabelSet(balanced_labels(5000), images=False)
        used = "noniid_group_sampler(50,000 labels, 5000 of each class, num_items_per_device=5000)"
        parts = check_partition(task, used, call(task, noniid_group_sampler, used, data, 5000), 60, 5000, 50000)
        for d, idxs in parts.items():
            g = group_of(d)
            classes = GROUP_CLASSES[g]
            counts = {c: 0 for c in range(10)}
            for i in idxs:
                counts[data.targets[i]] += 1
            strays = {c: n for c, n in counts.items() if n and c not in classes}
            if strays:
                fail(task, used, f"device {d} (group {g}) holds only classes {classes}",
                     f"it holds {strays} (class: count) from other groups",
                     hint="devices 0-19 are group 0 (classes 0-3), 20-39 group 1 (4-6), 40-59 group 2 (7-9)")
            share = 5000 / len(classes)
            if not all(0.9 * share <= counts[c] <= 1.1 * share for c in classes):
                fail(task, used, f"device {d} (group {g}) holds about {share:.0f} images of each of classes {classes} "
                                 f"(within 10 %)", f"per class: { {c: counts[c] for c in classes} }",
                     hint="draw uniformly from all images of the group's classes")
        for g, classes in GROUP_CLASSES.items():
            group = {d: parts[d] for d in range(g * DEVICES_PER_GROUP, (g + 1) * DEVICES_PER_GROUP)}
            pool = 5000 * len(classes)
            want = 5000 * 5000 / pool
            overlap = mean_overlap(group)
            if not 0.9 * want <= overlap <= 1.1 * want:
                fail(task, used, f"devices of group {g} drawing independently from its {pool} images: two devices "
                                 f"share about 5000 * 5000 / {pool} = {want:.0f} indices (within 10 %)",
                     f"they share {overlap:.0f} on average",
                     hint="each device draws its own random sample from the group's images")

        # the size comes from the argument
        data = LabelSet(balanced_labels(100), images=False)
        used = "noniid_group_sampler(1,000 labels, 100 of each class, num_items_per_device=120)"
        check_partition(task, used, call(task, noniid_group_sampler, used, data, 120), 60, 120, 1000)
    passed(task, "60 devices x 5000 distinct indices of their group's classes, reads labels only, "
                 "classes balanced, devices independent")


def check_get_devices_for_round_group(get_devices_for_round_GROUP):
    """``get_devices_for_round_GROUP(devices, device_nums)``: device_nums[g] distinct devices of each group g."""
    task = "get_devices_for_round_GROUP"
    with seeded(0):
        devices = make_devices([TestNetwork() for _ in range(60)])
        for nums in ([1, 1, 1], [5, 1, 1], [0, 2, 3], [20, 20, 20]):
            used = f"get_devices_for_round_GROUP(60 devices with ids 0..59, device_nums={nums})"
            ids = chosen_ids(task, used, call(task, get_devices_for_round_GROUP, used, devices, nums), devices)
            per_group = [sum(group_of(i) == g for i in ids) for g in range(3)]
            if per_group != nums:
                fail(task, used, f"{nums} devices of groups 0, 1, 2 (ids 0-19, 20-39, 40-59)",
                     f"ids {sorted(ids)}: {per_group} per group",
                     hint="group g is the devices devices[20 * g : 20 * (g + 1)]")
            if len(set(ids)) != len(ids):
                repeated = sorted({i for i in ids if ids.count(i) > 1})
                fail(task, used, f"{sum(nums)} distinct devices", f"ids {repeated} chosen more than once",
                     hint="choose without replacement within a group")

        nums = [5, 4, 3]
        used = f"get_devices_for_round_GROUP(60 devices, device_nums={nums}), called 4000 times"
        counts = [0] * 60
        for _ in range(4000):
            for i in chosen_ids(task, used, call(task, get_devices_for_round_GROUP, used, devices, nums), devices):
                counts[i] += 1
        for g, n in enumerate(nums):
            want = 4000 * n / DEVICES_PER_GROUP
            group = counts[g * DEVICES_PER_GROUP:(g + 1) * DEVICES_PER_GROUP]
            if not all(0.8 * want <= c <= 1.2 * want for c in group):
                fail(task, used, f"every device of group {g} chosen about {want:.0f} times (within 20 %)",
                     f"times chosen, devices {g * DEVICES_PER_GROUP}..{(g + 1) * DEVICES_PER_GROUP - 1}: {group}",
                     hint="choose at random within each group on every call")
    passed(task, "device_nums[g] distinct devices from each group g, each equally likely")


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
        result = call(task, cifar_noniid_group_test, used, data)
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
