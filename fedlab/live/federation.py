"""A whole federation on one machine, so one participant alone can run the live exercise.

:class:`ServerProcess` runs ``python -m fedlab.live serve`` as a child process on a free loopback
port and stops it by its process id. :func:`local_federation` adds a second client (the
participant's own code with another seed, in a thread of this process: a child process could
not run classes defined in a notebook cell) and then runs the participant's client, one round
per visit. ``FEDLAB_SERVER=host:port`` sends the participant's client to that server instead.
"""
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import quick
from .connect import CONNECT_TIMEOUT, join

START_TIMEOUT = 90.0   # seconds the server process may take to start listening
STOP_TIMEOUT = 15.0    # seconds it may take to stop after SIGTERM before it is killed


def free_port(host="127.0.0.1"):
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m fedlab.live serve`` in a child process on 127.0.0.1; a context manager.

    Its output lines are kept in ``lines`` (and printed when ``echo``). Leaving the ``with``
    block stops the process by its pid (SIGTERM, then SIGKILL) if it is still running.
    """

    def __init__(self, rounds, min_clients=2, target_accuracy=0.6, save="fedlab_live/server", seed=0,
                 wait_timeout=60.0, round_timeout=600.0, echo=True, fresh=False):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.save = Path(save)
        self.echo = echo
        self.lines = []
        self.command = [sys.executable, "-m", "fedlab.live", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                        "--rounds", str(rounds), "--min-clients", str(min_clients),
                        "--target-accuracy", str(target_accuracy), "--save", str(self.save), "--seed", str(seed),
                        "--wait-timeout", str(wait_timeout), "--round-timeout", str(round_timeout)]
        self.command += ["--fresh"] * fresh
        self.process = None

    def start(self):
        """Start the process without waiting for it to listen (``with`` waits), so the caller can work meanwhile."""
        if self.process is None:
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            text=True, env=env)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def __enter__(self):
        self.start()
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.process.pid

    def _read(self):
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(line, flush=True)

    def _wait_until_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                raise RuntimeError(f"the server process ({' '.join(self.command)}) exited with code "
                                   f"{self.process.returncode} before listening; its output:\n" + "\n".join(self.lines))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"the server process did not listen on {self.address} within {START_TIMEOUT:g} s")

    def running(self):
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout):
        """Wait up to ``timeout`` seconds for the server to finish by itself; its exit code, or None."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=5)
        return code

    def stop(self):
        """Stop the server process by its pid: SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` seconds."""
        if self.running():
            os.kill(self.process.pid, signal.SIGTERM)
            if self.wait(STOP_TIMEOUT) is None:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process is not None:
            self._reader.join(timeout=5)
            self.process.stdout.close()


def keep_joining(client, server):
    """Join ``server`` for one round after another until it has finished; the rounds' records."""
    records = []
    while server.running():
        try:
            record = join(client, server.address)
        except Exception:
            if server.wait(STOP_TIMEOUT) is not None:
                break  # the server finished while this client was (re)joining
            raise
        if record is None:
            break
        records.append(record)
    return records


def local_federation(make_client, seed, rounds=50, target_accuracy=0.6, other_seed=None, save_dir="fedlab_live"):
    """Run ``make_client(seed)`` as a client of a live federation; returns its records, one per round.

    By default a server (FedAvg, 2 clients per round, ``rounds`` rounds, 2 in quick mode) starts a
    new run (in ``save_dir/server``, or ``server_2``, ... when that holds an earlier run) on
    127.0.0.1 and ``make_client(other_seed)`` (default ``seed + 1``) joins as the second client;
    both take part in every round. With ``FEDLAB_SERVER=host:port`` the client joins that server
    for one round instead.
    """
    if not callable(make_client):
        raise TypeError("local_federation(make_client, ...): pass a function seed -> your client, "
                        "e.g. lambda seed: MyClient(...)")
    address = os.environ.get("FEDLAB_SERVER", "").strip()
    if address:
        client = make_client(seed)
        print(f"FEDLAB_SERVER is set: {client.name} joins the server at {address} for one round", flush=True)
        join(client, address, timeout=CONNECT_TIMEOUT)
        return client.history
    server = ServerProcess(rounds=quick.limit(rounds), min_clients=2, target_accuracy=target_accuracy,
                           save=new_run_folder(Path(save_dir)), fresh=True).start()
    try:  # the clients are made while the server starts (a new Python, 3-4 s)
        client = make_client(seed)
        other = make_client(seed + 1 if other_seed is None else other_seed)
    except BaseException:
        server.stop()
        raise
    with server:
        print(f"a server runs at {server.address} (process {server.pid}, run folder {server.save}); {client.name} "
              f"and {other.name} take part in every round", flush=True)
        failed = []
        helper = threading.Thread(target=_run_helper, args=(other, server, failed), daemon=True)
        helper.start()
        keep_joining(client, server)
        helper.join(timeout=STOP_TIMEOUT)
        server.wait(STOP_TIMEOUT)
    if failed:
        raise RuntimeError(f"the second client ({other.name}) failed") from failed[0]
    return client.history


def new_run_folder(save_dir):
    """``save_dir/server``, or ``server_2``, ``server_3``, ... if taken: each local federation is a new run."""
    for number in itertools.count(1):
        path = save_dir / ("server" if number == 1 else f"server_{number}")
        if not path.exists() or not any(path.iterdir()):
            return path


def _run_helper(client, server, failed):
    try:
        keep_joining(client, server)
    except Exception as err:  # reported by local_federation in the participant's thread
        failed.append(err)
        server.stop()  # so the participant's client is not left waiting for a second client
