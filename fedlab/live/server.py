"""The federated server an instructor starts with one command: FedAvg over ResNet-20 / CIFAR-100 weights.

Each round takes every client connected when it starts (at least ``min_clients``, waiting a
bounded time for them) and sends the global weights with the round number. Nothing a client
says is trusted: every update is checked before it is averaged (:mod:`fedlab.live.updates`),
each accepted update counts as the 25,000 images every participant holds (the seeded half of
CIFAR-100's train split), not as the number the client reports, and the stopping rule uses the
accuracy the server measures itself on a held-out split it owns. Clients are told apart by a
number the server gives each connection (``#1``, ``#2``, ...); the name a client reports is
shown beside it. Each round is saved in the run folder (:mod:`fedlab.live.run_folder`) and
logged in one line; clients that delivered are told to leave, so participants take turns.
"""
import concurrent.futures
import dataclasses
import math
import time
from collections import Counter, OrderedDict

import torch

from .. import quick
from ..data import ImageSet, load_cifar100
from ..models import resnet20
from ..runtime import compute_device
from ..training import EVAL_BATCH, evaluate
from . import _flower, updates
from .client import NUM_CLASSES
from .run_folder import RunFolder

DEFAULT_PORT = 8080
WAIT_TIMEOUT = 600.0        # seconds a round waits for enough clients before the run stops
ROUND_TIMEOUT = 1800.0      # seconds a round waits for a client's update before counting it as timed out
PARTICIPANT_IMAGES = 25_000  # what every participant trains on: the seeded half of CIFAR-100's 50,000 (Task 2)
HELD_OUT_IMAGES = 2_000     # the server's own evaluation split: the last images of CIFAR-100's test split


def say(text):
    """One line of the server's log, on stdout, at once (its readers are people and pipes)."""
    print(f"[fedlab server] {text}", flush=True)


class _ClientManager(_flower.SimpleClientManager):
    """Flower's client registry, but a wait for clients gives up after ``wait_timeout`` seconds, not a day."""

    def __init__(self, wait_timeout):
        super().__init__()
        self.wait_timeout = wait_timeout

    def wait_for(self, num_clients, timeout=None):
        return super().wait_for(num_clients, timeout=self.wait_timeout if timeout is None else timeout)


def _claimed_accuracy(fit_metrics):
    """The clients' average of the accuracy (%) they report; Flower's fit_metrics_aggregation_fn. Shown only."""
    accs = [m["accuracy"] for _, m in fit_metrics if isinstance(m.get("accuracy"), (int, float))]
    return {"accuracy": sum(accs) / len(accs)} if accs else {}


class HeldOut:
    """The server's own test: accuracy of a global model on held-out CIFAR-100 images; Flower's ``evaluate_fn``."""

    def __init__(self, template):
        _, testset = load_cifar100()
        self.images = ImageSet(testset.data[-HELD_OUT_IMAGES:], testset.labels[-HELD_OUT_IMAGES:],
                               name=f"{testset.name} held out", source=testset.source, mean=testset.mean,
                               std=testset.std, pad_mode=testset.pad_mode)
        batches = quick.limit(math.ceil(len(self.images) / EVAL_BATCH))
        self.evaluated = min(len(self.images), batches * EVAL_BATCH)  # what evaluate covers (less in quick mode)
        self.template = template
        self.net = resnet20(NUM_CLASSES).to(compute_device())

    def __call__(self, server_round, arrays, config):
        self.net.load_state_dict(_state(self.template, arrays))
        loss, accuracy = evaluate(self.net, self.images)
        return loss, {"accuracy": accuracy}


