"""Issue 12: no client can break a live federation. Each numbered fault against a real server on 127.0.0.1.

Hostile clients are small subclasses of the reliability tests' client, run as child processes
of this file (``python tests/test_live_faults.py client --kind nan ...``). Quick mode on the
synthetic CIFAR-100: ResNet-20 trains two batches per round.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fedlab.live import updates
from fedlab.live.federation import ServerProcess
from fedlab.live.run_folder import RunFolder, RunFolderError
from test_live import (CLIENTS, EXIT_TIMEOUT, ScriptClient, finish, halving_schedule, load, run_client,
                       start_client, stop_all, wait_for_line)

HERE = Path(__file__).resolve()
CLAIMED_EXAMPLES = 10 ** 9


class NaNClient(ScriptClient):
    """Trains honestly, then sends NaN in every seventh value of its first weight array."""

    def weights(self):
        arrays = super().weights()
        arrays[0] = arrays[0].copy()
        arrays[0].flat[::7] = np.nan
        return arrays


class InfClient(ScriptClient):
    """Trains honestly, then sends one +inf in its classifier's weights."""

    def weights(self):
        arrays = super().weights()
        arrays[-2] = arrays[-2].copy()
        arrays[-2].flat[0] = np.inf
        return arrays


class BoostingClient(ScriptClient):
    """Sends its trained weights times 50: finite, the right shapes, but far beyond anyone else's update."""

    def weights(self):
        return [w * 50 if w.dtype.kind == "f" else w for w in super().weights()]


class InflatingClient(ScriptClient):
    """Trains honestly, then claims 10**9 training examples and 100 % accuracy of the model it received."""

    def validate(self):
        return 100.0

    def train_round(self, message):
        arrays, _, metrics = super().train_round(message)
        return arrays, CLAIMED_EXAMPLES, metrics


HOSTILE = dict(CLIENTS, nan=NaNClient, inf=InfClient, boost=BoostingClient, inflate=InflatingClient,
               twin=ScriptClient)  # twin: a second honest client (its own record file) to run with one seed twice


def start(server, tmp_path, seed, kind="good", **kwargs):
    return start_client(server.address, tmp_path, seed, kind=kind, script=HERE, **kwargs)


def run(server, tmp_path, clients):
    """The clients ``[(seed, kind, rounds), ...]`` load their data, then ``server`` starts; its exit code.

    Their outputs are kept in ``server.client_outputs``.
    """
    processes = [start(server, tmp_path, seed, kind, rounds=rounds, wait_for_server=True)
                 for seed, kind, rounds in clients]
    try:
        for p in processes:
            wait_for_line(p, "ready")
        with server:
            server.client_outputs = [finish(p) for p in processes]
            return server.wait(EXIT_TIMEOUT)
    finally:
        stop_all(processes)


def history(tmp_path, seed, kind="good"):
    return json.loads((tmp_path / "clients" / f"client-{seed}-{kind}.json").read_text())


def float_keys(state):
    return [k for k, v in state.items() if v.is_floating_point()]


@pytest.fixture(autouse=True)
def quick_synthetic(monkeypatch):
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    monkeypatch.setenv("FEDLAB_DATA", "synthetic")


# ---------------------------------------------------------------- fault 1: NaN, inf and outsized updates

def test_nan_inf_and_outsized_updates_never_touch_the_global_model(tmp_path):
    server = ServerProcess(rounds=1, min_clients=4, save=tmp_path / "server", echo=False)
    code = run(server, tmp_path, [(61, "good", 1), (62, "nan", 1), (63, "inf", 1), (64, "boost", 1)])
    log = "\n".join(server.lines)
    assert code == 0, log
    line = next(line for line in server.lines if "round 1/1:" in line)
    assert "1 of 4 clients averaged (3 rejected: " in line, line
    assert "client-62: 'conv1.weight' holds 62 NaN and 0 infinite values" in line  # 432 values, every 7th
    assert "client-63: 'fc.weight' holds 0 NaN and 1 infinite values" in line
    assert "client-64: it moves the model by " in line and "more than 10 times as far as the round's other" in line
    assert "averaged #" in line and "client-61 (25,000 images each)" in line
    honest = load(history(tmp_path, 61)[0]["model"])
    saved = load(tmp_path / "server" / "round_001.pt")
    for key in float_keys(saved):  # the honest update alone, to the bit
        assert torch.isfinite(saved[key]).all() and torch.equal(saved[key], honest[key]), key


