"""The responder: inside a submission's sandbox, run its code and answer the judge's calls with plain data.

Used by course/judges (the judge outside the sandbox): ``python answer.py NOTEBOOK FOLDER`` runs the
notebook's setup cell and its solution cells (never a test cell) in a fresh interpreter, then makes
the calls listed in ``FOLDER/requests.json`` (a student function on fixtures built here from plain
specs and on plain arguments, or a student class made so and its methods called in turn) and writes
what came back to ``FOLDER/answers.json`` (structure) and ``FOLDER/answers.npz`` (arrays). It holds
no test and no expected value: the judge decides. It runs with the student's code in its process, so
the judge trusts nothing here it can check itself. Standalone on purpose: the sandbox sees this file,
fedlab and the environment, not the course.
"""
import ast
import json
import signal
import sys
import time
import traceback
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from fedlab.validate import CELL_TIMEOUT_S

MAX_ITEMS = 200_000  # items read from one iterator, elements kept of one answer


class Labels:
    """A data set of labels (no images), shaped like the course's data sets; ``images=False``: loading one fails."""

    def __init__(self, targets, images=True):
        self.targets, self.images = list(targets), images
        self.labels = torch.tensor(self.targets)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        if not self.images:  # 02's hidden tests: a sampler reads dataset.targets
            raise AssertionError(f"noniid_group_sampler loaded dataset[{i}]: expected the labels read from "
                                 f"dataset.targets, without loading images")
        return torch.zeros(3, 32, 32), self.targets[i]


def layer_bn_net():
    """Conv2d, BatchNorm2d, ReLU, Linear with the names layer1, bn1, layer2 (the judge builds the same)."""
    return torch.nn.Sequential(OrderedDict(
        layer1=torch.nn.Conv2d(3, 4, 3, bias=False), bn1=torch.nn.BatchNorm2d(4), relu=torch.nn.ReLU(),
        flatten=torch.nn.Flatten(), layer2=torch.nn.Linear(4 * 6 * 6, 3)))


def fake_net():
    """04's hidden-test net for generate_fake_weights: conv and linear weights, two BatchNorms' buffers."""
    return torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, bias=True), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(64 * 4 * 4, 100), torch.nn.BatchNorm1d(100))


def answering_net():
    """02's hidden-test net for test_group: the judge zeroes its Linear and sets one BatchNorm running mean."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10), torch.nn.BatchNorm1d(10),
                               torch.nn.ReLU())


def constant_rate(current_round, initial_learning_rate):
    """05's hidden-test schedule for MyClient: its rounds only validate, so any schedule does."""
    return initial_learning_rate


def secure_net():
    """04's hidden-test net for secure_average_weights: a small conv net with one BatchNorm."""
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))


def raised(err: Exception) -> dict:
    """A student call's exception as the judge reads it: its type name and (the start of) its message."""
    return {"error": {"type": type(err).__name__, "message": str(err)[:500]}}


