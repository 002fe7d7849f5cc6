"""The package's own ``evaluate.Metric`` modules (they work offline, unlike ``evaluate.load``) and
``compute_metrics``, the one function that turns gathered predictions into the numbers we report.

Metrics take class *probabilities*, not hard labels, wherever a ranking is needed: ROC AUC from 0/1
predictions (as the original project computed it) is a different, meaningless number.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate
import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score,
                             roc_curve)


class ClassificationReport(evaluate.Metric):
    """Accuracy, per-class / macro / weighted precision, recall and F1, and the confusion matrix.

    ``compute(predictions, references, num_classes=K, positive_label=1)``: with two classes the headline
    ``precision`` / ``recall`` / ``f1`` are those of ``positive_label``; with more, they are macro averages.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="Accuracy, precision, recall, F1 (per class, macro, weighted) and confusion matrix.",
            citation="", inputs_description="predictions, references: class indices",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_classes: int | None = None, positive_label: int = 1) -> dict[str, Any]:
        y_pred, y_true = np.asarray(predictions), np.asarray(references)
        k = num_classes or int(max(y_pred.max(initial=0), y_true.max(initial=0)) + 1)
        labels = list(range(k))
        p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        out: dict[str, Any] = {"accuracy": float(accuracy_score(y_true, y_pred))}
        for avg in ("macro", "weighted"):
            ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
            out |= {f"precision_{avg}": float(ap), f"recall_{avg}": float(ar), f"f1_{avg}": float(af)}
        head = positive_label if k == 2 else None
        out["precision"] = float(p[head]) if head is not None else out["precision_macro"]
        out["recall"] = float(r[head]) if head is not None else out["recall_macro"]
        out["f1"] = float(f[head]) if head is not None else out["f1_macro"]
        out["per_class"] = [{"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
                            for i in labels]
        out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
        return out


class RocAuc(evaluate.Metric):
    """ROC AUC from class probabilities. Binary: AUC of ``positive_label`` plus the curve's points;
    multi-class: one-vs-rest macro average. ``None`` where a class is missing from the references."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="ROC AUC computed from predicted probabilities (never from hard labels).",
            citation="", inputs_description="prediction_scores: per-class probabilities; references: class indices",
            features=datasets.Features({"prediction_scores": datasets.Sequence(datasets.Value("float32")),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, prediction_scores, references, positive_label: int = 1) -> dict[str, Any]:
        scores, y = np.asarray(prediction_scores, dtype=np.float64), np.asarray(references)
        k = scores.shape[1]
        if len(np.unique(y)) < 2:
            return {"roc_auc": None}
        if k == 2:
            pos = scores[:, positive_label]
            fpr, tpr, _ = roc_curve(y == positive_label, pos)
            return {"roc_auc": float(roc_auc_score(y == positive_label, pos)), "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist()}}
        if len(np.unique(y)) < k:
            return {"roc_auc": None}
        return {"roc_auc": float(roc_auc_score(y, scores, multi_class="ovr", average="macro", labels=list(range(k))))}


def bootstrap_ci(probs: np.ndarray, refs: np.ndarray, groups: np.ndarray | None = None, n_boot: int = 500,
                 seed: int = 0, positive_label: int = 1) -> dict[str, float | None]:
    """95% percentile intervals for accuracy and ROC AUC (keys ``<metric>_ci_low`` / ``<metric>_ci_high``). Resamples whole groups when given (video frames of
    one session are not independent, so resampling frames would make the interval too narrow)."""
    rng = np.random.default_rng(seed)
    units = np.unique(groups) if groups is not None else np.arange(len(refs))
    members = [np.flatnonzero(groups == u) for u in units] if groups is not None else [np.array([i]) for i in units]
    preds, acc, auc = probs.argmax(1), [], []
    for _ in range(n_boot):
        idx = np.concatenate([members[j] for j in rng.integers(0, len(units), len(units))])
        acc.append(float((preds[idx] == refs[idx]).mean()))
        if len(np.unique(refs[idx])) == probs.shape[1]:
            s = probs[idx, positive_label] if probs.shape[1] == 2 else probs[idx]
            y = refs[idx] == positive_label if probs.shape[1] == 2 else refs[idx]
            auc.append(float(roc_auc_score(y, s, multi_class="ovr") if probs.shape[1] > 2 else roc_auc_score(y, s)))
    out: dict[str, float | None] = {}
    for name, values in (("accuracy", acc), ("roc_auc", auc)):
        out[f"{name}_ci_low"] = float(np.percentile(values, 2.5)) if values else None
        out[f"{name}_ci_high"] = float(np.percentile(values, 97.5)) if values else None
    return out


def compute_metrics(probs: np.ndarray, refs: np.ndarray, label_names: list[str], groups: np.ndarray | None = None,
                    positive_label: int = 1, n_boot: int = 500) -> dict[str, Any]:
    """probs (N, K) softmax outputs, refs (N,) class indices → one flat-ish dict of results."""
    report = ClassificationReport(keep_in_memory=True).compute(
        predictions=probs.argmax(1).tolist(), references=refs.tolist(), num_classes=len(label_names), positive_label=positive_label)
    auc = RocAuc(keep_in_memory=True).compute(prediction_scores=probs.tolist(), references=refs.tolist(), positive_label=positive_label)
    out = {"num_samples": int(len(refs))} | report | auc
    for i, row in enumerate(out["per_class"]):
        row["label"] = label_names[i]
    if len(label_names) == 2:
        out["positive_label"] = label_names[positive_label]
    if n_boot:
        out |= bootstrap_ci(probs, refs, groups, n_boot=n_boot, positive_label=positive_label)
        out["ci_method"] = f"bootstrap over {'groups' if groups is not None else 'samples'}, {n_boot} resamples"
    return out
