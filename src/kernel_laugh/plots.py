"""Figures from result dicts (as written to eval_results.json). Functions return figures; callers save them.

Figures are made with matplotlib's object API (``Figure``), not pyplot: no backend is chosen (headless training
nodes and Spaces have no display, and an importing program keeps its own backend), and no figure is kept in
pyplot's global list, so nothing needs closing.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kernel_laugh.outputs import write_atomic
from kernel_laugh.results import EvalResults, format_interval


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **subplots: Any) -> tuple[Figure, Any]:
    """A figure and its axes, as ``pyplot.subplots`` returns them (``subplots`` goes to ``Figure.subplots``)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplots)


def confusion_matrix_figure(results: EvalResults, label_names: list[str], title: str = "") -> Figure:
    """Counts, with each cell's share of its true class, rows = true label."""
    cm = np.asarray(results["confusion_matrix"])
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = new_figure(figsize=(1.2 * len(label_names) + 2.5, 1.0 * len(label_names) + 2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(cm.shape):
        ax.text(j, i, f"{cm[i, j]}\n{share[i, j]:.0%}", ha="center", va="center",
                color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(label_names)), label_names, rotation=30, ha="right")
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"Confusion matrix ({results.get('split', '')}, n={results.get('num_samples', cm.sum())})\n"
                 "colour: share of the true class (row-normalised)", fontsize=10)
    fig.tight_layout()
    return fig


def _class_name(results: EvalResults, index: int) -> str:
    names = results.get("label_names") or [row.get("label", str(i)) for i, row in enumerate(results.get("per_class", []))]
    return names[index] if index < len(names) else str(index)


def _interval(results: EvalResults, metric: str) -> str:
    return format_interval(results, metric, " (95% CI {low:.3f}-{high:.3f})", "")


def roc_figure(results: EvalResults, title: str = "") -> Figure:
    """ROC curve of the positive class (binary) or one-vs-rest curves of every class (multi-class), with AUC
    and, when known, its 95% interval. With a decision threshold, its operating point is marked."""
    fig, ax = new_figure(figsize=(5, 5))
    if results.get("roc_curve"):
        curve = results["roc_curve"]
        ax.plot(curve["fpr"], curve["tpr"], lw=2, label=f"AUC {results['roc_auc']:.3f}{_interval(results, 'roc_auc')}")
        _mark_operating_point(ax, results, x=1 - _specificity(results), y=results.get("recall"))
        ax.set_ylabel(f"true positive rate ({results.get('positive_label', 'positive')})")
    else:
        for c in results.get("roc_curves", []):
            ax.plot(c["fpr"], c["tpr"], lw=1.5, label=f"{_class_name(results, c['class'])} (AUC {c['auc']:.3f})")
        ax.set_ylabel("true positive rate (class vs rest)")
        ax.text(0.98, 0.02, f"macro AUC {results['roc_auc']:.3f}{_interval(results, 'roc_auc')}" if results.get("roc_auc") is not None
                else "", transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_title(title or f"ROC ({results.get('split', '')}, n={results.get('num_samples')})")
    ax.legend(loc="lower right" if results.get("roc_curve") else "center right", fontsize=8)
    fig.tight_layout()
    return fig


def _specificity(results: EvalResults) -> float:
    """True negative rate of the binary decision, from the confusion matrix (negative class = the other one)."""
    names = [row["label"] for row in results["per_class"]]
    negative = 1 - (names.index(results["positive_label"]) if results.get("positive_label") in names else 1)
    cm = np.asarray(results["confusion_matrix"])
    return float(cm[negative, negative] / max(cm[negative].sum(), 1))


def _mark_operating_point(ax, results: EvalResults, x: float, y: float | None) -> None:
    if y is None:
        return
    t = results.get("decision_threshold")
    ax.plot([x], [y], "o", c="crimson", label=f"decision at {'threshold %.3f' % t if t is not None else 'argmax'}")


def pr_figure(results: EvalResults, title: str = "") -> Figure:
    """Precision-recall curve (binary: the positive class, with the no-skill line at its prevalence;
    multi-class: one curve per class), with PR AUC and its interval."""
    fig, ax = new_figure(figsize=(5, 5))
    if results.get("pr_curve"):
        curve = results["pr_curve"]
        ax.step(curve["recall"], curve["precision"], where="post", lw=2,
                label=f"PR AUC {results['pr_auc']:.3f}{_interval(results, 'pr_auc')}")
        ax.axhline(curve["prevalence"], ls="--", c="grey", lw=1, label=f"no skill ({curve['prevalence']:.2f})")
        _mark_operating_point(ax, results, x=results.get("recall"), y=results.get("precision"))
        ax.set_ylabel(f"precision ({results.get('positive_label', 'positive')})")
    else:
        for c in results.get("pr_curves", []):
            ax.step(c["recall"], c["precision"], where="post", lw=1.5, label=f"{_class_name(results, c['class'])} (AP {c['auc']:.3f})")
        ax.set_ylabel("precision (class vs rest)")
    ax.set_xlabel("recall")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"Precision-recall ({results.get('split', '')}, n={results.get('num_samples')})")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def calibration_figure(results: EvalResults, title: str = "") -> Figure:
    """Reliability diagram (accuracy against mean confidence per bin; the diagonal is perfect calibration)
    above a histogram of confidences. With temperature scaling, the calibrated curve is drawn too."""
    fig, (ax, hist) = new_figure(2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    curves = [("model", results["calibration"]["bins"], results["ece"])]
    scaled = results.get("temperature_scaling")
    if scaled:
        curves.append((f"T = {scaled['temperature']:.2f}", scaled["calibration_after"]["bins"], scaled["ece_after"]))
    for (name, bins, ece), marker in zip(curves, ("o-", "s--")):
        filled = [b for b in bins if b["count"]]
        ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], marker, label=f"{name}: ECE {ece:.3f}")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="perfectly calibrated")
    ax.set_ylabel("accuracy in bin")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or f"Calibration ({results.get('split', '')}, n={results.get('num_samples')})")
    bins = results["calibration"]["bins"]
    hist.bar([(b["lower"] + b["upper"]) / 2 for b in bins], [b["count"] for b in bins],
             width=[b["upper"] - b["lower"] for b in bins], color="tab:blue", alpha=0.6, edgecolor="white")
    hist.set_xlabel("confidence (probability of the predicted class)")
    hist.set_ylabel("images")
    hist.set_xlim(0, 1)
    fig.tight_layout()
    return fig


