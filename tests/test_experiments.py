"""Experiments and their histories: a full run saves what it measured; a graded quick re-run uses the saved run."""
import json

import pytest

import fedlab
from fedlab import experiments as experiments_module


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_runs(monkeypatch):
    monkeypatch.setattr(experiments_module, "_runs", {})


def counting(values):
    """A run that returns ``values`` and counts its calls."""
    def run():
        run.calls += 1
        return values
    run.calls = 0
    return run


def test_a_full_run_saves_values_with_provenance(quick_off, tmp_path):
    run = counting([10.0, 20.0])
    assert fedlab.experiment("fedavg_iid", run, rounds=2, devices=50) == [10.0, 20.0]
    saved = json.loads((tmp_path / "fedavg_iid.history.json").read_text())
    assert saved["values"] == [10.0, 20.0] and run.calls == 1
    made = saved["provenance"]
    assert made["config"] == {"rounds": 2, "devices": 50} and made["fedlab"] == fedlab.__version__
    assert made["quick_mode"] is False and made["wall_time_s"] >= 0 and made["device"]


def test_graded_notebook_returns_the_saved_run_without_running(quick_off, monkeypatch, capsys):
    fedlab.experiment("fedavg_iid", counting([10.0, 20.0, 30.0]))
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    run = counting([1.0])
    capsys.readouterr()
    assert fedlab.experiment("fedavg_iid", run) == [10.0, 20.0, 30.0]
    assert run.calls == 0 and "fedavg_iid.history.json" in capsys.readouterr().out
    assert fedlab.history("fedavg_iid") == [10.0, 20.0, 30.0]


def test_a_quick_run_without_a_saved_history_runs_and_saves_nothing(quick_on, tmp_path):
    run = counting({"0": [1.0], "1": [2.0]})
    assert fedlab.experiment("noniid_fair", run) == {"0": [1.0], "1": [2.0]} and run.calls == 1
    assert list(tmp_path.iterdir()) == []
    assert fedlab.history("noniid_fair") == {"0": [1.0], "1": [2.0]}


def test_history_reads_a_saved_run_after_a_restart(quick_off, tmp_path, capsys):
    fedlab.experiment("fedavg_iid", counting([5.0]))
    experiments_module._runs.clear()  # a new kernel
    assert fedlab.history("fedavg_iid") == [5.0]


def test_history_of_an_experiment_that_never_ran_says_what_to_do(quick_on):
    with pytest.raises(LookupError, match="run the experiment cell above"):
        fedlab.history("fedavg_iid")


@pytest.mark.parametrize("content", ["{ not json", "[1, 2, 3]", '{"accs": [1]}'])
def test_a_file_fedlab_did_not_write_is_named(quick_on, tmp_path, content):
    (tmp_path / "fedavg_iid.history.json").write_text(content)
    with pytest.raises(ValueError, match="fedavg_iid.history.json is not a history fedlab wrote"):
        fedlab.experiment("fedavg_iid", counting([1.0]))


def test_experiment_needs_a_function(quick_on):
    with pytest.raises(TypeError, match="pass a function that runs the experiment"):
        fedlab.experiment("fedavg_iid", [1.0, 2.0])


def test_a_history_of_another_assignment_is_read_from_its_folder(quick_off, tmp_path, monkeypatch):
    (tmp_path / "01_fedavg").mkdir()
    monkeypatch.chdir(tmp_path / "01_fedavg")
    fedlab.experiment("fedavg_iid", counting([70.0]), rounds=1)
    monkeypatch.chdir(tmp_path)
    values, made = experiments_module.load("fedavg_iid", folder="01_fedavg")
    assert values == [70.0] and made["config"] == {"rounds": 1}
    assert experiments_module.load("fedavg_iid") is None


@pytest.mark.parametrize("name", ["", "../fedavg", "fed avg", "a/b"])
def test_history_names_are_plain(quick_off, name):
    with pytest.raises(ValueError, match="experiment.name="):
        fedlab.experiment(name, counting([1.0]))
    with pytest.raises(ValueError, match="history.name="):
        fedlab.history(name)
