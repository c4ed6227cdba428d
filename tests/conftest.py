"""Shared fixtures: the synthetic data sets (loaded once per session) and quick mode on or off.

Tests never touch the network and never need real CIFAR: data comes from the offline stand-in
(``FEDLAB_DATA=synthetic``) whatever the caller's environment says.
"""
import pytest

import fedlab
from fedlab import quick


def _load_synthetic(load):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEDLAB_DATA", "synthetic")
        return load()


@pytest.fixture(scope="session")
def cifar10():
    """(trainset, testset) of the synthetic CIFAR-10 stand-in from the usual cache."""
    return _load_synthetic(fedlab.load_cifar10)


@pytest.fixture(scope="session")
def cifar100():
    """(trainset, testset) of the synthetic CIFAR-100 stand-in from the usual cache."""
    return _load_synthetic(fedlab.load_cifar100)


@pytest.fixture
def quick_on(monkeypatch):
    """Quick mode on (as ``make test`` and nbgrader have it), announced afresh."""
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setattr(quick, "_announced", False)


@pytest.fixture
def quick_off(monkeypatch):
    """Quick mode off: loops, training and testing run in full."""
    monkeypatch.delenv("FEDLAB_QUICK", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
