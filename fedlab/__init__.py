"""fedlab: the helper library of the federated-learning course.

It holds what the assignments *use* (data, models, devices, training, progress, plots,
checks, live FL); what students *write* (samplers, averaging, quantizers, ...) lives in
their notebooks.
"""
from . import checks, plots
from .augment import normalize, random_crop_flip
from .data import DataSourceError, ImageSet, load_cifar10, load_cifar100
from .devices import create_device
from .engine import train_round
from .experiments import experiment, history
from .handin import hand_in
from .malicious import get_malicious_devices
from .models import ConvNet, TestNetwork, resnet20
from .progress import trange
from .quantization import quantize_model, upload_bits
from .quick import quick_mode
from .runtime import compute_device, precision, seed_everything, set_precision
from .training import evaluate, test, train

__version__ = "0.1.0"

__all__ = [
    "checks", "compute_device", "ConvNet", "create_device", "DataSourceError", "evaluate", "experiment",
    "get_malicious_devices", "hand_in", "history", "ImageSet", "load_cifar10", "load_cifar100", "normalize", "plots",
    "precision", "quantize_model", "quick_mode", "random_crop_flip", "resnet20", "seed_everything", "set_precision",
    "test", "TestNetwork", "train", "train_round", "trange", "upload_bits",
]

quick_mode()  # announce quick mode once, where the notebook imports fedlab