class LiveServer(_flower.Server):
    """Flower's server with the course's round loop (see the module docstring)."""

    def __init__(self, *, min_clients, target_accuracy, run, seed=0, wait_timeout=WAIT_TIMEOUT):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.template = resnet20(NUM_CLASSES).state_dict()
        self.run = run
        start = self.template if run.last_round is None else run.model(run.last_round)
        self.held_out = HeldOut(self.template)
        strategy = _flower.FedAvg(
            fraction_fit=1.0, min_fit_clients=min_clients, min_available_clients=min_clients,
            fraction_evaluate=0.0, min_evaluate_clients=0,
            on_fit_config_fn=lambda server_round: {"current_round": server_round},
            fit_metrics_aggregation_fn=_claimed_accuracy, evaluate_fn=self.held_out,
            initial_parameters=_flower.ndarrays_to_parameters([t.numpy() for t in start.values()]))
        super().__init__(client_manager=_ClientManager(wait_timeout), strategy=strategy)
        self.min_clients, self.target_accuracy, self.wait_timeout = min_clients, target_accuracy, wait_timeout
        self.parameters = strategy.initialize_parameters(client_manager=self._client_manager)
        self.participants = {}  # Flower's connection id -> the number this server gave it
        if run.last_round is None:
            say(f"initial global model saved to {run.save(0, start)}")  # before the server listens
        else:
            say(f"resuming the run saved in {run.path} after round {run.last_round} ({len(run.records)} round "
                f"record(s)); the next round is {run.last_round + 1}")

    def fit(self, num_rounds, timeout):
        history = _flower.History()
        start = time.monotonic()
        first = 1 if self.run.last_round is None else self.run.last_round + 1
        for rnd in range(first, num_rounds + 1):
            waited = time.monotonic()
            if self._client_manager.num_available() < self.min_clients:
                say(f"round {rnd}: waiting up to {self.wait_timeout:g} s for {self.min_clients} clients "
                    f"({self._client_manager.num_available()} connected)")
            if not self._client_manager.wait_for(self.min_clients):
                say(f"round {rnd}: waited {self.wait_timeout:g} s for {self.min_clients} clients, "
                    f"{self._client_manager.num_available()} connected; stopping after {rnd - first} round(s) "
                    f"of this run")
                break
            began = time.monotonic()
            instructions = self.strategy.configure_fit(server_round=rnd, parameters=self.parameters,
                                                       client_manager=self._client_manager)
            results, failures = self._fit_all(instructions, timeout, rnd)
            accepted, rejected = self._checked(results)
            self._warn_about_names(rnd, results)
            counted = [(p, dataclasses.replace(res, num_examples=PARTICIPANT_IMAGES)) for p, res in accepted]
            parameters, claimed = self.strategy.aggregate_fit(rnd, counted, [])
            if parameters is not None:
                self.parameters = parameters
            loss, measured = self.strategy.evaluate(rnd, self.parameters)
            accuracy = measured["accuracy"]
            record = {"round": rnd, "server_accuracy": accuracy, "server_loss": loss,
                      "claimed_accuracy": claimed.get("accuracy"), "averaged": [self._who(p, r) for p, r in accepted],
                      "rejected": [f"{who}: {why}" for who, why in rejected],
                      "failed": [f"{who}: {why}" for who, why in failures]}
            path = self.run.save(rnd, _state(self.template, _flower.parameters_to_ndarrays(self.parameters)), record)
            self._send_home([proxy for proxy, _ in results])
            history.add_loss_centralized(server_round=rnd, loss=loss)
            history.add_metrics_centralized(server_round=rnd, metrics=measured)
            history.add_metrics_distributed_fit(server_round=rnd, metrics=claimed)
            received = sum(len(t) for _, res in results for t in res.parameters.tensors)
            say(f"round {rnd}/{num_rounds}: {len(accepted)} of {len(instructions)} clients averaged"
                + (f" ({len(failures)} failed or left: {'; '.join(record['failed'])})" if failures else "")
                + (f" ({len(rejected)} rejected: {'; '.join(record['rejected'])})" if rejected else "")
                + (f"; averaged {', '.join(record['averaged'])} ({PARTICIPANT_IMAGES:,} images each)"
                   if accepted else "")
                + f"; server's own accuracy {accuracy:.2f} % on {self.held_out.evaluated} held-out images"
                + (f"; clients claimed {claimed['accuracy']:.2f} % (not used)" if "accuracy" in claimed else "")
                + f"; {received / 1e6:.2f} MB received, {time.monotonic() - began:.1f} s"
                + f" (+{began - waited:.1f} s waiting); saved {path}")
            if not accepted:
                say(f"round {rnd}: no usable update; the global model is unchanged")
            if accuracy >= 100 * self.target_accuracy:
                say(f"the server's own accuracy {accuracy:.2f} % reached the target {100 * self.target_accuracy:g} %; "
                    f"stopping after round {rnd}")
                break
        return history, time.monotonic() - start

    def _who(self, proxy, res=None):
        """``#n`` (the number this server gave the connection) and, beside it, the name the client reports."""
        number = self.participants.setdefault(proxy.cid, len(self.participants) + 1)
        name = str(res.metrics.get("client", "")).strip()[:40] if res is not None else ""
        return f"#{number} {name}" if name else f"#{number}"

    def _fit_all(self, instructions, timeout, rnd):
        """Send the round to every client at once; (results, failures) with each failure as (who, what happened)."""
        for proxy, _ in instructions:
            self._who(proxy)  # numbered in the order the round picked them

        def one(proxy, ins):
            began = time.monotonic()
            try:
                res = proxy.fit(ins, timeout=timeout, group_id=rnd)
            except Exception as err:  # Flower's transport errors; reported, never raised in the round loop
                return proxy, None, _failure(err, time.monotonic() - began, timeout)
            if res.status.code.name != "OK":
                return proxy, None, f"its fit reported {res.status.code.name}: {res.status.message}"
            return proxy, res, None

        with concurrent.futures.ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            outcomes = list(pool.map(lambda instruction: one(*instruction), instructions))
        results = [(proxy, res) for proxy, res, problem in outcomes if problem is None]
        failures = [(self._who(proxy), problem) for proxy, _, problem in outcomes if problem is not None]
        return results, failures

    def _checked(self, results):
        """(accepted, rejected): each update checked against the global model; rejected as (who, why)."""
        global_arrays = _flower.parameters_to_ndarrays(self.parameters)
        fitting, rejected = [], []
        for proxy, res in results:
            arrays = _flower.parameters_to_ndarrays(res.parameters)
            problem = updates.fit_problem(arrays, self.template)
            if problem:
                rejected.append((self._who(proxy, res), problem))
            else:
                fitting.append((proxy, res, updates.distance(arrays, global_arrays)))
        global_norm = updates.distance(global_arrays, [a * 0 for a in global_arrays])
        problems = updates.outlier_problems([d for _, _, d in fitting], global_norm)
        accepted = []
        for (proxy, res, _), problem in zip(fitting, problems):
            if problem:
                rejected.append((self._who(proxy, res), problem))
            else:
                accepted.append((proxy, res))
        return accepted, rejected

    def _warn_about_names(self, rnd, results):
        """A warning line for clients of one round that report one name: the same seed, so the same data."""
        names = Counter(str(res.metrics.get("client")) for _, res in results if "client" in res.metrics)
        for name, count in names.items():
            if count > 1:
                same = ", ".join(self._who(p, r) for p, r in results if str(r.metrics.get("client")) == name)
                say(f"round {rnd}: warning: {same} report the same name {name}, i.e. the same seed and the same "
                    f"data; each is averaged as its own participant. Each participant should use their own seed.")

    def _send_home(self, proxies):
        """Tell clients that delivered their round to leave (one round per visit)."""
        if proxies:
            _flower.reconnect_clients([(p, _flower.ReconnectIns(seconds=None)) for p in proxies],
                                      max_workers=self.max_workers, timeout=30)
        for proxy in proxies:  # gone now, not when their connection closes: the next round must not pick them
            self._client_manager.unregister(proxy)


