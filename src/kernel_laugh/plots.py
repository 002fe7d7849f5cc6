"""Figures from result dicts (as written to eval_results.json). Functions return figures; callers save them."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: training nodes and Spaces have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def confusion_matrix_figure(results: dict[str, Any], label_names: list[str], title: str = "") -> Figure:
    """Counts, with each cell's share of its true class, rows = true label."""
    cm = np.asarray(results["confusion_matrix"])
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(label_names) + 2.5, 1.0 * len(label_names) + 2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(cm.shape):
        ax.text(j, i, f"{cm[i, j]}\n{share[i, j]:.0%}", ha="center", va="center",
                color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(label_names)), label_names, rotation=30, ha="right")
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"Confusion matrix ({results.get('split', '')}, n={results.get('num_samples', cm.sum())})")
    fig.tight_layout()
    return fig


def roc_figure(results: dict[str, Any], title: str = "") -> Figure:
    """The ROC curve of the positive class, with its AUC and, when known, its 95% interval."""
    curve = results["roc_curve"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    low, high = results.get("roc_auc_ci_low"), results.get("roc_auc_ci_high")
    label = f"AUC {results['roc_auc']:.3f}" + (f" (95% CI {low:.3f}-{high:.3f})" if low is not None else "")
    ax.plot(curve["fpr"], curve["tpr"], lw=2, label=label)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel(f"true positive rate ({results.get('positive_label', 'positive')})")
    ax.set_title(title or f"ROC ({results.get('split', '')}, n={results.get('num_samples')})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: Any) -> None:
    fig.savefig(path, dpi=120)
    plt.close(fig)
