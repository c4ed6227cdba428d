"""Judges: an assignment's hidden tests, run by the grader outside the submission's sandbox.

Each assignment has a judge module (``fedavg`` for 01) with one plan per graded test cell: the calls
to make (a student function on fixtures and plain arguments, see course/answer.py) and a verdict on
what came back. :func:`ask` runs the responder in a sandbox on the submission's notebook and turns
each plan's answers into a :class:`Verdict`. Everything from inside is read as plain data (JSON, and
numpy arrays without pickle) and checked before use: an answer that is not what a verdict expects,
a crash, a dead interpreter or a time-out fails that plan alone. Used by course/safe_grade.py.
"""
import contextlib
import functools
import importlib
import io
import json
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import sandbox

ANSWER = Path(__file__).resolve().parent.parent / "answer.py"
MAX_ANSWER_BYTES = 64 * 2**20
JUDGES = {"01_fedavg": "fedavg", "02_noniid": "noniid", "03_quantization": "quantization",
          "04_malicious": "malicious", "05_live": "live"}  # assignment -> judge module of this package
DTYPES = {str(d): d for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8,
                              torch.int16, torch.int32, torch.int64, torch.bool)}


@functools.lru_cache(maxsize=None)
def dataset(name: str) -> tuple:
    """``fedlab.load_<name>()`` (``"cifar10"`` or ``"cifar100"``), read once and quietly: the data the notebooks
    load (FEDLAB_DATA names it), for the judges' expected values and the grader's cache before any sandbox."""
    import fedlab

    with contextlib.redirect_stdout(io.StringIO()):  # fedlab says which data set it loads
        return getattr(fedlab, f"load_{name}")()


def judge(assignment: str):
    """The judge module of ``assignment`` (its hidden tests), or None for an assignment without one."""
    return importlib.import_module(f"{__name__}.{JUDGES[assignment]}") if assignment in JUDGES else None


# ---------------------------------------------------------------- what came back, as plain Python values

class Unreadable(ValueError):
    """An answer that is not the plain data the responder writes."""


@dataclass(frozen=True)
class Ref:
    """An item of a fixture the judge passed (a device dict), by its index: the object itself came back."""
    index: int


@dataclass(frozen=True)
class Opaque:
    """Something that is not plain data (a class instance...): only its type name crossed."""
    type_name: str


@dataclass(frozen=True)
class ImageSetView:
    """A fedlab.ImageSet that came back (05): what the responder read of it, never all its images.

    ``data_*`` describe its ``data`` (type name, dtype, shape); ``rows`` are the image rows the call asked
    for and ``sums`` every image's pixel sum (both None when ``data`` is no tensor or array); ``batch`` the
    normalized images of the indices asked for.
    """
    type_name: str
    length: int
    data_type: str
    data_dtype: str
    data_shape: tuple
    labels: object
    mean: object
    std: object
    pad_mode: object
    rows: list = None
    sums: object = None
    batch: object = None


class ReadOnce:
    """An iterator (map, generator) that came back: its items, and it still looks read-once."""

    def __init__(self, type_name, items):
        self.type_name, self.items = type_name, items

    def __iter__(self):
        return iter(self.items)

    def __next__(self):
        raise StopIteration


def type_name(value) -> str:
    """The type name the student's value had inside."""
    return getattr(value, "type_name", None) or type(value).__name__


def _need(ok, what):
    if not ok:
        raise Unreadable(what)


