"""Which device of a round turns malicious (used in 04 §4.1 and §4.2).

The original course drew it from an unseeded numpy generator, so no run repeated; here the draw
comes from Python's ``random``, which :func:`fedlab.seed_everything` seeds.
"""
import random


def get_malicious_devices(devices):
    """A list holding one of the round's ``devices``, chosen uniformly at random (seeded).

    The round loop replaces that device's weights with your ``generate_fake_weights`` before averaging.
    """
    if not isinstance(devices, (list, tuple)) or not devices:
        raise ValueError(f"get_malicious_devices(devices=...): pass the round's devices as a non-empty list, "
                         f"e.g. get_malicious_devices(round_devices); got {devices!r:.80}")
    return [random.choice(devices)]
