"""The one place fedlab imports Flower; moving to another Flower API touches this package only.

Flower is set up for a course machine before it loads: no telemetry or update checks (runs
work offline), gRPC's C core quiet, and Flower's own log kept off stderr except for errors
(nbgrader zeroes notebook cells that write to stderr). ``start_server``/``start_client`` are
deprecated since Flower 1.13 in favour of the ``flower-superlink``/``flower-supernode``
commands, but they are the API that lets a notebook process run its own code as a client
over the network; their deprecation banner is dropped here, and the README says so.
"""
import logging
import os

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import flwr  # noqa: E402
import grpc  # noqa: E402
from flwr.client import NumPyClient  # noqa: E402
from flwr.common import ReconnectIns, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server import History, Server, ServerConfig, SimpleClientManager  # noqa: E402
from flwr.server.server import reconnect_clients  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

__all__ = ["FedAvg", "RpcError", "History", "NumPyClient", "ReconnectIns", "Server", "ServerConfig",
           "SimpleClientManager", "flower_version", "ndarrays_to_parameters",
           "parameters_to_ndarrays", "quiet_flower", "reconnect_clients", "start_client", "start_server"]

flower_version = flwr.__version__
RpcError = grpc.RpcError  # how a lost connection surfaces in start_client


class _NoDeprecationBanner(logging.Filter):
    def filter(self, record):
        return not str(record.msg).startswith("DEPRECATED FEATURE")


def quiet_flower(level=logging.ERROR):
    """Keep Flower's console log to ``level`` and above, and without the deprecation banner."""
    from flwr.common.logger import console_handler
    console_handler.setLevel(level)
    if not any(isinstance(f, _NoDeprecationBanner) for f in console_handler.filters):
        console_handler.addFilter(_NoDeprecationBanner())


def start_server(**kwargs):
    from flwr.server import start_server as flower_start_server
    return flower_start_server(**kwargs)


def start_client(**kwargs):
    from flwr.client import start_client as flower_start_client
    return flower_start_client(**kwargs)
