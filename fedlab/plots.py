"""The course's figures. Each function draws one figure and returns it, so notebooks can save or test it."""
import matplotlib.pyplot as plt
import numpy as np

from .experiments import marked


def _runs(runs):
    """Accept one list of accuracies or a {label: accuracies} dict."""
    if isinstance(runs, dict):
        return runs
    return {"": runs}


def plot_accuracy(runs, title="Test accuracy per round", xlabel="round", every=1):
    """Accuracy (%) per round (or per ``every`` epochs) of one run or of several runs ``{label: accuracies}``.

    A run that is not a full one (a quick run, a saved history that does not fit its experiment:
    fedlab.experiments) gets a red 'NOT FROM A FULL RUN' note that says why.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    runs = _runs(runs)
    notes = [(label, getattr(accs, "not_full_run", "")) for label, accs in runs.items()]
    notes.append(("", getattr(runs, "not_full_run", "")))  # one run's groups (02)
    for label, accs in runs.items():
        ax.plot(np.arange(1, len(accs) + 1) * every, accs, label=label or None)
    for row, (label, reason) in enumerate([note for note in notes if note[1]]):
        ax.annotate(f"{label + ': ' if label else ''}NOT FROM A FULL RUN ({reason})", xy=(0.02, 0.03 + 0.07 * row),
                    xycoords="axes fraction", color="red", fontsize=9, fontweight="bold")
    ax.set(title=title, xlabel=xlabel, ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)
    if any(runs):
        ax.legend()
    return fig


def plot_group_accuracy(group_accs, title="Test accuracy per group", xlabel="round"):
    """One line per group from ``{group: [accuracy per round]}``; marked as ``group_accs`` is."""
    groups = {f"group {g}": accs for g, accs in group_accs.items()}
    return plot_accuracy(marked(groups, getattr(group_accs, "not_full_run", "")), title=title, xlabel=xlabel)


def plot_client_samples(client_idxs, dataset_size, title="Which samples each client holds"):
    """A strip per client with a tick at every index it holds, over ``0 .. dataset_size - 1``."""
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.4 * len(client_idxs)))
    for row, idxs in enumerate(client_idxs):
        ax.vlines(np.asarray(idxs), row - 0.4, row + 0.4, linewidth=0.2)
    ax.set(title=title, xlabel="sample index", ylabel="client", xlim=(0, dataset_size),
           yticks=range(len(client_idxs)))
    return fig


def coverage(client_idxs, dataset_size):
    """Fraction of the data set held by at least one of the first k clients, for k = 1 .. len(client_idxs)."""
    held = np.zeros(dataset_size, dtype=bool)
    fractions = []
    for idxs in client_idxs:
        held[np.asarray(idxs, dtype=np.int64)] = True  # int even when a client holds nothing
        fractions.append(held.mean())
    return fractions


def plot_coverage(curves, target=0.8, title="How much of the data k clients cover"):
    """Coverage against the number of clients, one line per ``{label: fractions}``; a dashed line at ``target``."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, fractions in curves.items():
        ax.plot(np.arange(1, len(fractions) + 1), np.asarray(fractions) * 100, marker="o", label=label)
    ax.axhline(target * 100, linestyle="--", color="grey", label=f"{target:.0%} of the data")
    ax.set(title=title, xlabel="number of clients k", ylabel="data covered (%)", ylim=(0, 101))
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
