"""The client base a participant's notebook builds on: one visit to the server, one round of training.

fedlab does the plumbing: the model (ResNet-20 for CIFAR-100) on the compute device, local
training, saving, and a record of the round. The notebook's subclass says how a message from
the server is read (:meth:`Client.handle_message`) and how the received model is validated
(:meth:`Client.validate`), and it passes in its learning-rate schedule; that code is what runs
when the client takes part in a round.
"""
import itertools
from pathlib import Path

import torch

from .. import inputs, quick
from ..data import ImageSet
from ..devices import create_device
from ..models import resnet20
from ..training import train

NUM_CLASSES = 100
LOCAL_EPOCHS = 5
BATCH_SIZE = 128
INITIAL_LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4


class Client:
    """One participant of live federated learning.

    ``trainset``/``testset`` are the participant's data (``fedlab.ImageSet``), ``seed`` makes its
    model's starting weights and its name, ``learning_rate_for_round(current_round,
    initial_learning_rate)`` gives the rate of each round. ``local_epochs`` is 5 in the course
    (0 only validates, as the checks do). Each round's trained model is saved under ``save_dir``.
    """

    def __init__(self, trainset, testset, learning_rate_for_round, seed, *, local_epochs=LOCAL_EPOCHS,
                 initial_learning_rate=INITIAL_LEARNING_RATE, save_dir="fedlab_live"):
        for arg, value in (("trainset", trainset), ("testset", testset)):
            if not isinstance(value, ImageSet):
                raise TypeError(f"{type(self).__name__}({arg}=...): need a fedlab.ImageSet (your partition of "
                                f"CIFAR-100), got {type(value).__name__}")
        if not callable(learning_rate_for_round):
            raise TypeError(f"{type(self).__name__}(learning_rate_for_round=...): pass your function "
                            f"learning_rate_for_round(current_round, initial_learning_rate), not "
                            f"{type(learning_rate_for_round).__name__}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"{type(self).__name__}(seed={seed!r}): the seed must be an int such as MY_RANDOM_SEED")
        inputs.learning_rate(initial_learning_rate, f"{type(self).__name__}(initial_learning_rate=...)")
        if not isinstance(local_epochs, int) or local_epochs < 0:
            raise ValueError(f"{type(self).__name__}(local_epochs={local_epochs!r}): need an int >= 0 "
                             f"(5 in the course)")
        self.trainset, self.testset, self.seed = trainset, testset, seed
        self.learning_rate_for_round = learning_rate_for_round
        self.initial_learning_rate = initial_learning_rate
        self.local_epochs = local_epochs
        self.name = f"client-{seed}"
        self.save_dir = Path(save_dir) / self.name
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            start = resnet20(NUM_CLASSES)
        self._device = create_device(start, self.name, trainset, range(len(trainset)), batch_size=BATCH_SIZE)
        self.net = self._device["net"]
        self.current_round = None  # set by handle_message from the server's message
        self.history = []          # one record per round this client took part in

    def __repr__(self):
        return f"{type(self).__name__}({self.name}, {len(self.trainset)} train / {len(self.testset)} test images)"

    # ------------------------------------------------------------ written in the notebook

    def handle_message(self, message):
        """Task 4a: load ``message["weights"]`` into ``self.net``; store ``message["config"]["current_round"]``."""
        raise NotImplementedError(f"{type(self).__name__}.handle_message(message) is not written yet (Task 4a)")

    def validate(self):
        """Task 4b: the accuracy (%) of ``self.net`` as received, on ``self.testset``."""
        raise NotImplementedError(f"{type(self).__name__}.validate() is not written yet (Task 4b)")

    # ------------------------------------------------------------ the round, run by fedlab

    def weights(self):
        """The model's weights as numpy arrays, in ``state_dict`` order: what travels to the server."""
        return [t.detach().cpu().numpy() for t in self.net.state_dict().values()]

    def train_round(self, message):
        """Take part in one round: read the message, validate, train, save. Returns (weights, examples, metrics).

        The server shows the examples and metrics but does not trust them (see :mod:`fedlab.live.server`).
        """
        self.current_round = None
        self.handle_message(message)
        if not isinstance(self.current_round, int) or isinstance(self.current_round, bool):
            raise RuntimeError(f"after handle_message, self.current_round is {self.current_round!r}; store the round "
                               f"the server sent (message['config']['current_round'], here "
                               f"{message['config'].get('current_round')!r}) as an int")
        with quick.inside():  # a round is a quick loop: one epoch of one batch, one test batch
            accuracy = float(self.validate())
            lr = inputs.learning_rate(self.learning_rate_for_round(self.current_round, self.initial_learning_rate),
                                      f"learning_rate_for_round({self.current_round}, {self.initial_learning_rate})")
            self._device["optimizer"] = torch.optim.SGD(self.net.parameters(), lr=lr, momentum=MOMENTUM,
                                                        weight_decay=WEIGHT_DECAY)
            epochs = quick.limit(self.local_epochs, loop=True)
            losses = [train(epoch, self._device)[0] for epoch in range(epochs)]
        path = self._save()
        used_lr = self._device["optimizer"].param_groups[0]["lr"]
        record = {"round": self.current_round, "accuracy": accuracy, "learning_rate": used_lr, "epochs": epochs,
                  "train_loss": losses[-1] if losses else None, "model": str(path)}
        self.history.append(record)
        print(f"{self.name} round {self.current_round}: the received model scores {accuracy:.2f} % on its "
              f"test set; trained {epochs} epoch(s) at lr {used_lr:g}; saved {path}", flush=True)
        metrics = {"accuracy": accuracy, "learning_rate": lr, "client": self.name}
        return self.weights(), len(self.trainset), metrics

    def _save(self):
        """Save the trained model as ``round_NNN.pt``, never over a file already there (``round_NNN_2.pt`` then).

        Two clients with one seed on one machine, or a run started again, keep each other's models.
        """
        self.save_dir.mkdir(parents=True, exist_ok=True)
        for copy in itertools.count(1):
            path = self.save_dir / f"round_{self.current_round:03d}{'' if copy == 1 else f'_{copy}'}.pt"
            try:
                with open(path, "xb") as f:
                    torch.save(self.net.state_dict(), f)
                return path
            except FileExistsError:
                continue
