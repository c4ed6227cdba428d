"""The grade table flags handed-in histories that are not a full run of the release's experiments (issue 9, 7)."""
import json
from pathlib import Path

import nbformat

import fedlab
from course import demo, histories
from course.classroom import Grade

ROOT = Path(__file__).resolve().parents[1]
RELEASE_01 = nbformat.read(ROOT / "notebooks" / "01_fedavg" / "fedavg.ipynb", as_version=4)


def made(**config):
    return {"fedlab": fedlab.__version__, "config": config, "wall_time_s": 3600.0, "device": "NVIDIA H100",
            "quick_mode": False}


def test_the_release_says_what_a_full_run_of_each_experiment_holds():
    assert histories.plans(RELEASE_01) == {"fedavg_single_device": {"epochs": 1000, "test_every": 10},
                                           "fedavg_iid": {"rounds": 100}}


def test_forged_and_quick_histories_are_flagged_and_full_runs_are_not(tmp_path):
    files = {
        "fedavg_iid": {"values": [99.0] * 3, "provenance": made(rounds=3)},  # a flat 99 % over 3 of 100 rounds
        "fedavg_single_device": {"values": [40.0] * 100, "provenance": made(epochs=1000, test_every=10)},
    }
    for name, saved in files.items():
        (tmp_path / f"{name}.history.json").write_text(json.dumps(saved))
    assert histories.flags(tmp_path, [RELEASE_01]) == [
        "fedavg_iid.history.json: not from a full run (made with rounds=3, but this notebook's experiment has "
        "rounds=100)"]
    (tmp_path / "fedavg_iid.history.json").write_text(json.dumps({"values": [50.0] * 100, "provenance": made(
        rounds=100)}))
    assert histories.flags(tmp_path, [RELEASE_01]) == []
    (tmp_path / "fedavg_iid.history.json").write_text(json.dumps({"values": [50.0] * 100, "provenance": dict(
        made(rounds=100), quick_mode=True)}))
    (tmp_path / "fedavg_single_device.history.json").write_text("{ not json")
    (tmp_path / "other.history.json").symlink_to(ROOT / "README.md")
    assert histories.flags(tmp_path, [RELEASE_01]) == [
        "fedavg_iid.history.json: not from a full run (made in quick mode)",
        "fedavg_single_device.history.json: not a history fedlab wrote (not JSON)",
        "other.history.json: not read (not a plain file, or over 16 MB)"]


def test_the_grade_table_marks_a_flagged_score_and_lists_why():
    grades = [Grade("ann", "01_fedavg", 13.0, 13.0), Grade("bob", "01_fedavg", 0.0, 13.0,
                                                           ("fedavg_iid.history.json: not from a full run (3 of 100 "
                                                            "rounds)",))]
    table = demo.table(grades).splitlines()
    assert table[1].split() == ["ann", "13", "/", "13"] and table[2].split() == ["bob", "0", "/", "13", "(!)"]
    assert table[3] == "(!) bob 01_fedavg: fedavg_iid.history.json: not from a full run (3 of 100 rounds)"
