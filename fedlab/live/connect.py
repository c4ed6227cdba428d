"""Connecting a client to a server: one visit, one round, then the client leaves.

The server tells every client that delivered its round to leave, so many participants can
take turns on one server. An address where nothing listens fails fast, naming the address,
instead of Flower's endless retries.
"""
import logging
import socket

from . import _flower

CONNECT_TIMEOUT = 5.0


def parse_address(address):
    """``"host:port"`` -> ``(host, port)``; a ValueError that shows the expected form otherwise."""
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"server address {address!r} is not host:port; use e.g. '127.0.0.1:8080' "
                         f"(FEDLAB_SERVER takes the same form)")
    return host.strip("[]"), int(port)


def check_reachable(address, timeout=CONNECT_TIMEOUT):
    """Raise ConnectionError naming ``address`` unless something accepts connections there."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise ConnectionError(f"no federated-learning server is reachable at {address} ({err}). Start one with "
                              f"`python -m fedlab.live serve --port {port}`, or check FEDLAB_SERVER "
                              f"(host:port of your instructor's server).") from None


class _FlowerClient(_flower.NumPyClient):
    """Flower's view of a fedlab client: a training instruction becomes one ``train_round``."""

    def __init__(self, client):
        self.client = client

    def get_parameters(self, config):
        return self.client.weights()

    def fit(self, parameters, config):
        return self.client.train_round({"weights": parameters, "config": dict(config)})


def join(client, address, timeout=CONNECT_TIMEOUT):
    """Connect ``client`` to the server at ``address``, train the round it is given, and leave.

    Returns the round's record (``client.history[-1]``), or None when the server ended without
    giving this client a round.
    """
    check_reachable(address, timeout)
    before = len(client.history)
    _flower.quiet_flower(logging.CRITICAL)  # an error in the client's code is raised here, not logged
    try:
        _flower.start_client(server_address=address, client=_FlowerClient(client).to_client(),
                             max_retries=2, max_wait_time=timeout)
    except _flower.RpcError as err:
        details = err.details() if hasattr(err, "details") else str(err)
        raise ConnectionError(f"lost the connection to the server at {address}: {details}") from None
    return client.history[-1] if len(client.history) > before else None
