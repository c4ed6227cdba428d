"""Issue 12, library inputs: every bad index, learning rate, milestone, net dtype and cache folder of the issue.

One table: each case is refused with an error that names the argument and the fix, and nothing
is coerced (the case's message is what a student reads).
"""
import os

import numpy as np
import pytest
import torch

import fedlab
from fedlab import data
from fedlab.live.client import Client


class _Client(Client):
    """The live client with the course's message handling, for its learning-rate check."""

    def handle_message(self, message):
        self.current_round = message["config"]["current_round"]

    def validate(self):
        return 0.0


def _device(trainset, **kwargs):
    return fedlab.create_device(fedlab.TestNetwork(), 0, trainset, kwargs.pop("idxs", [0, 1]), **kwargs)


def _train_on_double_net(trainset):
    device = _device(trainset)
    device["net"].double()
    fedlab.train(0, device)


def _live_round(trainset, rate):
    small = fedlab.ImageSet(trainset.data[:4], trainset.labels[:4], name="s", source=trainset.source,
                            mean=trainset.mean, std=trainset.std)
    client = _Client(small, small, lambda current_round, initial: rate, 5, local_epochs=0, save_dir="unused")
    client.train_round({"weights": None, "config": {"current_round": 1}})


# (case, call on the CIFAR-10 stand-in (train, test), error, message)
CASES = [
    ("float indices", lambda tr, te: _device(tr, idxs=[0.5, 1.7]), ValueError,
     r"create_device\(data_idxs=...\): element 0 is 0.5 \(float\), not an int; need int indices"),
    ("float tensor", lambda tr, te: _device(tr, idxs=torch.tensor([0.0, 1.0])), ValueError,
     r"create_device\(data_idxs=...\): got torch.float32 values; indices must be ints"),
    ("torch bool mask", lambda tr, te: _device(tr, idxs=torch.arange(100) < 50), ValueError,
     r"create_device\(data_idxs=...\): got a boolean mask \(100 True/False values\), not indices; .*nonzero"),
    ("numpy bool mask", lambda tr, te: _device(tr, idxs=np.ones(10, dtype=bool)), ValueError,
     r"data_idxs=...\): got a boolean mask"),
    ("python bools", lambda tr, te: _device(tr, idxs=[True, False, True]), ValueError,
     r"create_device\(data_idxs=...\): element 0 is True, a bool; pass the positions"),
    ("duplicates", lambda tr, te: _device(tr, idxs=[3, 5, 3, 3]), ValueError,
     r"create_device\(data_idxs=...\): index 3 is listed 3 times \(2 repeats in all\); list each image once"),
    ("2-D list", lambda tr, te: _device(tr, idxs=[[0, 1], [2, 3]]), ValueError,
     r"create_device\(data_idxs=...\): element 0 is itself a list .*not a list of lists"),
    ("2-D tensor", lambda tr, te: _device(tr, idxs=torch.arange(4).view(2, 2)), ValueError,
     r"create_device\(data_idxs=...\): need one flat list of indices, got a 2-D array of shape \(2, 2\)"),
    ("a single int", lambda tr, te: _device(tr, idxs=7), ValueError,
     r"create_device\(data_idxs=...\): need a list of int indices .*got 7 \(int\); for one image write \[7\]"),
    ("evaluate: float indices", lambda tr, te: fedlab.evaluate(fedlab.TestNetwork(), te, [0.5, 1.7]), ValueError,
     r"evaluate\(idxs=...\): element 0 is 0.5 \(float\), not an int"),
    ("evaluate: negative index", lambda tr, te: fedlab.evaluate(fedlab.TestNetwork(), te, [-1, 2]), ValueError,
     r"evaluate\(idxs=...\): index -1 is out of range for a data set of 10000 images; .*0..9999"),
    ("evaluate: bool mask", lambda tr, te: fedlab.evaluate(fedlab.TestNetwork(), te, torch.ones(10000) > 0),
     ValueError, r"evaluate\(idxs=...\): got a boolean mask"),
    ("lr as a string", lambda tr, te: _device(tr, lr="0.1"), TypeError,
     r"create_device\(lr='0.1'\): the learning rate must be a number such as 0.1, got '0.1' \(str\)"),
    ("lr None", lambda tr, te: _device(tr, lr=None), TypeError,
     r"create_device\(lr=None\): the learning rate must be a number such as 0.1, got None \(NoneType\)"),
    ("lr inf", lambda tr, te: _device(tr, lr=float("inf")), ValueError,
     r"create_device\(lr=inf\): the learning rate must be a finite positive number such as 0.1, got inf"),
    ("lr nan", lambda tr, te: _device(tr, lr=float("nan")), ValueError, r"create_device\(lr=nan\): .*finite positive"),
    ("lr True", lambda tr, te: _device(tr, lr=True), TypeError, r"create_device\(lr=True\): .*a number"),
    ("milestones as strings", lambda tr, te: _device(tr, milestones=["25", "50"]), TypeError,
     r"create_device\(milestones=\['25', '50'\]\): milestone '25' \(str\) is not an int; milestones are round"),
    ("milestones as one int", lambda tr, te: _device(tr, milestones=25), TypeError,
     r"create_device\(milestones=25\): need a list of rounds .*e.g. \[25, 50, 75\], got 25 \(int\); for one "
     r"milestone write \[25\]"),
    ("milestones as a string", lambda tr, te: _device(tr, milestones="25,50"), TypeError,
     r"create_device\(milestones='25,50'\): need a list of rounds"),
    ("milestone 0", lambda tr, te: _device(tr, milestones=[0, 10]), ValueError,
     r"create_device\(milestones=\[0, 10\]\): milestone 0 is not a round; rounds count from 1"),
    ("milestone twice", lambda tr, te: _device(tr, milestones=[25, 25]), ValueError,
     r"milestone 25 is listed more than once"),
    ("train on a float64 net", lambda tr, te: _train_on_double_net(tr), TypeError,
     r"train\(epoch, device\): the net of device 0 has torch.float64 weights, but fedlab's images are torch.float32; "
     r"keep the net in float32"),
    ("evaluate a float16 net", lambda tr, te: fedlab.evaluate(fedlab.TestNetwork().half(), te), TypeError,
     r"evaluate\(net=...\): the net has torch.float16 weights"),
    ("live: the round's rate as a string", lambda tr, te: _live_round(tr, "0.1"), TypeError,
     r"learning_rate_for_round\(1, 0.1\): the learning rate must be a number such as 0.1, got '0.1' \(str\)"),
    ("live: the round's rate inf", lambda tr, te: _live_round(tr, float("inf")), ValueError,
     r"learning_rate_for_round\(1, 0.1\): the learning rate must be a finite positive number"),
]


