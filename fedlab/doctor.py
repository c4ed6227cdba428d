"""``python -m fedlab doctor``: what a student pastes when asking for help."""
import os
import platform
import sys


def report() -> str:
    import torch

    from . import __version__, data, quick, runtime

    lines = [f"fedlab {__version__} (fedlab-course) at {os.path.dirname(__file__)}",
             f"python {sys.version.split()[0]} on {platform.platform()}",
             f"torch {torch.__version__}"]
    for name in ("torchvision", "numpy", "flwr", "nbgrader"):
        try:
            module = __import__(name)
            lines.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            lines.append(f"{name} not installed")
    dev = runtime.compute_device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else platform.processor() or dev.type
    lines.append(f"compute device: {dev} ({name})")
    try:
        source = data.data_source()
    except data.DataSourceError as err:
        source = f"INVALID: {err}"
    lines.append(f"data source: FEDLAB_DATA={os.environ.get('FEDLAB_DATA', '(unset)')} -> {source}")
    lines += _cache_lines(data)
    lines.append(f"quick mode: {'on' if quick.quick_mode() else 'off'}")
    return "\n".join(lines)


def _cache_lines(data) -> list:
    """The cache folder and what it holds; a bad ``FEDLAB_CACHE`` is reported, not raised."""
    try:
        cache = data.cache_dir()
    except data.DataSourceError as err:
        return [f"cache: INVALID: {err}"]
    lines = [f"cache: {cache}"]
    for classes in (10, 100):
        try:
            state = "present" if data.cifar_cached(classes) else "absent"
        except Exception as err:  # torchvision missing or broken: still report the rest
            state = f"unknown ({err})"
        lines.append(f"  real CIFAR-{classes}: {state}")
    synth = sorted(p.name for p in (cache / "synthetic").glob("*.pt"))
    lines.append(f"  synthetic stand-in: {', '.join(synth) if synth else 'not generated yet'}")
    return lines
