"""The federated server an instructor starts with one command: FedAvg over ResNet-20 / CIFAR-100 weights.

Each round takes every client connected when it starts (at least ``min_clients``, waiting a
bounded time for them), sends the global weights with the round number, averages the updates
that come back with the right shapes, saves the global model and prints one line. Clients
that delivered are told to leave, so participants take turns. The run ends at the round
limit, when the clients' average accuracy reaches the target, or when too few clients come.
"""
import os
import time
from collections import OrderedDict
from pathlib import Path

import torch

from ..models import resnet20
from . import _flower
from .client import NUM_CLASSES

DEFAULT_PORT = 8080
WAIT_TIMEOUT = 600.0    # seconds a round waits for enough clients before the run stops
ROUND_TIMEOUT = 1800.0  # seconds a round waits for a client's update before counting it as failed


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


def _mean_accuracy(fit_metrics):
    """The clients' average accuracy (%) of the model they received; Flower's fit_metrics_aggregation_fn."""
    accs = [m["accuracy"] for _, m in fit_metrics if "accuracy" in m]
    return {"accuracy": sum(accs) / len(accs)} if accs else {}


class LiveServer(_flower.Server):
    """Flower's server with the course's round loop (see the module docstring)."""

    def __init__(self, *, min_clients, target_accuracy, save_dir, seed=0, wait_timeout=WAIT_TIMEOUT):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.template = resnet20(NUM_CLASSES).state_dict()
        initial = [t.numpy() for t in self.template.values()]
        strategy = _flower.FedAvg(
            fraction_fit=1.0, min_fit_clients=min_clients, min_available_clients=min_clients,
            fraction_evaluate=0.0, min_evaluate_clients=0,
            on_fit_config_fn=lambda server_round: {"current_round": server_round},
            fit_metrics_aggregation_fn=_mean_accuracy,
            initial_parameters=_flower.ndarrays_to_parameters(initial))
        super().__init__(client_manager=_ClientManager(wait_timeout), strategy=strategy)
        self.min_clients, self.target_accuracy = min_clients, target_accuracy
        self.save_dir, self.wait_timeout = Path(save_dir), wait_timeout
        self.parameters = strategy.initialize_parameters(client_manager=self._client_manager)
        say(f"initial global model saved to {self._save(0)}")  # before the server listens

    def fit(self, num_rounds, timeout):
        history = _flower.History()
        start = time.monotonic()
        for rnd in range(1, num_rounds + 1):
            waited = time.monotonic()
            if self._client_manager.num_available() < self.min_clients:
                say(f"round {rnd}: waiting up to {self.wait_timeout:g} s for {self.min_clients} clients "
                    f"({self._client_manager.num_available()} connected)")
            if not self._client_manager.wait_for(self.min_clients):
                say(f"round {rnd}: waited {self.wait_timeout:g} s for {self.min_clients} clients, "
                    f"{self._client_manager.num_available()} connected; stopping after {rnd - 1} round(s)")
                break
            began = time.monotonic()
            instructions = self.strategy.configure_fit(server_round=rnd, parameters=self.parameters,
                                                       client_manager=self._client_manager)
            results, failures = _flower.fit_clients(instructions, max_workers=self.max_workers,
                                                    timeout=timeout, group_id=rnd)
            accepted = self._accepted(rnd, results)
            parameters, metrics = self.strategy.aggregate_fit(rnd, accepted, failures)
            if parameters is not None:
                self.parameters = parameters
            path = self._save(rnd)
            self._send_home([proxy for proxy, _ in results])
            history.add_metrics_distributed_fit(server_round=rnd, metrics=metrics)
            received = sum(len(t) for _, res in results for t in res.parameters.tensors)
            accuracy = metrics.get("accuracy")
            say(f"round {rnd}/{num_rounds}: {len(accepted)} of {len(instructions)} clients averaged"
                + (f" ({len(failures)} failed or left: {_describe(failures)})" if failures else "")
                + (f", average accuracy {accuracy:.2f} % (of the model they received)" if accuracy is not None else "")
                + f", {received / 1e6:.2f} MB received, {time.monotonic() - began:.1f} s"
                + f" (+{began - waited:.1f} s waiting); saved {path}")
            if not accepted:
                say(f"round {rnd}: no usable update; the global model is unchanged")
            if accuracy is not None and accuracy >= 100 * self.target_accuracy:
                say(f"the clients' average accuracy {accuracy:.2f} % reached the target "
                    f"{100 * self.target_accuracy:g} %; stopping after round {rnd}")
                break
        return history, time.monotonic() - start

    def _accepted(self, rnd, results):
        """The results whose weights fit the global model; each other one is reported and left out."""
        accepted = []
        for proxy, res in results:
            problem = _shape_problem(_flower.parameters_to_ndarrays(res.parameters), self.template)
            if problem:
                who = res.metrics.get("client", proxy.cid[:8])
                say(f"round {rnd}: rejected the update of {who}: {problem}; the global model does not take it")
            else:
                accepted.append((proxy, res))
        return accepted

    def _send_home(self, proxies):
        """Tell clients that delivered their round to leave (one round per visit)."""
        if proxies:
            _flower.reconnect_clients([(p, _flower.ReconnectIns(seconds=None)) for p in proxies],
                                      max_workers=self.max_workers, timeout=30)
        for proxy in proxies:  # gone now, not when their connection closes: the next round must not pick them
            self._client_manager.unregister(proxy)

    def _save(self, rnd):
        self.save_dir.mkdir(parents=True, exist_ok=True)
        arrays = _flower.parameters_to_ndarrays(self.parameters)
        state = OrderedDict((k, torch.as_tensor(a).to(ref.dtype)) for (k, ref), a in zip(self.template.items(), arrays))
        path = self.save_dir / f"round_{rnd:03d}.pt"
        partial = path.with_suffix(".pt.partial")
        torch.save(state, partial)
        os.replace(partial, path)  # whoever reads the folder sees whole files only
        return path


