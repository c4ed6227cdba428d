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


# ---------------------------------------------------------------- a history that is not a full run is drawn as such

def saved_history(tmp_path, values, made):
    (tmp_path / "fedavg_iid.history.json").write_text(json.dumps({"values": values, "provenance": made}))


FULL = {"fedlab": fedlab.__version__, "config": {"rounds": 100, "local_epochs": 4}, "completed": 100,
        "wall_time_s": 3600.0, "device": "NVIDIA H100", "quick_mode": False}


@pytest.mark.parametrize("values, made, says", [
    ([99.0] * 3, dict(FULL), "3 of 100 rounds"),  # a forged flat 99 % over 3 of 100 rounds
    ([99.0] * 3, dict(FULL, config={"rounds": 3}), "made with rounds=3, but this notebook's experiment has rounds=100"),
    ([50.0] * 100, None, "no record of how it was made"),
    ([50.0] * 100, dict(FULL, quick_mode=True), "made in quick mode"),
    ({"0": [50.0] * 100, "1": [50.0] * 7}, dict(FULL), "7 of 100 rounds"),
])
def test_a_graded_notebook_marks_a_history_that_is_not_a_full_run(quick_on, tmp_path, capsys, values, made, says):
    saved_history(tmp_path, values, made)
    run = counting([1.0])
    got = fedlab.experiment("fedavg_iid", run, rounds=100, local_epochs=4)
    assert run.calls == 0 and got == values and got.not_full_run == says
    assert f"NOT FROM A FULL RUN ({says})" in capsys.readouterr().out
    experiments_module._runs.clear()  # a plot cell after a restart reads the file and marks it too (but for config)
    if "this notebook's" not in says:
        assert fedlab.history("fedavg_iid").not_full_run == says


def test_a_full_run_that_fits_is_drawn_unmarked(quick_on, tmp_path, capsys):
    saved_history(tmp_path, [50.0] * 100, FULL)
    got = fedlab.experiment("fedavg_iid", counting([1.0]), rounds=100, local_epochs=4)
    assert type(got) is list and got == [50.0] * 100
    assert "using the full run saved in fedavg_iid.history.json" in capsys.readouterr().out


def test_a_quick_run_is_marked_and_a_full_run_records_what_it_completed(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    assert fedlab.experiment("fedavg_iid", counting([1.0]), rounds=100).not_full_run == "a quick-mode run"
    monkeypatch.delenv("FEDLAB_QUICK")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert type(fedlab.experiment("fedavg_iid", counting([1.0, 2.0]), rounds=2)) is list
    made = json.loads((tmp_path / "fedavg_iid.history.json").read_text())["provenance"]
    assert made["completed"] == 2 and experiments_module.not_full_run([1.0, 2.0], made) is None


def test_a_lone_devices_history_holds_one_value_per_test():
    """01's lone device: epochs=1000 tested every 10 epochs is 100 values, whatever the unit."""
    made = dict(FULL, config={"epochs": 1000, "test_every": 10})
    assert experiments_module.not_full_run([50.0] * 100, made, {"epochs": 1000, "test_every": 10}) is None
    assert experiments_module.not_full_run([99.0] * 3, made) == "3 of 100 values"
    assert experiments_module.not_full_run([50.0] * 12, dict(FULL, config={"max_rounds": 50})) is None  # may stop early
