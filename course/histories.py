"""Which handed-in histories are not a full run of their notebook's experiment: the grade table flags them.

A history (``<name>.history.json``) is the student's own file, so the grader reads it as plain JSON
(size-capped) and judges it with fedlab's rule (``fedlab.experiments.not_full_run``) against what the
release's experiment cells plan: ``fedlab.experiment("name", run, rounds=num_rounds, ...)`` with each
keyword's value found in the release's own code (``num_rounds = 100``), never by running it.
"""
import ast
import json
from pathlib import Path

from fedlab.experiments import PLANNED, not_full_run

MAX_HISTORY_BYTES = 16 * 2**20


def plans(release_nb) -> dict:
    """``{experiment name: {planned key: value}}`` of the release's ``fedlab.experiment`` calls."""
    names, calls = {}, []
    for cell in release_nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    names.setdefault(node.targets[0].id, ast.literal_eval(node.value))
                except ValueError:
                    pass
            elif isinstance(node, ast.Call) and ast.unparse(node.func) == "fedlab.experiment" and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                calls.append(node)
    found = {}
    for call in calls:
        config = {}
        for keyword in call.keywords:
            if keyword.arg in PLANNED:
                value = keyword.value
                config[keyword.arg] = names.get(value.id) if isinstance(value, ast.Name) else \
                    ast.literal_eval(value) if isinstance(value, ast.Constant) else None
        found[call.args[0].value] = config
    return found


def flags(folder: Path, release_nbs) -> list:
    """``["<name>.history.json: not from a full run (why)", ...]`` for the histories handed in in ``folder``,
    judged against the experiments of the assignment's release notebooks ``release_nbs``."""
    planned = {name: config for nb in release_nbs for name, config in plans(nb).items()}
    notes = []
    for path in sorted(Path(folder).glob("*.history.json")):
        name = path.name[:-len(".history.json")]
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_HISTORY_BYTES:
            notes.append(f"{path.name}: not read (not a plain file, or over {MAX_HISTORY_BYTES >> 20} MB)")
            continue
        try:
            saved = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            notes.append(f"{path.name}: not a history fedlab wrote (not JSON)")
            continue
        if not isinstance(saved, dict) or not isinstance(saved.get("values"), (list, dict)):
            notes.append(f"{path.name}: not a history fedlab wrote (no values)")
            continue
        reason = not_full_run(saved["values"], saved.get("provenance"), planned.get(name))
        if reason:
            notes.append(f"{path.name}: not from a full run ({reason})")
    return notes

