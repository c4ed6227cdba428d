"""Reliability of live federated learning, each case against a real server on 127.0.0.1.

The clients run as child processes of this file (``python tests/test_live.py client ...``), so a
test can kill one mid-round; every process a test starts is stopped by the test, by its pid.
Run in quick mode on the synthetic CIFAR-100: ResNet-20 trains two batches per epoch.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import fedlab
from fedlab.live.federation import ServerProcess, free_port

HERE = Path(__file__).resolve()
EXIT_TIMEOUT = 180  # a guard against a hang, not a speed test


def halving_schedule(current_round, initial_learning_rate):
    """A schedule that differs in every round, so a round's rate shows which round the client saw."""
    return initial_learning_rate * 0.5 ** (current_round - 1)


class ScriptClient(fedlab.live.Client):
    """A correct participant: loads the server's weights in state_dict order, validates on its test set."""

    def handle_message(self, message):
        keys = list(self.net.state_dict())
        self.net.load_state_dict(OrderedDict(zip(keys, (torch.from_numpy(w.copy()) for w in message["weights"]))))
        self.current_round = int(message["config"]["current_round"])

    def validate(self):
        return fedlab.evaluate(self.net, self.testset)[1]


class StallingClient(ScriptClient):
    """Says it is in its round, then never finishes it (the test kills it there)."""

    def validate(self):
        print(f"stalling in round {self.current_round}", flush=True)
        signal.pause()


class WrongShapesClient(ScriptClient):
    """Sends back the weights of a 10-class ResNet-20: right count, wrong classifier shapes."""

    def weights(self):
        return [t.numpy() for t in fedlab.resnet20(10).state_dict().values()]


CLIENTS = {"good": ScriptClient, "stall": StallingClient, "wrong-shapes": WrongShapesClient}


def run_client(argv=None, kinds=CLIENTS):
    """A client process: ``kinds`` maps ``--kind`` to a client class (the fault tests add their own)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=1, help="visits, one round each")
    parser.add_argument("--kind", choices=kinds, default="good")
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=1, help="local epochs per round (0: validate only)")
    parser.add_argument("--wait-for-server", action="store_true", help="poll until the server listens")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # several clients share this machine's cores
    trainset, testset = fedlab.load_cifar100()
    g = torch.Generator().manual_seed(args.seed)
    own = torch.randperm(len(trainset), generator=g)[:512]
    part = fedlab.ImageSet(trainset.data[own], trainset.labels[own], name="part", source=trainset.source,
                           mean=trainset.mean, std=trainset.std, pad_mode=trainset.pad_mode)
    small_test = fedlab.ImageSet(testset.data[:200], testset.labels[:200], name="test", source=testset.source,
                                 mean=testset.mean, std=testset.std)
    client = kinds[args.kind](part, small_test, halving_schedule, args.seed, local_epochs=args.epochs,
                                 save_dir=args.out)
    print("ready", flush=True)
    if args.wait_for_server:
        _wait_for(args.server)
    for _ in range(args.rounds):
        if fedlab.live.join(client, args.server) is None:
            break
    Path(args.out, f"{client.name}-{args.kind}.json").write_text(json.dumps(client.history))


def _wait_for(address):
    for _ in range(600):
        try:
            return fedlab.live.check_reachable(address, timeout=1)
        except ConnectionError:
            time.sleep(0.2)


# ---------------------------------------------------------------- helpers of the tests

def start_client(server, tmp_path, seed, kind="good", rounds=1, wait_for_server=False, epochs=1, script=HERE):
    """A client process (``script`` run as a script, this file by default) joining ``server`` up to ``rounds`` times."""
    return subprocess.Popen([sys.executable, str(script), "client", "--server", server, "--seed", str(seed),
                             "--rounds", str(rounds), "--kind", kind, "--out", str(tmp_path / "clients"),
                             "--epochs", str(epochs)] + ["--wait-for-server"] * wait_for_server,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_line(process, start):
    """Read the output of ``process`` up to a line that starts with ``start``; the lines read."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(start):
            return lines
    pytest.fail(f"client process {process.pid} ended before printing {start!r}:\n{''.join(lines)}")


def finish(process):
    """The output of a client process once it has ended (it is killed by pid if it hangs)."""
    try:
        out, _ = process.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"client process {process.pid} did not finish; output:\n{out}")
    return out


def stop_all(processes):
    for p in processes:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.communicate()


def load(path):
    return torch.load(path, weights_only=True)


@pytest.fixture(autouse=True)
def quick_synthetic(monkeypatch):
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    monkeypatch.setenv("FEDLAB_DATA", "synthetic")