@pytest.mark.parametrize("case, call, error, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_argument_and_the_fix(cifar10, case, call, error, message):
    with pytest.raises(error, match=message):
        call(*cifar10)


def test_good_inputs_still_pass_unchanged(cifar10, quick_on):
    """The same functions take what the course passes: ints of any integer type, sets, numpy ints, lists of rounds."""
    trainset, testset = cifar10
    for idxs in ([np.int64(4), np.int32(2)], torch.tensor([4, 2], dtype=torch.int32), np.array([4, 2], np.uint16)):
        assert _device(trainset, idxs=idxs)["data_idxs"].tolist() == [4, 2]
    device = _device(trainset, lr=np.float32(0.05), milestones=(2, 4))
    assert device["scheduler"].milestones == {2: 1, 4: 1} and device["optimizer"].param_groups[0]["lr"] == 0.05
    assert 0 <= fedlab.evaluate(fedlab.ConvNet(), testset, range(3))[1] <= 100


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_text("not a folder"),
     r"FEDLAB_CACHE=.*cache is not a folder but a file; set FEDLAB_CACHE to a folder you can write to"),
    (lambda path: path.parent.rmdir() or path.parent.write_text("a file where a folder should be"),
     r"FEDLAB_CACHE=.*cache: the folder cannot be created \(Not a directory\); set FEDLAB_CACHE to a folder"),
    (lambda path: (path.mkdir(), path.chmod(0o500)),
     r"FEDLAB_CACHE=.*cache: the folder is not writable; set FEDLAB_CACHE to a folder you can write to"),
], ids=["a file", "under a file", "read-only"])
def test_a_cache_that_cannot_be_used_names_fedlab_cache(tmp_path, monkeypatch, make, message):
    if "not writable" in message and os.access(tmp_path, os.W_OK) and os.geteuid() == 0:
        pytest.skip("root writes to read-only folders; the check cannot fail here")
    path = tmp_path / "parent" / "cache"
    path.parent.mkdir()
    make(path)
    monkeypatch.setenv("FEDLAB_CACHE", str(path))
    monkeypatch.setenv("FEDLAB_DATA", "synthetic")
    try:
        with pytest.raises(data.DataSourceError, match=message):
            data.load_cifar10()
    finally:
        if path.is_dir():
            path.chmod(0o700)
