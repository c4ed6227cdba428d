"""fedlab.get_malicious_devices (used in 04): one of the round's devices, uniformly, repeatable from one seed."""
import pytest

import fedlab


def test_one_device_of_the_round_is_chosen():
    devices = [{"id": i} for i in range(5)]
    chosen = fedlab.get_malicious_devices(devices)
    assert isinstance(chosen, list) and len(chosen) == 1 and any(chosen[0] is d for d in devices)
    assert [d["id"] for d in devices] == [0, 1, 2, 3, 4]


def test_the_choice_repeats_under_seed_everything_and_is_uniform():
    devices = [{"id": i} for i in range(5)]
    fedlab.seed_everything(3)
    first = [fedlab.get_malicious_devices(devices)[0]["id"] for _ in range(5000)]
    fedlab.seed_everything(3)
    assert [fedlab.get_malicious_devices(devices)[0]["id"] for _ in range(5000)] == first
    assert all(900 <= first.count(i) <= 1100 for i in range(5)), [first.count(i) for i in range(5)]


@pytest.mark.parametrize("devices", [[], None, {"id": 0}, 5])
def test_bad_input_names_the_argument(devices):
    with pytest.raises(ValueError, match=r"get_malicious_devices\(devices=...\): pass the round's devices"):
        fedlab.get_malicious_devices(devices)