class Responder:
    def __init__(self, folder: Path, namespace: dict):
        self.folder, self.ns = folder, namespace
        inputs = folder / "inputs.npz"
        self.inputs = dict(np.load(inputs, allow_pickle=False)) if inputs.exists() else {}
        self.arrays = {}
        self.given_nets = {}  # id of a "device" fixture -> the net it was given, to see whether it was replaced
        self.kept = {}  # "keep" fixtures of the call being answered: the same object on every repeat

    # ------------------------------------------------------------------ fixtures from plain specs

    def fixture(self, spec, shared, repeat=0):
        if not isinstance(spec, dict) or "fixture" not in spec:
            return spec  # a plain argument (number, string, list)
        kind = spec["fixture"]
        if kind == "labels":
            targets = self.inputs[spec["array"]].tolist() if "array" in spec else [i % 10 for i in range(spec["n"])]
            return Labels(targets, images=spec.get("images", True))
        if kind in ("trainset", "testset", "train100", "test100"):
            return self.ns[kind]
        if kind == "arrays":  # 05: a list of numpy arrays (or tensors) from inputs.npz
            return [torch.from_numpy(self.inputs[name].copy()) if spec.get("tensor") else self.inputs[name].copy()
                    for name in spec["arrays"]]
        if kind == "imageset":  # 05: images [start, stop) of a split, with its labels or those sent in
            import fedlab
            split = self.ns[spec["of"]]
            start, stop = spec["rows"]
            labels = torch.from_numpy(self.inputs[spec["labels"]]) if "labels" in spec else split.labels[start:stop]
            return fedlab.ImageSet(split.data[start:stop], labels, name=spec.get("name", "t"), source=split.source,
                                   mean=split.mean, std=split.std, pad_mode=spec.get("pad_mode", "constant"))
        if kind == "schedule":
            return constant_rate
        if kind == "int_keys":  # a dict with int keys, which JSON cannot carry: [[key, value], ...]
            return {int(k): v for k, v in spec["items"]}
        if kind == "repeat":  # 1, 2, ... : the call's number, as a round or epoch counter
            return repeat + 1
        if kind == "id_dicts":  # a fresh list of the same dicts on every call, as a round loop passes them
            pool = shared.setdefault(json.dumps(spec), [{"id": i} for i in range(spec["n"])])
            return list(pool)
        if kind == "tensor":
            return torch.from_numpy(self.inputs[spec["array"]].copy())
        if kind == "device":  # one device, passed on its own; with "keep", the same one on every repeat
            if spec.get("keep") and json.dumps(spec) in self.kept:
                return self.kept[json.dumps(spec)]
            device = self.fixture(dict(spec, fixture="devices", count=1), shared)[0]
            self.kept[json.dumps(spec)] = device
            self.given_nets[id(device)] = device["net"]
            return device
        if kind == "devices":
            import fedlab
            nets = []
            for i in range(spec["count"]):
                net = {"layer_bn": layer_bn_net, "convnet": fedlab.ConvNet, "testnetwork": fedlab.TestNetwork,
                       "fake": fake_net, "secure": secure_net, "answering": answering_net}[spec["net"]]()
                if spec.get("states"):
                    prefix = f"{spec['states']}|{i}|"
                    net.load_state_dict({k[len(prefix):]: torch.from_numpy(v) for k, v in self.inputs.items()
                                         if k.startswith(prefix)})
                nets.append(net)
            first = spec.get("first_id", 0)
            if spec.get("create"):
                data = self.ns[spec.get("data", "trainset")]
                return [fedlab.create_device(net, first + i, data, [0]) for i, net in enumerate(nets)]
            return [{"net": net, "id": first + i} for i, net in enumerate(nets)]
        raise ValueError(f"unknown fixture {kind!r}")

    def after(self, spec, value, shared):
        """What the judge needs to see whether the call changed its input."""
        kind = spec.get("fixture") if isinstance(spec, dict) else None
        if kind == "labels" and spec.get("as_arrays"):  # 50,000 labels: through answers.npz, not JSON
            return {"targets": self.encode(np.asarray(value.targets), []), "labels": self.encode(value.labels, [])}
        if kind == "labels":
            return {"targets": [int(t) for t in value.targets], "labels": value.labels.tolist()}
        if kind == "testset":
            return {"targets": [int(t) for t in value.targets]}
        if kind == "id_dicts":
            pool = shared[json.dumps(spec)]
            return [next((j for j, d in enumerate(pool) if d is item), -1) for item in value][:MAX_ITEMS]
        if kind == "devices":
            return [self.encode(d["net"].state_dict(), []) for d in value]
        if kind == "tensor" or (kind == "arrays" and spec.get("report")):
            return self.encode(value, [])
        if kind == "device":  # the net it was given, whatever the call did to the dict
            net = self.given_nets[id(value)]
            return {"same_net": value.get("net") is net, "state": self.encode(net.state_dict(), []),
                    "entries": {key: self.encode(value.get(key), []) for key in spec.get("report", [])}}
        return None

    # ------------------------------------------------------------------ answers as plain data

    def array(self, values) -> str:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = values
        return name

    def encode(self, obj, refs, depth=0):
        """``obj`` as JSON-able data; tensors and arrays go to answers.npz; fixtures' items by their index."""
        kind = type(obj).__name__
        for j, ref in enumerate(refs):
            if obj is ref:
                return {"kind": "ref", "index": j}
        if depth > 20:
            return {"kind": "object", "type": kind}
        if isinstance(obj, bool) or obj is None:
            return {"kind": "const", "value": obj}
        if isinstance(obj, (int, np.integer)):
            return {"kind": "int", "type": kind, "value": int(obj)}
        if isinstance(obj, (float, np.floating)):
            return {"kind": "float", "type": kind, "value": float(obj)}
        if isinstance(obj, str):
            return {"kind": "str", "value": obj[:1000]}
        if torch.is_tensor(obj):
            data = obj.detach().cpu()
            dtype = str(data.dtype)
            if data.dtype == torch.bfloat16:
                data = data.float()
            return {"kind": "tensor", "dtype": dtype, "array": self.array(data.numpy().copy())}
        if isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
            return {"kind": "ndarray", "array": self.array(obj.copy())}
        if isinstance(obj, dict):
            items = list(obj.items())[:MAX_ITEMS]
            return {"kind": "dict", "type": kind, "items": [[self.encode(k, refs, depth + 1),
                                                             self.encode(v, refs, depth + 1)] for k, v in items]}
        if isinstance(obj, (list, tuple)) and all(type(v) is int for v in obj):  # indices: kept compact
            return {"kind": "list" if isinstance(obj, list) else "tuple", "type": kind, "ints": list(obj[:MAX_ITEMS])}
        positions = [next((j for j, ref in enumerate(refs) if v is ref), -1) for v in obj[:MAX_ITEMS]] \
            if isinstance(obj, (list, tuple)) and obj and any(obj[0] is ref for ref in refs) else []
        if positions and min(positions) >= 0:  # fixture items (chosen devices): kept compact too
            return {"kind": "list" if isinstance(obj, list) else "tuple", "type": kind, "refs": positions}
        if isinstance(obj, (list, tuple)):
            return {"kind": "list" if isinstance(obj, list) else "tuple", "type": kind,
                    "items": [self.encode(v, refs, depth + 1) for v in obj[:MAX_ITEMS]]}
        if hasattr(obj, "__next__"):  # read once: kept as it came, so the judge can say so
            items = [v for _, v in zip(range(MAX_ITEMS), obj)]
            return {"kind": "iterator", "type": kind, "items": [self.encode(v, refs, depth + 1) for v in items]}
        return {"kind": "object", "type": kind}

    def image_set(self, value, spec):
        """An ImageSet that came back, as much of it as ``spec`` asks: never all its images (25,000 in 05)."""
        import fedlab
        if not isinstance(value, fedlab.ImageSet):
            return {"kind": "object", "type": type(value).__name__}
        data = value.data
        view = {"kind": "imageset", "type": type(value).__name__, "length": len(value),
                "data": {"type": type(data).__name__, "dtype": str(getattr(data, "dtype", ""))[:40],
                         "shape": [int(n) for n in getattr(data, "shape", ())][:8]},
                "labels": self.encode(torch.as_tensor(value.labels), []), "mean": self.encode(value.mean, []),
                "std": self.encode(value.std, []), "pad_mode": self.encode(value.pad_mode, [])}
        if torch.is_tensor(data) or isinstance(data, np.ndarray):
            images = torch.as_tensor(data).cpu()
            view["rows"] = [self.encode(images[start:stop], []) for start, stop in spec.get("rows", [])]
            if spec.get("sums"):  # each image's pixel sum: every image compared, not every pixel sent
                view["sums"] = self.encode(images.reshape(len(images), -1).numpy().sum(1, dtype=np.int64), [])
        if "batch" in spec:
            view["batch"] = self.encode(value.batch(spec["batch"], "cpu")[0], [])
        return view

    def construct(self, call) -> dict:
        """05: a student class made from fixtures, then its methods called in turn, reported after each.

        A report says whether ``self.net`` is still the net the object was made with, its ``current_round``
        and, where a step asks, that net's state dict; the first call that raises ends the run.
        """
        args = [self.fixture(spec, {}) for spec in call["args"]]
        answers = []
        try:
            client = self.ns[call["construct"]](*args, **call.get("kwargs", {}))
            own = client.net
            answers.append({"value": self.encode(None, []), "after": []})
        except Exception as err:
            return {"answers": [raised(err)]}
        for step in call["steps"]:
            try:
                if step["method"] == "handle_message":
                    sent = step["message"]
                    weights = [v.cpu().numpy() for v in client.net.state_dict().values()] \
                        if sent["weights"] == "own" else [self.inputs[name].copy() for name in sent["weights"]]
                    value = client.handle_message({"weights": weights,
                                                   "config": {"current_round": sent["current_round"]}})
                else:
                    value = getattr(client, step["method"])()
                report = {"same_net": client.net is own, "current_round": self.encode(client.current_round, [])}
                if step.get("state"):
                    report["state"] = self.encode(own.state_dict(), [])
                answers.append({"value": self.encode(value, []), "after": [report]})
            except Exception as err:
                answers.append(raised(err))
                break
        return {"answers": answers}

    def answer(self, call) -> dict:
        import fedlab
        if "construct" in call:
            return self.construct(call)
        shared, answers, self.kept = {}, [], {}
        for repeat in range(call.get("repeat", 1)):  # seeded once: the repeats draw on, as rounds do
            args = [self.fixture(spec, shared, repeat) for spec in call["args"]]
            if call.get("seed") is not None and repeat == 0:
                fedlab.seed_everything(call["seed"])
            if call.get("torch_seed") is not None and repeat == 0:  # torch's generator alone, as 03's tests seed
                torch.manual_seed(call["torch_seed"])
            refs = [item for arg in args if isinstance(arg, list) for item in arg]
            refs += [arg for arg in args if isinstance(arg, dict)]  # a device passed on its own
            refs = [pool_item for pool in shared.values() for pool_item in pool] or refs
            try:
                start = time.perf_counter()
                value = self.ns[call["function"]](*args)
                elapsed = time.perf_counter() - start  # only ever a reason to fail: the judge cannot time it itself
                encoded = self.image_set(value, call["imageset"]) if "imageset" in call else self.encode(value, refs)
                answers.append({"value": encoded, "elapsed": elapsed})
            except Exception as err:  # the student's function raised: the judge says so with the input used
                answers.append(raised(err))
            answers[-1]["after"] = [self.after(spec, arg, shared) for spec, arg in zip(call["args"], args)]
        return {"answers": answers}

    def write(self, results):
        np.savez(self.folder / "answers.npz", **self.arrays)
        (self.folder / "answers.json").write_text(json.dumps(results))