def _state(template, arrays):
    """The global model's ``state_dict`` from Flower's arrays, in the template's keys and dtypes."""
    return OrderedDict((k, torch.as_tensor(a).to(ref.dtype)) for (k, ref), a in zip(template.items(), arrays))


def _failure(err, elapsed, timeout):
    """What happened to a client that did not deliver, in words: a timeout, a lost connection, or an error."""
    if type(err).__name__ == "GrpcBridgeClosed":
        if timeout is not None and elapsed >= 0.95 * timeout:
            return f"timed out: no update within {timeout:g} s (--round-timeout)"
        return f"connection lost mid-round after {elapsed:.1f} s"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def serve(rounds=50, min_clients=2, target_accuracy=0.6, port=DEFAULT_PORT, save="models", host="0.0.0.0",
          seed=0, wait_timeout=WAIT_TIMEOUT, round_timeout=ROUND_TIMEOUT, fresh=False):
    """Run the server until the round limit, the target accuracy, or too few clients; returns Flower's History.

    ``save`` is the run folder: a run saved there is resumed; ``fresh=True`` requires it empty.
    The History has one centralized (server-measured) entry per round completed in this run.
    """
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r}: need an int >= 1, e.g. 50")
    if not isinstance(min_clients, int) or min_clients < 1:
        raise ValueError(f"min_clients={min_clients!r}: need an int >= 1, e.g. 2")
    if not 0 < target_accuracy <= 1:
        raise ValueError(f"target_accuracy={target_accuracy!r}: give a fraction in (0, 1], e.g. 0.6 for 60 %")
    run = RunFolder(save, fresh=fresh)
    if run.last_round is not None and run.last_round >= rounds:
        say(f"the run in {run.path} has completed round {run.last_round} of --rounds {rounds}; nothing to do "
            f"(raise --rounds to go on, or give a new --save folder)")
        return _flower.History()
    _flower.quiet_flower()
    say(f"FedAvg on ResNet-20 / CIFAR-100 (Flower {_flower.flower_version}) listening on {host}:{port}: up to "
        f"{rounds} rounds, at least {min_clients} client(s) per round, stop at {100 * target_accuracy:g} % accuracy "
        f"measured by the server on held-out images; every update counts as {PARTICIPANT_IMAGES:,} images (what a "
        f"participant holds, not what it reports); run folder {run.path}")
    server = LiveServer(min_clients=min_clients, target_accuracy=target_accuracy, run=run, seed=seed,
                        wait_timeout=wait_timeout)
    history = _flower.start_server(server_address=f"{host}:{port}", server=server,
                                   config=_flower.ServerConfig(num_rounds=rounds, round_timeout=round_timeout))
    say(f"done: {len(history.losses_centralized)} round(s) completed in this run")
    return history
