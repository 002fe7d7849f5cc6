"""The evaluation results record: what ``eval_results.json`` holds, its one builder, and the formatters every
reader of it (``eval/report.md``, the model card, the plots, the CLI, compare) shares.

``EvalResults`` names the file's public keys with their types. It is a ``TypedDict``, so the record *is* the JSON
object (``json.dumps`` writes it as it is, old files load as they are) while type checkers see every field.
Training (its held-out test split) and ``kernel-laugh evaluate`` both start the record with ``results_header``
and fill in ``metrics.compute_metrics``; ``tests/test_results.py`` pins the keys.

Intervals: each headline metric ``m`` may carry ``m_ci_low`` / ``m_ci_high`` (95%, the method named in
``ci_methods[m]``; both None where no interval can be estimated, the reason in ``ci_not_estimable[m]``).
``metric_interval`` reads them, ``format_interval`` writes them in a caller's layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from kernel_laugh.outputs import write_text_atomic

RESULTS_NAME = "eval_results.json"
# Keys of eval_results.json that describe the training run, kept when evaluate rewrites the file.
TRAINING_KEYS = ("best_epoch", "best_metric", "validation_best", "history")
# The metrics a report leads with, each of which may carry a 95% interval.
HEADLINE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ece")


class PerClassRow(TypedDict):
    label: str
    precision: float
    recall: float
    f1: float
    support: int


class EvalResults(TypedDict, total=False):
    """The public keys of ``eval_results.json`` (every one optional to a reader: older files and the audio
    expert's lack some). Binary models have ``positive_label``, and precision / recall / F1 are that class's;
    multi-class models report macro averages there."""

    # what was measured (results_header)
    split: str  # "train", "validation", "test" or "all"
    model: str  # the model folder (kernel-laugh evaluate only)
    dataset: str
    synthetic: bool  # the SYNTHETIC sample: numbers that say nothing about real data
    split_method: str
    label_names: list[str]
    positive_label: str
    split_sizes: dict[str, int]
    skipped_files: list[str]
    modality: str  # "audio" for the audio expert (its results add "audio": windows, sampling rate, sounds)
    audio: dict[str, Any]
    # the training run (training only; kept when evaluate rewrites the file)
    best_epoch: int
    best_metric: str
    validation_best: float
    history: list[dict[str, Any]]
    # metrics.compute_metrics
    num_samples: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    precision_macro: float
    precision_weighted: float
    recall_macro: float
    recall_weighted: float
    f1_macro: float
    f1_weighted: float
    per_class: list[PerClassRow]
    confusion_matrix: list[list[int]]  # (K, K): rows true, columns predicted
    roc_auc: float | None
    roc_curve: dict[str, list[float]]
    roc_curves: dict[str, dict[str, list[float]]]
    pr_auc: float | None
    pr_curve: dict[str, list[float]]
    pr_curves: dict[str, dict[str, list[float]]]
    ece: float
    calibration: dict[str, Any]
    decision_threshold: float | None
    # 95% intervals of HEADLINE_METRICS (None: not estimable, see ci_not_estimable)
    accuracy_ci_low: float | None
    accuracy_ci_high: float | None
    precision_ci_low: float | None
    precision_ci_high: float | None
    recall_ci_low: float | None
    recall_ci_high: float | None
    f1_ci_low: float | None
    f1_ci_high: float | None
    roc_auc_ci_low: float | None
    roc_auc_ci_high: float | None
    pr_auc_ci_low: float | None
    pr_auc_ci_high: float | None
    ece_ci_low: float | None
    ece_ci_high: float | None
    ci_groups: int
    ci_method: str
    ci_methods: dict[str, str]
    ci_not_estimable: dict[str, str]
    interval_grouping: str
    # kernel-laugh evaluate's options
    threshold_selection: dict[str, Any]
    temperature_scaling: dict[str, Any]
    subgroups: dict[str, list[dict[str, Any]]]
    explanations: dict[str, Any]


def results_header(split: str, dataset: str, description: str, label_names: list[str], positive: int | None,
                   split_sizes: Mapping[str, int], skipped: list[str], *, model: str | None = None,
                   training: Mapping[str, Any] | None = None) -> EvalResults:
    """What was measured, ahead of the metrics: the split, the data (SYNTHETIC or not, how it was split, what was
    skipped), the labels and, for a binary model (``positive`` not None), its positive class. ``model``: the folder
    ``evaluate`` measured; ``training``: the run's ``TRAINING_KEYS`` (training writes them)."""
    header: dict[str, Any] = {"split": split, **({"model": model} if model is not None else {}), "dataset": dataset,
                              "synthetic": dataset == "sample", "split_method": description, "label_names": label_names,
                              **({"positive_label": label_names[positive]} if positive is not None else {})}
    header |= dict(training or {})
    # Training listed the skipped files before the split sizes; evaluate after: each file keeps its order.
    tail = ({"skipped_files": skipped, "split_sizes": dict(split_sizes)} if training is not None
            else {"split_sizes": dict(split_sizes), "skipped_files": skipped})
    return header | tail  # type: ignore[return-value]


def save_results(results: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``results`` as indented JSON, atomically (a reader never sees half a file)."""
    write_text_atomic(Path(path), json.dumps(results, indent=2) + "\n")
    return Path(path)


# ---- formatting ----------------------------------------------------------------------------------------

def metric_interval(row: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    """(low, high) of ``metric``'s 95% interval in a results dict or a subgroup row, or None when it has none."""
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    return (low, high) if low is not None and high is not None else None


def format_interval(row: Mapping[str, Any], metric: str, layout: str = "{low:.3f}-{high:.3f}",
                    missing: str = "n/a") -> str:
    """``metric``'s interval in ``layout`` (``str.format`` with ``low`` and ``high``), or ``missing`` without one.
    Each report keeps its own layout: ``0.871-0.950`` in eval/report.md, ``[0.871, 0.950]`` in the card."""
    bounds = metric_interval(row, metric)
    return missing if bounds is None else layout.format(low=bounds[0], high=bounds[1])


def format_number(x: Any, digits: int = 3, missing: str = "n/a") -> str:
    """A float to ``digits`` decimals, None as ``missing``, anything else (ints, text) as it is."""
    if x is None:
        return missing
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], cell: Callable[[Any], str] = format_number) -> str:
    """A GitHub-flavoured markdown table; ``cell`` turns each value into its text."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])