# ---------------------------------------------------------------- fault 2 (and 4: one seed twice)

def test_claimed_examples_and_accuracy_are_not_trusted_and_one_seed_twice_is_flagged(tmp_path):
    server = ServerProcess(rounds=2, min_clients=3, target_accuracy=0.6, save=tmp_path / "server", echo=False)
    code = run(server, tmp_path, [(71, "good", 2), (72, "inflate", 2), (73, "good", 2)])
    log = "\n".join(server.lines)
    assert code == 0, log
    assert "reached the target" not in log and "round 2/2: 3 of 3 clients averaged" in log, log
    first = next(line for line in server.lines if "round 1/2:" in line)
    claimed = float(first.split("clients claimed ")[1].split(" %")[0])
    measured = float(first.split("server's own accuracy ")[1].split(" %")[0])
    assert claimed > 33 and measured < 60, first  # the inflating client's 100 % is shown, not used
    sent = [load(history(tmp_path, seed, kind)[0]["model"]) for seed, kind in ((71, "good"), (72, "inflate"),
                                                                               (73, "good"))]
    saved = load(tmp_path / "server" / "round_001.pt")
    for key in float_keys(saved):  # equal weights: the 10**9 examples claimed count for nothing extra
        assert torch.allclose(saved[key], sum(s[key] for s in sent) / 3, rtol=1e-5, atol=1e-6), key
    assert not torch.allclose(sent[1][key], saved[key], rtol=1e-5, atol=1e-6)  # so trusting the claim would show
    assert json.loads((tmp_path / "server" / "run.json").read_text())["rounds"][0]["claimed_accuracy"] == pytest.approx(
        claimed, abs=0.005)


def test_a_second_client_with_the_same_seed_gets_a_warning_and_keeps_its_own_files(tmp_path):
    server = ServerProcess(rounds=1, min_clients=2, save=tmp_path / "server", echo=False)
    code = run(server, tmp_path, [(81, "good", 1), (81, "twin", 1)])
    log = "\n".join(server.lines)
    assert code == 0, log
    warning = re.search(r"round 1: warning: #(\d+) client-81, #(\d+) client-81 report the same name client-81, "
                        r"i.e. the same seed", log)
    assert warning and warning.group(1) != warning.group(2), log  # told apart by the numbers the server gave
    assert "round 1/1: 2 of 2 clients averaged" in log, log
    saved = sorted(p.name for p in (tmp_path / "clients" / "client-81").iterdir())
    assert saved == ["round_001.pt", "round_001_2.pt"], saved
    assert {history(tmp_path, 81, kind)[0]["model"] for kind in ("good", "twin")} == {
        str(tmp_path / "clients" / "client-81" / name) for name in saved}


# ---------------------------------------------------------------- fault 3: a restarted server resumes

