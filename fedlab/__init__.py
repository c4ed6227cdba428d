"""fedlab: the helper library of the federated-learning course.

It holds what the assignments *use* (data, models, devices, training, progress, plots,
checks, live FL); what students *write* (samplers, averaging, quantizers, ...) lives in
their notebooks.
"""
from . import checks, plots
from .augment import normalize, random_crop_flip
from .data import DataSourceError, ImageSet, load_cifar10, load_cifar100
from .devices import create_device
from .experiments import experiment, history, keep_history
from .malicious import get_malicious_devices
from .models import ConvNet, TestNetwork, resnet20
from .progress import trange
from .quantization import quantize_model, upload_bits
from .quick import quick_mode
from .runtime import compute_device, seed_everything
from .training import evaluate, test, train

__version__ = "0.1.0"

__all__ = [
    "ConvNet", "checks", "plots", "DataSourceError", "ImageSet", "TestNetwork", "compute_device", "create_device", "evaluate", "experiment", "get_malicious_devices", "history", "keep_history",
    "load_cifar10", "load_cifar100", "normalize", "quantize_model", "quick_mode", "random_crop_flip", "resnet20",
    "seed_everything", "test", "train", "trange", "upload_bits",
]

quick_mode()  # announce quick mode once, where the notebook imports fedlab
