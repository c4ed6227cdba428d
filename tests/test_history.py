"""Histories: a full run saves its measurements; a quick re-run (autograding) plots the saved ones."""
import json

import pytest

import fedlab


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_full_run_saves_its_values_beside_the_notebook(quick_off, tmp_path):
    values = {"iid": [10.5, 20.0], "non-iid": [5.0, 7.5]}
    assert fedlab.keep_history("fedavg", values) == values
    assert json.loads((tmp_path / "fedavg.history.json").read_text()) == values


def test_a_quick_rerun_returns_the_saved_full_run_and_says_so(quick_off, tmp_path, monkeypatch, capsys):
    fedlab.keep_history("fedavg", [10.0, 20.0, 30.0])
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    capsys.readouterr()
    assert fedlab.keep_history("fedavg", [1.0, 2.0]) == [10.0, 20.0, 30.0]
    assert "fedavg.history.json" in capsys.readouterr().out
    assert json.loads((tmp_path / "fedavg.history.json").read_text()) == [10.0, 20.0, 30.0]  # not overwritten


def test_a_quick_run_without_a_saved_history_keeps_its_own_values_and_saves_nothing(quick_on, tmp_path):
    assert fedlab.keep_history("fedavg", [1.0, 2.0]) == [1.0, 2.0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "../fedavg", "fed avg", "a/b"])
def test_history_names_are_plain(quick_off, name):
    with pytest.raises(ValueError, match="keep_history.name="):
        fedlab.keep_history(name, [1.0])