# ---------------------------------------------------------------- the tests

def test_two_clients_two_rounds(tmp_path):
    clients = []
    with ServerProcess(rounds=2, min_clients=2, save=tmp_path / "server", echo=False) as server:
        try:
            clients = [start_client(server.address, tmp_path, seed, rounds=2) for seed in (11, 12)]
            outputs = [finish(c) for c in clients]
            assert server.wait(EXIT_TIMEOUT) == 0, "\n".join(server.lines)
        finally:
            stop_all(clients)
    for seed, out in zip((11, 12), outputs):
        history = json.loads((tmp_path / "clients" / f"client-{seed}-good.json").read_text())
        assert [h["round"] for h in history] == [1, 2], out
        assert [h["learning_rate"] for h in history] == [halving_schedule(r, 0.1) for r in (1, 2)]
        assert all(Path(h["model"]).exists() for h in history)
    assert any("round 2/2: 2 of 2 clients averaged" in line for line in server.lines), server.lines
    start, end = load(tmp_path / "server" / "round_000.pt"), load(tmp_path / "server" / "round_002.pt")
    assert not torch.equal(start["conv1.weight"], end["conv1.weight"])
    fedlab.resnet20(100).load_state_dict(end)  # the saved global model is a whole ResNet-20


def test_client_killed_mid_round(tmp_path):
    server = ServerProcess(rounds=2, min_clients=2, save=tmp_path / "server", wait_timeout=10, echo=False)
    # the clients are ready and polling before the server starts, so its 10 s wait only bounds round 2
    stalling = start_client(server.address, tmp_path, 21, kind="stall", wait_for_server=True)
    steady = start_client(server.address, tmp_path, 22, rounds=2, wait_for_server=True)
    try:
        for c in (stalling, steady):
            wait_for_line(c, "ready")
        with server:
            wait_for_line(stalling, "stalling in round 1")
            os.kill(stalling.pid, signal.SIGKILL)
            code = server.wait(EXIT_TIMEOUT)
            finish(steady)
    finally:
        stop_all([stalling, steady])
    log = "\n".join(server.lines)
    assert code == 0, log
    assert re.search(r"round 1/2: 1 of 2 clients averaged \(1 failed or left: #\d: connection lost mid-round", log)
    assert "round 2: waited 10 s for 2 clients, 1 connected; stopping after 1 round(s)" in log
    assert (tmp_path / "server" / "round_001.pt").exists()


def test_client_without_server_names_the_address(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    client = start_client(address, tmp_path, 31)
    out = finish(client)
    assert client.returncode != 0
    assert f"no federated-learning server is reachable at {address}" in out


def test_wrong_shapes_are_rejected(tmp_path):
    with ServerProcess(rounds=1, min_clients=1, save=tmp_path / "server", echo=False) as server:
        client = start_client(server.address, tmp_path, 41, kind="wrong-shapes")
        try:
            finish(client)
            code = server.wait(EXIT_TIMEOUT)
        finally:
            stop_all([client])
    log = "\n".join(server.lines)
    assert code == 0, log
    assert ("round 1/1: 0 of 1 clients averaged (1 rejected: #1 client-41: 'fc.weight' has shape (10, 64), the "
            "global model's has (100, 64))" in log)
    assert "the global model is unchanged" in log
    before, after = load(tmp_path / "server" / "round_000.pt"), load(tmp_path / "server" / "round_001.pt")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_fedlab_server_points_the_notebook_at_another_server(tmp_path, monkeypatch, cifar100):
    trainset, testset = cifar100
    small = fedlab.ImageSet(testset.data[:64], testset.labels[:64], name="t", source=testset.source,
                            mean=testset.mean, std=testset.std)
    make = lambda seed: ScriptClient(small, small, halving_schedule, seed, local_epochs=1,  # noqa: E731
                                     save_dir=tmp_path / "clients")
    with ServerProcess(rounds=3, min_clients=1, save=tmp_path / "server", wait_timeout=5, echo=False) as server:
        monkeypatch.setenv("FEDLAB_SERVER", server.address)
        history = fedlab.live.local_federation(make, 51, rounds=50, save_dir=tmp_path / "here")
        code = server.wait(EXIT_TIMEOUT)
    assert [h["round"] for h in history] == [1], "one visit, one round"
    assert code == 0 and any("round 1/3: 1 of 1 clients averaged" in line for line in server.lines), server.lines
    assert not (tmp_path / "here" / "server").exists(), "no server of its own"


if __name__ == "__main__" and sys.argv[1:2] == ["client"]:
    run_client(sys.argv[2:])
