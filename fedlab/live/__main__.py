"""``python -m fedlab.live serve --rounds 50 --min-clients 2 --target-accuracy 0.6 --port 8080 --save models/``.

Exit status 0 when the server completed at least one round, 1 otherwise (also when it refuses to start).
"""
import argparse
import sys

from .run_folder import RunFolderError
from .server import DEFAULT_PORT, PARTICIPANT_IMAGES, ROUND_TIMEOUT, WAIT_TIMEOUT, serve

parser = argparse.ArgumentParser(prog="python -m fedlab.live", description="live federated learning on Flower")
commands = parser.add_subparsers(dest="command", required=True)
p = commands.add_parser("serve", help="run the FedAvg server (ResNet-20, CIFAR-100) that participants join")
p.add_argument("--rounds", type=int, default=50, help="round limit, counted over the whole run (default 50)")
p.add_argument("--min-clients", type=int, default=2, help="clients a round needs before it starts (default 2)")
p.add_argument("--target-accuracy", type=float, default=0.6,
               help="stop when the accuracy the server measures on its held-out images reaches this fraction "
                    "(default 0.6 = 60 %%; what clients report is shown, not used)")
p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0: every interface)")
p.add_argument("--save", default="models",
               help="run folder: the global model after every round and the round records (default models/); "
                    "a run saved there is resumed after its last round, and no saved round is overwritten")
p.add_argument("--fresh", action="store_true", help="start a new run; refused unless the --save folder is empty")
p.add_argument("--seed", type=int, default=0, help="seed of the initial global model of a new run (default 0)")
p.add_argument("--wait-timeout", type=float, default=WAIT_TIMEOUT,
               help=f"seconds a round waits for --min-clients clients before the run stops (default {WAIT_TIMEOUT:g})")
p.add_argument("--round-timeout", type=float, default=ROUND_TIMEOUT,
               help=f"seconds a round waits for a client's update (default {ROUND_TIMEOUT:g})")
p.epilog = f"Every accepted update counts as {PARTICIPANT_IMAGES:,} images in the average, whatever the client reports."
args = parser.parse_args()
try:
    history = serve(rounds=args.rounds, min_clients=args.min_clients, target_accuracy=args.target_accuracy,
                    port=args.port, save=args.save, host=args.host, seed=args.seed, wait_timeout=args.wait_timeout,
                    round_timeout=args.round_timeout, fresh=args.fresh)
except (RunFolderError, ValueError) as err:
    sys.exit(f"[fedlab server] stopped: {err}")
sys.exit(0 if history.losses_centralized else 1)