DEFINITIONS = (ast.Import, ast.ImportFrom, ast.Assign, ast.FunctionDef, ast.ClassDef)


def _defines_only(source):
    """True for a cell of imports and definitions (02's ``GROUP_CLASSES``), which the solutions may use."""
    try:
        return all(isinstance(node, DEFINITIONS) for node in ast.parse(source).body)
    except SyntaxError:
        return False


def cells(notebook: Path):
    """The setup cell, the locked cells that only define, and the solution code cells, in order."""
    nb = json.loads(notebook.read_text())
    found = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or "grade_id" not in meta:
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if meta["grade_id"] == "setup" or meta.get("solution") or (
                meta.get("locked") and not meta.get("grade") and _defines_only(source)):
            found.append((meta["grade_id"], source))
    return found


class CellTimeout(BaseException):
    """A cell ran past the grader's time per cell: stopped, as nbgrader interrupts it, and the next cell runs."""


def _stop(signum, frame):
    raise CellTimeout(f"stopped after {CELL_TIMEOUT_S} s, the grader's limit per cell")


def main(notebook: str, folder: str) -> int:
    folder = Path(folder)
    requests = json.loads((folder / "requests.json").read_text())
    namespace = {"__name__": "__main__"}
    signal.signal(signal.SIGALRM, _stop)
    for grade_id, source in cells(Path(notebook)):
        signal.setitimer(signal.ITIMER_REAL, CELL_TIMEOUT_S)
        try:
            exec(compile(source, f"<cell {grade_id}>", "exec"), namespace)
        except BaseException:  # noqa: B036 a cell that fails (or exits, or runs too long) fails alone, as in
            print(f"cell {grade_id} raised:\n{traceback.format_exc(limit=-3)}")  # the notebook
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    responder = Responder(folder, namespace)
    results = {key: [responder.answer(call) for call in calls] for key, calls in requests.items()}
    responder.write(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
