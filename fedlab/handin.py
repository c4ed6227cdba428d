"""Hand-in: one archive with the notebook and the histories its full runs saved, ready for ``nbgrader zip_collect``.

``python -m fedlab pack NOTEBOOK`` (or ``fedlab.hand_in(...)`` in the notebook's last cell) validates the
notebook as the grader will, then writes ``<assignment>-<student id>.zip`` beside it. Every file in it is
named ``<student id>+<file>``, the form the course's nbgrader_config.py tells ``zip_collect`` to read. The
notebook's release stamp (its metadata, see course/stamp.py) names the assignment and its experiments.
"""
import json
import re
import zipfile
from pathlib import Path

from . import data, experiments, quick

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class PackError(RuntimeError):
    """The notebook cannot be packed; the message says why and what to do."""


def release_stamp(notebook: Path) -> dict:
    """What the course's release wrote into the notebook: assignment, notebook name, experiments."""
    try:
        nb = json.loads(notebook.read_text())
    except (OSError, ValueError) as err:
        raise PackError(f"cannot read {notebook} as a notebook ({err}); pack the .ipynb file you worked in") from None
    stamp = nb.get("metadata", {}).get("fedlab") if isinstance(nb, dict) else None
    if not isinstance(stamp, dict) or not {"assignment", "notebook", "experiments"} <= set(stamp):
        raise PackError(f"{notebook.name} has no release stamp (metadata 'fedlab'): pack the notebook you were given "
                        f"(from notebooks/ or your course's page), not a copy of a solution or a new notebook")
    return stamp


def student_id(given=None) -> str:
    """The student id: ``given``, else the one saved on this machine, else asked once (and saved)."""
    saved = data.cache_dir() / "student_id"
    if given is None and saved.exists():
        given = saved.read_text().strip()
    if given is None:
        given = input("Your student id (as your course's gradebook knows it): ").strip()
        if STUDENT_ID.fullmatch(given):
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(given)
    if not isinstance(given, str) or not STUDENT_ID.fullmatch(given):
        raise PackError(f"student id {given!r}: use letters, digits, '.', '_' and '-' only, starting with a letter "
                        f"or digit (e.g. jdoe42)")
    return given


def describe(name, folder):
    """One line on the saved history ``name``: how many rounds, whether a full run made it; or a warning."""
    file = experiments.history_path(name, folder).name
    try:
        saved = experiments.load(name, folder)
    except ValueError as err:
        return None, f"WARNING {file}: {err}; it is left out"
    if saved is None:
        return None, (f"WARNING {file} is missing: run the experiment with quick mode off (FEDLAB_QUICK unset), "
                      f"or the grader sees only a two-round quick run")
    values, made = saved
    count = experiments.points(values)
    unit = "rounds" if "rounds" in ((made or {}).get("config") or {}) else "values"
    reason = experiments.not_full_run(values, made)
    if reason:
        return file, f"{file}: {count} {unit}, WARNING not from a full run ({reason})"
    return file, f"{file}: {count} {unit}, full run ({made.get('device', '?')}, {made.get('wall_time_s', '?')} s)"


def pack(notebook, student=None, out=None, validate=True) -> Path:
    """Archive ``notebook`` and its saved histories for hand-in; returns the archive's path.

    Used in every notebook's last cell and by ``python -m fedlab pack``. ``validate=False`` skips running
    the notebook the way the grader does first.
    """
    notebook = Path(notebook)
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise PackError(f"pack({str(notebook)!r}): give the path of your notebook, e.g. fedavg.ipynb")
    stamp = release_stamp(notebook)
    sid = student_id(student)
    if validate:
        from .validate import main as validate_notebook
        if validate_notebook(str(notebook)):
            print("fedlab: packing anyway; the problems above will cost points unless you fix them and pack again.")
    folder = notebook.resolve().parent
    files = {f"{stamp['notebook']}.ipynb": notebook}
    lines = [f"{stamp['notebook']}.ipynb: the notebook"]
    for name in stamp["experiments"]:
        file, line = describe(name, folder)
        lines.append(line)
        if file:
            files[file] = folder / file
    archive = Path(out or folder) / f"{stamp['assignment']}-{sid}.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in files.items():
            zf.write(path, f"{sid}+{name}")
    print(f"packed {archive} for {stamp['assignment']} (student {sid}):\n  " + "\n  ".join(lines))
    return archive


def hand_in(notebook):
    """The notebook's last cell: :func:`pack`, except in quick mode (grading, CI, a quick try), which saves no run."""
    if quick.quick_mode():
        print(f"fedlab: quick mode is on, so nothing is packed; after your full run, pack with "
              f"`python -m fedlab pack {notebook}` or by running this cell with quick mode off.")
        return None
    return pack(notebook)
