"""Experiment histories saved beside the notebook, so a grader sees the student's full run.

Autograding re-executes a notebook in quick mode, which would redraw every plot from two rounds,
and a long experiment cell may not even finish within the grader's time limit. So an experiment
runs through :func:`experiment`: a full run saves what it measured, with how it was made, to
``<name>.history.json`` in the notebook's folder (handed in with the notebook); a quick re-run
(grading) that finds a saved full run returns it at once without running the experiment. Plot
cells read :func:`history`, which never depends on a variable an interrupted cell did not set.
"""
import json
import math
import platform
import time
from pathlib import Path

from . import quick

_runs = {}  # name -> values of the experiments run (or loaded) in this process
PLANNED = ("rounds", "epochs", "test_every")  # config keys that fix how many values a full run has


class MarkedList(list):
    """A history's values that are not a full run; ``not_full_run`` says why (the plots show it)."""
    not_full_run = ""


class MarkedDict(dict):
    """Per-group values (02) that are not a full run; ``not_full_run`` says why."""
    not_full_run = ""


def marked(values, reason):
    """``values`` carrying ``reason`` for :mod:`fedlab.plots`, or ``values`` as they are without a reason."""
    if not reason or not isinstance(values, (list, dict)):
        return values
    out = MarkedList(values) if isinstance(values, list) else MarkedDict(values)
    out.not_full_run = reason
    return out


def points(values) -> int:
    """How many values a history holds: the list's length, or the shortest series of a ``{label: list}``."""
    series = list(values.values()) if isinstance(values, dict) else [values]
    return min((len(v) for v in series if isinstance(v, list)), default=0)


def planned(config: dict):
    """How many values a full run with ``config`` has: its rounds, or epochs / test_every (01's lone device).

    None when the config does not fix it (05's ``max_rounds``: a live run may stop at its target accuracy).
    """
    if isinstance(config.get("rounds"), int):
        return config["rounds"]
    every = config.get("test_every", 1)
    if isinstance(config.get("epochs"), int) and isinstance(every, int) and every > 0:
        return math.ceil(config["epochs"] / every)
    return None


def not_full_run(values, made, config=None):
    """Why a saved history is not a full run of the experiment (``config``: the notebook's), or None when it is.

    Used when a graded notebook draws a saved run, by ``fedlab pack`` and by the course's grade table.
    """
    if not isinstance(made, dict):
        return "no record of how it was made"
    if made.get("quick_mode", True):
        return "made in quick mode"
    saved = made.get("config") if isinstance(made.get("config"), dict) else {}
    for key in PLANNED:
        if config is not None and key in config and saved.get(key) != config[key]:
            return f"made with {key}={saved.get(key)!r}, but this notebook's experiment has {key}={config[key]!r}"
    count = planned(saved)
    if count is not None and points(values) != count:
        return f"{points(values)} of {count} {'rounds' if 'rounds' in saved else 'values'}"
    return None


def history_path(name: str, folder=None) -> Path:
    """Where history ``name`` is saved: the notebook's folder (the working directory), or ``folder``."""
    return Path(folder or Path.cwd()) / f"{name}.history.json"


def _checked_name(name, where):
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"{where}(name={name!r}): use letters, digits, '-' and '_' only, e.g. 'fedavg_iid'")
    return name


def provenance(config: dict, wall_time: float, values=None) -> dict:
    """How a history was made: library version, the experiment's configuration, the values it completed (rounds,
    epochs), wall time, compute device."""
    import torch

    from . import __version__
    from .runtime import compute_device

    device = compute_device()
    return {"fedlab": __version__, "config": config, "completed": points(values or []),
            "wall_time_s": round(wall_time, 1),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device.type} "
                      f"({platform.processor() or platform.machine()})",
            "quick_mode": quick.quick_mode()}


def load(name: str, folder=None):
    """``(values, provenance)`` of the saved history ``name`` (in ``folder``, default here), or None if there is none.

    Used in 03 §3.3 to draw 01's saved 32-bit run (``folder="../01_fedavg"``).
    """
    path = history_path(name, folder)
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path} is not a history fedlab wrote ({err}); delete it, or put back the file your full "
                         f"run saved") from None
    if not isinstance(saved, dict) or "values" not in saved:
        raise ValueError(f"{path} is not a history fedlab wrote (no 'values'); delete it, or put back the file your "
                         f"full run saved")
    return saved["values"], saved.get("provenance")


def experiment(name: str, run, **config):
    """The values of experiment ``name``: ``run()``'s, or a saved full run's when the notebook is graded.

    In quick mode (grading, CI) a saved ``<name>.history.json`` is returned, saying so, and ``run`` is
    not called; one that does not fit ``config`` (:func:`not_full_run`) comes back marked, and its
    plots say "not from a full run". A quick run's values are marked too. Otherwise ``run()`` (a function of no arguments returning what JSON holds: a
    list of accuracies, a ``{label: list}`` dict, ...) runs; a full run saves its values with their
    provenance and ``config`` (rounds, devices, ... as keyword arguments). Used by every experiment cell.
    """
    _checked_name(name, "experiment")
    if not callable(run):
        raise TypeError(f"experiment({name!r}, run=...): pass a function that runs the experiment and returns its "
                        f"values, e.g. experiment({name!r}, run_rounds); got {type(run).__name__}")
    saved = load(name) if quick.quick_mode() else None
    if saved is not None:
        reason = not_full_run(*saved, json.loads(json.dumps(config)))
        if reason is None:
            print(f"fedlab: quick mode; using the full run saved in {history_path(name).name} instead of running "
                  f"'{name}' again.")
        else:
            print(f"fedlab: quick mode; {history_path(name).name} is NOT FROM A FULL RUN ({reason}); its values are "
                  f"used, and drawn marked so.")
        _runs[name] = marked(saved[0], reason)
        return _runs[name]
    start = time.monotonic()
    values = run()
    if not quick.quick_mode():
        record = {"values": values, "provenance": provenance(config, time.monotonic() - start, values)}
        history_path(name).write_text(json.dumps(record))
    _runs[name] = marked(values, "a quick-mode run" if quick.quick_mode() else None)
    return _runs[name]


def history(name: str):
    """The values of experiment ``name`` for a plot cell: this session's run, else the saved full run."""
    _checked_name(name, "history")
    if name in _runs:
        return _runs[name]
    saved = load(name)
    if saved is not None:
        reason = not_full_run(*saved)
        print(f"fedlab: drawing the full run saved in {history_path(name).name}." if reason is None else
              f"fedlab: drawing {history_path(name).name}, NOT FROM A FULL RUN ({reason}).")
        return marked(saved[0], reason)
    raise LookupError(f"experiment '{name}' has not run in this session and no {history_path(name).name} is saved "
                      f"here: run the experiment cell above (to the end) first.")

