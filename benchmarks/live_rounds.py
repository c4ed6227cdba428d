"""Rounds per minute of a live federation on loopback, with 2 and with 8 clients, in quick mode.

One server (``python -m fedlab.live serve`` on 127.0.0.1) and N client processes (the reliability
tests' client, ``tests/test_live.py client``: ResNet-20, 512 training images, 200 test images),
each joining for every round. Clients start and load their data first, then the server starts,
so the time counts rounds only. Each round includes the server's checks of every update and its
own evaluation on held-out images (512 of them in quick mode).
Two settings: ``--epochs 1`` (quick-mode training: two batches
of 128 per client per round) and ``--epochs 0`` (validation only: what one round costs the
server and the network, beyond the clients' training). Every process is stopped by its pid.

    .venv/bin/python benchmarks/live_rounds.py [--clients 2 8] [--rounds 5] [--epochs 1 0]
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["FEDLAB_DATA"] = "synthetic"
os.environ["FEDLAB_QUICK"] = "1"

from fedlab.live.federation import ServerProcess  # noqa: E402

CLIENT = Path(__file__).resolve().parents[1] / "tests" / "test_live.py"
ROUND_LINE = re.compile(r"round (\d+)/\d+: (\d+) of (\d+) clients averaged.*[;,] ([\d.]+) MB received, ([\d.]+) s")


def measure(num_clients, rounds, epochs, tmp):
    server = ServerProcess(rounds=rounds, min_clients=num_clients, save=Path(tmp) / f"server-{num_clients}-{epochs}",
                           wait_timeout=120, target_accuracy=1.0, echo=False, fresh=True)
    clients = [subprocess.Popen([sys.executable, str(CLIENT), "client", "--server", server.address, "--seed", str(s),
                                 "--rounds", str(rounds), "--epochs", str(epochs), "--out", str(Path(tmp) / "c"),
                                 "--wait-for-server"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for s in range(num_clients)]
    try:
        for c in clients:
            for line in c.stdout:
                if line.startswith("ready"):
                    break
        with server:
            start = time.monotonic()
            server.wait(1800)
            elapsed = time.monotonic() - start
    finally:
        for c in clients:
            if c.poll() is None:
                os.kill(c.pid, signal.SIGKILL)
            c.communicate()
    per_round = [ROUND_LINE.search(line) for line in server.lines]
    per_round = [m for m in per_round if m]
    if len(per_round) != rounds or any(int(m.group(2)) != num_clients for m in per_round):
        raise RuntimeError("the run did not go as planned:\n" + "\n".join(server.lines))
    round_s = [float(m.group(5)) for m in per_round]
    return {"clients": num_clients, "epochs": epochs, "rounds": rounds, "elapsed_s": elapsed,
            "rounds_per_min": 60 * rounds / elapsed, "round_s": sum(round_s) / rounds,
            "mb_per_round": float(per_round[0].group(4))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 0])
    args = parser.parse_args(argv)
    print(f"{'clients':>7} {'epochs':>6} {'rounds/min':>10} {'s/round':>8} {'MB in/round':>11}  (loopback, "
          f"{os.cpu_count()} CPU cores, quick mode)")
    with tempfile.TemporaryDirectory() as tmp:
        for epochs in args.epochs:
            for n in args.clients:
                r = measure(n, args.rounds, epochs, tmp)
                print(f"{r['clients']:>7} {r['epochs']:>6} {r['rounds_per_min']:>10.1f} {r['round_s']:>8.2f} "
                      f"{r['mb_per_round']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