def decode(node, arrays):
    """A node of answers.json as a Python value; an Unreadable for anything the responder would not write."""
    _need(isinstance(node, dict) and isinstance(node.get("kind"), str), "a value without its kind")
    kind, name = node["kind"], node.get("type", "")
    _need(isinstance(name, str), "a type name that is not text")
    if kind == "const":
        _need(node.get("value") in (None, True, False), "a constant other than None, True, False")
        return node["value"]
    if kind == "int":
        _need(type(node.get("value")) is int, "an int that is not one")
        return node["value"] if name in ("int", "") else np.int64(node["value"])
    if kind == "float":
        _need(type(node.get("value")) in (int, float), "a float that is not one")
        if name == "float":
            return float(node["value"])
        # a numpy scalar keeps its width: np.float32 is no Python float, as in the notebook's isinstance tests
        return {"float32": np.float32, "float16": np.float16}.get(name, np.float64)(node["value"])
    if kind == "str":
        _need(isinstance(node.get("value"), str), "a string that is not one")
        return node["value"]
    if kind in ("tensor", "ndarray"):
        _need(node.get("array") in arrays, "a tensor whose array is missing")
        array = arrays[node["array"]]
        if kind == "ndarray":
            return array
        _need(node.get("dtype") in DTYPES, f"a tensor of an unknown dtype {str(node.get('dtype'))[:40]}")
        return torch.from_numpy(array).to(DTYPES[node["dtype"]])
    if kind == "ref":
        _need(type(node.get("index")) is int, "a reference without an index")
        return Ref(node["index"])
    if kind == "object":
        return Opaque(name)
    if kind in ("list", "tuple", "iterator"):
        if "ints" in node:
            _need(isinstance(node["ints"], list) and all(type(v) is int for v in node["ints"]), "ints that are not")
            items = node["ints"]
        elif "refs" in node:
            _need(isinstance(node["refs"], list) and all(type(v) is int for v in node["refs"]), "refs that are not")
            items = [Ref(v) for v in node["refs"]]
        else:
            _need(isinstance(node.get("items"), list), "a sequence without items")
            items = [decode(v, arrays) for v in node["items"]]
        return ReadOnce(name, items) if kind == "iterator" else items if kind == "list" else tuple(items)
    if kind == "dict":
        _need(isinstance(node.get("items"), list) and all(isinstance(p, list) and len(p) == 2 for p in node["items"]),
              "a dict without its items")
        pairs = [(decode(k, arrays), decode(v, arrays)) for k, v in node["items"]]
        _need(all(isinstance(k, (int, float, str, bool, tuple, Ref, Opaque, type(None))) for k, _ in pairs),
              "a dict key that is not plain")
        return OrderedDict(pairs) if name == "OrderedDict" else dict(pairs)
    if kind == "imageset":
        return _image_set(node, arrays)
    raise Unreadable(f"an unknown kind {kind[:40]!r}")


def _image_set(node, arrays) -> ImageSetView:
    data = node.get("data")
    _need(type(node.get("length")) is int and isinstance(data, dict) and isinstance(data.get("type"), str)
          and isinstance(data.get("dtype"), str) and isinstance(data.get("shape"), list)
          and all(type(n) is int for n in data["shape"]), "an image set without its length or data")
    _need(isinstance(node.get("rows", []), list), "an image set whose rows are no list")
    labels = decode(node.get("labels"), arrays)
    rows = [decode(row, arrays) for row in node["rows"]] if "rows" in node else None
    sums = decode(node["sums"], arrays) if "sums" in node else None
    batch = decode(node["batch"], arrays) if "batch" in node else None
    _need(torch.is_tensor(labels) and all(torch.is_tensor(row) for row in rows or [])
          and (sums is None or isinstance(sums, np.ndarray)) and (batch is None or torch.is_tensor(batch)),
          "an image set whose labels, rows, sums or batch are no arrays")
    return ImageSetView(node.get("type", ""), node["length"], data["type"], data["dtype"], tuple(data["shape"]), labels,
                        decode(node.get("mean"), arrays), decode(node.get("std"), arrays),
                        decode(node.get("pad_mode"), arrays), rows, sums, batch)


@dataclass
class Answer:
    """One call's result: its value (decoded) or the exception it raised; ``after``: its inputs afterwards."""
    value: object = None
    error: tuple = None          # (exception type name, message)
    after: list = field(default_factory=list)
    arrays: dict = field(default_factory=dict)  # what ``after``'s tensors refer to (decode them with it)
    elapsed: float = None  # seconds the call took as timed inside: used only to fail a call too slow

    def result(self, used, function):
        """The value, or an AssertionError saying which input made the function raise what."""
        if self.error:
            raise AssertionError(f"{used}: {function} raised {self.error[0]}: {self.error[1]}")
        return self.value


