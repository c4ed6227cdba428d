"""Issue 2, item 8: the course's figures; each function returns its figure."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from fedlab import plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _lines(fig):
    return fig.axes[0].get_lines()


def test_accuracy_of_one_run():
    fig = plots.plot_accuracy([10.0, 20.0, 30.0], title="FedAvg")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    (line,) = _lines(fig)
    assert line.get_xdata().tolist() == [1, 2, 3] and line.get_ydata().tolist() == [10.0, 20.0, 30.0]
    ax = fig.axes[0]
    assert ax.get_title() == "FedAvg" and ax.get_xlabel() == "round" and ax.get_legend() is None


def test_accuracy_of_several_runs_every_few_epochs():
    runs = {"iid": [10, 20], "non-iid": [5, 8], "one class": [1, 2]}
    fig = plots.plot_accuracy(runs, xlabel="epoch", every=5)
    assert [line.get_label() for line in _lines(fig)] == list(runs)
    assert _lines(fig)[0].get_xdata().tolist() == [5, 10]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(runs)
    assert fig.axes[0].get_xlabel() == "epoch"


def test_group_accuracy_draws_one_line_per_group():
    fig = plots.plot_group_accuracy({0: [50, 60], 1: [40, 45]})
    assert [line.get_label() for line in _lines(fig)] == ["group 0", "group 1"]
    assert _lines(fig)[1].get_ydata().tolist() == [40, 45]


def test_client_samples_draws_one_strip_per_client():
    clients = [range(0, 30), np.arange(20, 60), [5, 99]]
    fig = plots.plot_client_samples(clients, 100)
    strips = fig.axes[0].collections
    assert len(strips) == 3
    assert [len(s.get_segments()) for s in strips] == [30, 40, 2]
    assert fig.axes[0].get_xlim() == (0, 100)


def test_coverage_counts_what_the_first_k_clients_hold():
    assert plots.coverage([range(0, 50), range(25, 75), [], range(50, 100)], 100) == [0.5, 0.75, 0.75, 1.0]
    assert plots.coverage([np.array([3, 3, 3])], 10) == [0.1]


def test_coverage_plot_has_one_line_per_curve_and_the_target():
    curves = {"1/2": [0.5, 0.75, 0.875], "1/3": [1 / 3, 5 / 9, 19 / 27]}
    fig = plots.plot_coverage(curves, target=0.8)
    lines = _lines(fig)
    assert len(lines) == 3
    assert [line.get_label() for line in lines] == ["1/2", "1/3", "80% of the data"]
    assert lines[0].get_ydata() == pytest.approx([50, 75, 87.5])
    assert np.asarray(lines[2].get_ydata()).tolist() == [80, 80]


def _notes(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_a_run_that_is_not_a_full_one_is_drawn_with_a_red_note_saying_why():
    from fedlab.experiments import marked
    fig = plots.plot_accuracy({"FedAvg": marked([99.0] * 3, "3 of 100 rounds"), "one device": [10.0, 20.0]})
    assert _notes(fig) == ["FedAvg: NOT FROM A FULL RUN (3 of 100 rounds)"]
    assert len(_lines(fig)) == 2
    fig = plots.plot_group_accuracy(marked({0: [1.0, 2.0], 1: [3.0, 4.0]}, "made in quick mode"))
    assert _notes(fig) == ["NOT FROM A FULL RUN (made in quick mode)"] and len(_lines(fig)) == 2
    assert _notes(plots.plot_accuracy({"FedAvg": [50.0] * 100})) == []