def _shape_problem(arrays, template):
    """Why ``arrays`` cannot be the global model's weights, or None if their number and shapes fit."""
    if len(arrays) != len(template):
        return f"it sent {len(arrays)} weight arrays, the global model (ResNet-20, 100 classes) has {len(template)}"
    for (key, ref), array in zip(template.items(), arrays):
        if tuple(array.shape) != tuple(ref.shape):
            return f"'{key}' has shape {tuple(array.shape)}, the global model's has {tuple(ref.shape)}"
    return None


def _describe(failures):
    """Why clients did not deliver, in words: a dropped connection, a timeout, or an error status."""
    reasons = []
    for failure in failures:
        if type(failure).__name__ == "GrpcBridgeClosed":
            reasons.append("connection lost mid-round")
        elif isinstance(failure, BaseException):
            reasons.append(f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__)
        else:
            reasons.append(f"status {failure[1].status.code.name}")
    return "; ".join(reasons)


def serve(rounds=50, min_clients=2, target_accuracy=0.6, port=DEFAULT_PORT, save="models", host="0.0.0.0",
          seed=0, wait_timeout=WAIT_TIMEOUT, round_timeout=ROUND_TIMEOUT):
    """Run the server until the round limit, the target accuracy, or too few clients; returns Flower's History."""
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r}: need an int >= 1, e.g. 50")
    if not isinstance(min_clients, int) or min_clients < 1:
        raise ValueError(f"min_clients={min_clients!r}: need an int >= 1, e.g. 2")
    if not 0 < target_accuracy <= 1:
        raise ValueError(f"target_accuracy={target_accuracy!r}: give a fraction in (0, 1], e.g. 0.6 for 60 %")
    _flower.quiet_flower()
    say(f"FedAvg on ResNet-20 / CIFAR-100 (Flower {_flower.flower_version}) listening on {host}:{port}: up to "
        f"{rounds} rounds, at least {min_clients} client(s) per round, stop at {100 * target_accuracy:g} % average "
        f"accuracy; models go to {Path(save)}")
    server = LiveServer(min_clients=min_clients, target_accuracy=target_accuracy, save_dir=save, seed=seed,
                        wait_timeout=wait_timeout)
    history = _flower.start_server(server_address=f"{host}:{port}", server=server,
                                   config=_flower.ServerConfig(num_rounds=rounds, round_timeout=round_timeout))
    say("done")
    return history
