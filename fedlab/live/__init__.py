"""Live federated learning on Flower: a server an instructor starts, a client base a notebook builds on.

- ``python -m fedlab.live serve ...`` runs the server (see :mod:`fedlab.live.server`).
- :class:`Client` is subclassed in the notebook (Task 4); :func:`join` takes it to a server for one round.
- :func:`local_federation` runs a whole federation on one machine: a server and a second client
  here, or the server named by ``FEDLAB_SERVER=host:port``.

Every Flower import lives in this package (in :mod:`fedlab.live._flower`).
"""
from ._flower import flower_version
from .client import Client
from .connect import check_reachable, join
from .federation import local_federation
from .server import serve

__all__ = ["Client", "check_reachable", "flower_version", "join", "local_federation", "serve"]