def test_a_restarted_server_resumes_after_its_last_round_and_overwrites_nothing(tmp_path):
    folder = tmp_path / "server"
    assert run(ServerProcess(rounds=1, min_clients=1, save=folder, echo=False), tmp_path, [(91, "good", 1)]) == 0
    before = {p.name: p.read_bytes() for p in folder.glob("round_*.pt")}
    assert sorted(before) == ["round_000.pt", "round_001.pt"]
    again = ServerProcess(rounds=2, min_clients=1, save=folder, echo=False)
    assert run(again, tmp_path, [(92, "good", 1)]) == 0, again.lines
    assert any(f"resuming the run saved in {folder} after round 1" in line for line in again.lines), again.lines
    assert history(tmp_path, 92)[0]["round"] == 2  # round numbers, and so the learning-rate schedule, go on
    assert history(tmp_path, 92)[0]["learning_rate"] == halving_schedule(2, 0.1)
    assert all((folder / name).read_bytes() == data for name, data in before.items())
    assert [r["round"] for r in json.loads((folder / "run.json").read_text())["rounds"]] == [1, 2]
    done = subprocess.run([sys.executable, "-m", "fedlab.live", "serve", "--rounds", "2", "--save", str(folder)],
                          capture_output=True, text=True, timeout=EXIT_TIMEOUT)
    assert done.returncode == 1 and "has completed round 2 of --rounds 2; nothing to do" in done.stdout, done
    fresh = subprocess.run([sys.executable, "-m", "fedlab.live", "serve", "--fresh", "--save", str(folder)],
                           capture_output=True, text=True, timeout=EXIT_TIMEOUT)
    assert fresh.returncode == 1 and f"--fresh: {folder} is not empty" in fresh.stderr, fresh
    assert all((folder / name).read_bytes() == data for name, data in before.items())


@pytest.mark.parametrize("files, fresh, message", [
    (["notes.txt"], False, r"holds notes.txt but no saved round"),
    (["round_000.pt"], True, r"--fresh: .* is not empty \(round_000.pt\)"),
])
def test_a_run_folder_that_is_not_a_run_is_refused(tmp_path, files, fresh, message):
    for name in files:
        (tmp_path / name).write_bytes(b"kept")
    with pytest.raises(RunFolderError, match=message):
        RunFolder(tmp_path, fresh=fresh)
    assert all((tmp_path / name).read_bytes() == b"kept" for name in files)


def test_a_saved_round_is_never_overwritten(tmp_path):
    folder = RunFolder(tmp_path / "run", fresh=True)
    folder.save(0, {"w": torch.zeros(2)})
    with pytest.raises(RunFolderError, match="round_000.pt is already saved"):
        RunFolder(tmp_path / "run").save(0, {"w": torch.ones(2)})
    assert torch.equal(folder.model(0)["w"], torch.zeros(2))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["round_000.pt"]


# ---------------------------------------------------------------- fault 4: time-outs and the exit status

def test_a_hanging_client_is_reported_as_timed_out_and_no_round_means_a_failing_exit(tmp_path):
    idle = ServerProcess(rounds=1, min_clients=1, save=tmp_path / "idle", wait_timeout=1, echo=False)
    with idle:
        assert idle.wait(EXIT_TIMEOUT) == 1, idle.lines
    assert any("done: 0 round(s) completed" in line for line in idle.lines), idle.lines
    server = ServerProcess(rounds=1, min_clients=1, save=tmp_path / "server", round_timeout=3, echo=False)
    hanging = start(server, tmp_path, 95, "stall", wait_for_server=True)
    try:
        wait_for_line(hanging, "ready")
        with server:
            wait_for_line(hanging, "stalling in round 1")
            code = server.wait(EXIT_TIMEOUT)
    finally:
        stop_all([hanging])
    log = "\n".join(server.lines)
    assert code == 0, log
    assert "round 1/1: 0 of 1 clients averaged (1 failed or left: #1: timed out: no update within 3 s" in log, log


# ---------------------------------------------------------------- the outlier rule itself

@pytest.mark.parametrize("distances, norm, rejected", [
    ([4.5, 4.4], 43, []),
    ([4.5, 2100.0], 43, [1]),              # two clients suffice: each is compared with the other
    ([4.5, 4.6, 4.4, 60.0, 70.0], 43, [3, 4]),
    ([0.0, 4.5], 43, []),                   # a client that sent the model back unchanged is no reference
    ([5000.0], 43, [0]),                    # alone: only the bound on the global model's own norm applies
    ([4000.0], 43, []),
])
def test_outsized_updates_are_found_against_the_rounds_others(distances, norm, rejected):
    problems = updates.outlier_problems(distances, norm)
    assert [i for i, p in enumerate(problems) if p] == rejected, problems


if __name__ == "__main__" and sys.argv[1:2] == ["client"]:
    run_client(sys.argv[2:], kinds=HOSTILE)
