"""Issue 2, items 6 and 7: progress bars that keep off stderr, and quick mode."""
import re

import pytest

import fedlab

TIMING = re.compile(r"\d+(\.\d+)?\s*(it/s|s/it)|\d\d:\d\d")


def test_quick_mode_is_on_for_fedlab_quick_or_nbgrader(monkeypatch):
    for var in ("FEDLAB_QUICK", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(var, raising=False)
    assert fedlab.quick_mode() is False
    monkeypatch.setenv("FEDLAB_QUICK", "0")
    assert fedlab.quick_mode() is False
    monkeypatch.setenv("FEDLAB_QUICK", "1")
    assert fedlab.quick_mode() is True
    monkeypatch.delenv("FEDLAB_QUICK")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert fedlab.quick_mode() is True


def test_quick_trange_yields_one_step_and_prints_one_fixed_line(quick_on, capfd):
    assert list(fedlab.trange(50, desc="rounds")) == [0]
    assert list(fedlab.trange(1, desc="epochs")) == [0]
    out, err = capfd.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert sum("quick mode is on" in line for line in lines) == 1  # announced once, visibly
    assert "rounds: 1 of 50 (quick mode)" in lines and "epochs: 1 of 1 (quick mode)" in lines
    assert not TIMING.search(out)


def test_quick_mode_is_announced_once_per_session(quick_on, capfd):
    for _ in range(3):
        fedlab.quick_mode()
        list(fedlab.trange(3))
    out, err = capfd.readouterr()
    assert out.count("fedlab: quick mode is on (FEDLAB_QUICK is set)") == 1 and err == ""


def test_quick_outputs_repeat_exactly(quick_on, capfd):
    list(fedlab.trange(10, desc="rounds"))
    first = capfd.readouterr().out.splitlines()[-1]
    list(fedlab.trange(10, desc="rounds"))
    assert capfd.readouterr().out.splitlines()[-1] == first


def test_full_trange_runs_every_step_with_a_bar_on_stdout_only(quick_off, capfd):
    assert list(fedlab.trange(5, desc="rounds")) == [0, 1, 2, 3, 4]
    out, err = capfd.readouterr()
    assert err == ""
    assert "rounds" in out and "5/5" in out


@pytest.mark.parametrize("n", [-1, 2.0, "3", None, True])
def test_trange_refuses_what_is_not_a_count(n):
    with pytest.raises(ValueError, match=r"trange\(n\)"):
        fedlab.trange(n)