def subgroup_figure(rows: list[dict[str, Any]], column: str, metrics: tuple[str, ...] = ("accuracy", "f1")) -> Figure:
    """Grouped bars of each metric per subgroup with 95% interval whiskers; support under each group."""
    fig, ax = new_figure(figsize=(max(4.5, 1.1 * len(rows) * len(metrics) + 1.5), 4))
    x = np.arange(len(rows))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        values = np.array([r.get(metric) if r.get(metric) is not None else np.nan for r in rows], dtype=float)
        low = np.array([r.get(f"{metric}_ci_low", np.nan) if r.get(f"{metric}_ci_low") is not None else np.nan for r in rows], dtype=float)
        high = np.array([r.get(f"{metric}_ci_high", np.nan) if r.get(f"{metric}_ci_high") is not None else np.nan for r in rows], dtype=float)
        err = np.nan_to_num(np.stack([values - low, high - values]), nan=0.0).clip(min=0)
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, values, width, yerr=err, capsize=3, label=metric)
    ax.set_xticks(x, [f"{r['group']}\nn={r['support']}" for r in rows])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(column)
    ax.set_title(f"Metrics by {column} (95% intervals)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def image_grid_figure(images: list[Any], titles: list[str], ncols: int = 4, suptitle: str = "") -> Figure:
    """PIL images (e.g. Grad-CAM overlays) in a grid with a small title each."""
    ncols = max(1, min(ncols, len(images)))
    nrows = max(1, -(-len(images) // ncols))
    fig, axes = new_figure(nrows, ncols, figsize=(2.6 * ncols, 2.6 * nrows + (0.4 if suptitle else 0)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, titles):
        ax.imshow(image)
        ax.set_title("\n".join(textwrap.fill(line, 34) for line in text.splitlines()), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def comparison_figure(result: dict[str, Any]) -> Figure:
    """Paired differences (model - first model) per metric with their 95% intervals, one colour per model; a
    difference without an interval is drawn as a hollow point. ECE: lower is better, so a negative difference
    there favours the later model."""
    pairs = result["comparisons"]
    names = [str(m).rstrip("/").split("/")[-1] for m in result["models"]]
    metrics = list(pairs[0]["differences"]) if pairs else []
    fig, ax = new_figure(figsize=(6.5, 0.45 * len(metrics) * max(len(pairs), 1) + 1.8))
    step = 0.7 / max(len(pairs), 1)
    for i, pair in enumerate(pairs):
        y = np.arange(len(metrics)) - 0.35 + step * (i + 0.5)
        for j, m in enumerate(metrics):
            d = pair["differences"][m]
            if d["difference"] is None:
                continue
            colour = f"C{i}"
            if d["ci_low"] is not None:
                ax.errorbar(d["difference"], y[j], xerr=[[d["difference"] - d["ci_low"]], [d["ci_high"] - d["difference"]]],
                            fmt="o", color=colour, capsize=3, label=f"{names[i + 1]} - {names[0]}" if j == 0 else None)
            else:
                ax.plot(d["difference"], y[j], "o", mfc="none", color=colour,
                        label=f"{names[i + 1]} - {names[0]}" if j == 0 else None)
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(range(len(metrics)), metrics)
    ax.invert_yaxis()
    ax.set_xlabel("paired difference (95% interval); hollow: no interval")
    ax.set_title(f"{result.get('split', '')} split, {result.get('num_samples')} images, {result.get('groups')} "
                 f"{'groups' if result.get('grouped') else 'frames'}" + (" (SYNTHETIC)" if result.get("synthetic") else ""),
                 fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: Any) -> None:
    """Write ``fig`` to ``path`` (format from its suffix) atomically."""
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png"))


# ---- video timeline (kernel_laugh.video) --------------------------------------------------------------------

def timeline_figure(timeline: list[dict[str, float]], segments: list[dict[str, float]], label: str) -> Figure:
    """Probability over the video's time of ``label`` (bold; its segments shaded) and, for multi-class models,
    of the other classes (faint; with two classes the other curve is just 1 - p)."""
    times = [r["time"] for r in timeline]
    labels = [k for k in (timeline[0] if timeline else {}) if k != "time"]
    labels = labels if len(labels) > 2 else [label]
    fig, ax = new_figure(figsize=(10, 3.2))
    for s in segments:
        ax.axvspan(s["start"], s["end"], color="tab:orange", alpha=0.2, lw=0)
    others = iter(["tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan",
                   "tab:red"] * 4)  # every colour but the highlighted label's orange
    for name in labels:
        bold = name == label
        ax.plot(times, [r[name] for r in timeline], lw=2 if bold else 1, alpha=1.0 if bold else 0.5,
                color="tab:orange" if bold else next(others), label=name)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(min(times, default=0), max(times, default=1) or 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_title(f"{label}: {len(segments)} segment(s) (shaded)")
    if len(labels) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig
