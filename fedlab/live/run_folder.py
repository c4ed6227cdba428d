"""The server's ``--save`` folder: one run's global models and round records, never overwritten.

``round_000.pt`` is the initial global model and ``round_NNN.pt`` the model after round NNN
(a plain ``state_dict``, what ``fedlab.checks.check_client`` and participants load);
``run.json`` holds one record per completed round. A server started on a folder that holds a
run resumes after its last saved round, so round numbers (and with them the clients'
learning-rate schedule) go on; ``--fresh`` starts anew and is refused unless the folder is empty.
"""
import json
import os
import re
from pathlib import Path

import torch

RECORDS = "run.json"
_ROUND_FILE = re.compile(r"round_(\d{3,})\.pt")


class RunFolderError(RuntimeError):
    """The ``--save`` folder cannot hold this run; the message says what to do instead."""


class RunFolder:
    """The run saved in ``path``: ``last_round`` (None when empty) and ``records``, one per completed round."""

    def __init__(self, path, fresh=False):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"--save {self.path} is a file; give a folder for the run (it is created if missing)")
        entries = sorted(p.name for p in self.path.iterdir()) if self.path.exists() else []
        if fresh and entries:
            raise RunFolderError(f"--fresh: {self.path} is not empty ({_listing(entries)}); a fresh run needs an "
                                 f"empty or new --save folder, or leave out --fresh to resume the run saved there")
        rounds = sorted(int(m.group(1)) for m in map(_ROUND_FILE.fullmatch, entries) if m)
        if entries and not rounds:
            raise RunFolderError(f"--save {self.path} holds {_listing(entries)} but no saved round (round_NNN.pt); "
                                 f"give an empty or new folder for a new run")
        self.last_round = rounds[-1] if rounds else None
        self.records = []
        if self.last_round is not None and (self.path / RECORDS).exists():
            saved = json.loads((self.path / RECORDS).read_text())["rounds"]
            self.records = [r for r in saved if r["round"] <= self.last_round]

    def model(self, rnd):
        """The global model saved after round ``rnd``, as a ``state_dict``."""
        return torch.load(self.path / f"round_{rnd:03d}.pt", weights_only=True)

    def save(self, rnd, state, record=None):
        """Save the global model of round ``rnd`` (and its record); a round already saved is never overwritten."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / f"round_{rnd:03d}.pt"
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        torch.save(state, partial)
        try:
            os.link(partial, path)  # fails if the round is there: no overwrite, and readers see whole files only
        except FileExistsError:
            raise RunFolderError(f"{path} is already saved (another server on this --save folder?); it is left as "
                                 f"it was, and this server stops") from None
        finally:
            partial.unlink()
        if record is not None:
            self.records.append(record)
            tmp = self.path / f"{RECORDS}.{os.getpid()}.partial"
            tmp.write_text(json.dumps({"rounds": self.records}, indent=1))
            os.replace(tmp, self.path / RECORDS)
        self.last_round = rnd
        return path


def _listing(names, shown=4):
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