def answers(raw, arrays) -> list:
    """One plan's answers: for every call a list of :class:`Answer` (several when the call repeats)."""
    _need(isinstance(raw, list), "no list of answers")
    calls = []
    for call in raw:
        _need(isinstance(call, dict) and isinstance(call.get("answers"), list), "a call without answers")
        found = []
        for one in call["answers"]:
            _need(isinstance(one, dict) and isinstance(one.get("after", []), list), "an answer of the wrong form")
            if "error" in one:
                err = one["error"]
                _need(isinstance(err, dict) and isinstance(err.get("type"), str)
                      and isinstance(err.get("message"), str), "an exception of the wrong form")
                found.append(Answer(error=(err["type"][:80], err["message"][:500]), after=one.get("after", []),
                                    arrays=arrays))
            else:
                elapsed = one.get("elapsed")
                _need(elapsed is None or type(elapsed) in (int, float), "a time that is not a number")
                found.append(Answer(decode(one.get("value"), arrays), after=one.get("after", []), arrays=arrays,
                                    elapsed=elapsed))
        calls.append(found)
    return calls


# ---------------------------------------------------------------- plans, verdicts and the sandboxed run

@dataclass
class Plan:
    """The calls one graded test cell makes, the arrays they need, and its verdict on the answers.

    ``verdict(answers)`` gets a list (one per call) of lists of :class:`Answer` and raises an AssertionError
    whose message says the input used, what was expected and what came back.
    """
    calls: list
    verdict: object
    arrays: dict = field(default_factory=dict)


@dataclass
class Verdict:
    passed: bool
    message: str = ""


def ask(notebook: Path, plans: dict, limits=None, backend=None, unsandboxed=False) -> dict:
    """``{key: Verdict}``: run the responder once on ``notebook`` in a sandbox, answering every plan.

    The grader asks one graded test cell per run (one key), so a crash or time-out costs that cell only;
    tests ask many variants at once.
    """
    limits = limits or sandbox.Limits(wall_s=180, cpu_s=360)
    with tempfile.TemporaryDirectory(prefix="judge-") as scratch:
        scratch = Path(scratch)
        shutil.copy(notebook, scratch / "notebook.ipynb")
        folder = scratch / "judge"
        folder.mkdir()
        (folder / "requests.json").write_text(json.dumps({key: plan.calls for key, plan in plans.items()}))
        arrays = {name: value for plan in plans.values() for name, value in plan.arrays.items()}
        if arrays:
            np.savez(folder / "inputs.npz", **arrays)
        run = sandbox.run(["python", str(ANSWER), f"{sandbox.INSIDE}/notebook.ipynb", f"{sandbox.INSIDE}/judge"],
                          scratch, limits, env={"MPLBACKEND": "Agg", "FEDLAB_QUICK": "1"},
                          unsandboxed=unsandboxed, backend=backend, bind=[ANSWER])
        try:
            raw, arrays = _read(folder)
        except (OSError, ValueError, Unreadable) as err:
            why = run.report() or f"its answers could not be read ({type(err).__name__})"
            tail = run.output.strip()[-400:]
            message = f"the submission's code did not answer the hidden tests: {why}." + \
                      (f" The end of its output:\n{tail}" if tail else "")
            return {key: Verdict(False, message) for key in plans}
    return {key: _verdict(plan, raw.get(key), arrays) for key, plan in plans.items()}


def _read(folder):
    path = folder / "answers.json"
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_ANSWER_BYTES:
        raise Unreadable("answers.json missing or too large")
    raw = json.loads(path.read_text())
    _need(isinstance(raw, dict), "answers.json is not a dict")
    npz = folder / "answers.npz"
    if npz.is_symlink() or not npz.is_file() or npz.stat().st_size > 8 * MAX_ANSWER_BYTES:
        raise Unreadable("answers.npz missing or too large")
    with np.load(npz, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    _need(all(a.dtype.kind in "biuf" for a in arrays.values()), "arrays that are not numbers")
    return raw, arrays


def _verdict(plan, raw, arrays) -> Verdict:
    try:
        plan.verdict(answers(raw, arrays))
    except AssertionError as err:
        return Verdict(False, str(err))
    except Exception as err:  # noqa: BLE001 whatever the student's code sent back, the cell fails, grading goes on
        return Verdict(False, f"the answer to the hidden tests could not be judged ({type(err).__name__}: "
                              f"{str(err)[:300]}); return the types the task asks for")
    return Verdict(True)
