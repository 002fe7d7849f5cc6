"""The package's own ``evaluate.Metric`` modules (they work offline, unlike ``evaluate.load``) and
``compute_metrics``, the one function that turns gathered predictions into the numbers we report.

Metrics take class *probabilities*, not hard labels, wherever a ranking is needed: ROC AUC from 0/1
predictions (as the original project computed it) is a different, meaningless number.

Layout: small numpy functions compute each number (``confusion``, ``roc_auc``, ``average_precision``,
``calibration``...); the ``evaluate.Metric`` classes wrap them for a whole split; the intervals
(``clustered_intervals``, built on ``kernel_laugh.intervals``) call the same functions once per jackknife
replicate (an ``evaluate`` compute per replicate would spend its time writing Arrow tables). Under several processes the caller gathers predictions first (``accelerator.gather_for_metrics`` in
``modeling.predict_batches``), so every function here sees each sample exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import datasets
import evaluate
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import rankdata
from sklearn.metrics import precision_recall_curve, roc_curve

from kernel_laugh import intervals as iv
from kernel_laugh.errors import KernelLaughError

# The numbers of the report's summary table; each gets a 95% interval (clustered_intervals).
HEADLINE = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
INTERVAL_METRICS = HEADLINE + ("ece",)
BinaryMetric = Callable[[np.ndarray, np.ndarray], "float | None"]  # (is_positive (N,), scores (N,)) → value


# ---- the numbers, as plain functions of arrays ---------------------------------------------------------

def decide(probs: np.ndarray, positive_label: int = 1, threshold: float | None = None) -> np.ndarray:
    """probs (N, K) → class indices (N,): argmax, or for two classes ``positive_label`` iff its probability
    is at least ``threshold`` (the scores themselves are never changed)."""
    if threshold is None:
        return probs.argmax(1)
    if probs.shape[1] != 2:
        raise KernelLaughError(f"a decision threshold needs two classes, the model has {probs.shape[1]}")
    return np.where(probs[:, positive_label] >= threshold, positive_label, 1 - positive_label)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts, rows = true class, columns = predicted class."""
    return np.bincount(k * np.asarray(y_true, int) + np.asarray(y_pred, int), minlength=k * k).reshape(k, k)


def precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 and support (each (k,)) from a confusion matrix; 0 where undefined
    (scikit-learn's ``zero_division=0``)."""
    tp = np.diag(cm).astype(float)
    predicted, support = cm.sum(0), cm.sum(1)
    p = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    r = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros_like(tp), where=(p + r) > 0)
    return p, r, f, support


def macro(values: np.ndarray, cm: np.ndarray) -> float:
    """Unweighted mean over the classes that occur among the references or the predictions (scikit-learn's
    default label set): a class absent from a subgroup or a bootstrap resample does not count as a zero."""
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(values[present].mean()) if present.any() else 0.0


def roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Binary ROC AUC as the Mann-Whitney statistic (ties count one half); None with a single class."""
    is_positive = np.asarray(is_positive, bool)
    n_pos = int(is_positive.sum())
    n_neg = len(is_positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)  # average ranks: a tie between a positive and a negative counts 1/2
    return float((ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the precision-recall curve as a step sum, sum_n (R_n - R_{n-1}) P_n over the distinct
    score thresholds (scikit-learn's ``average_precision_score``); None without positives or negatives."""
    is_positive = np.asarray(is_positive, bool)
    n_pos = int(is_positive.sum())
    if n_pos == 0 or n_pos == len(is_positive):
        return None
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    s, y = np.asarray(scores, float)[order], is_positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # one operating point per distinct score
    tps = np.cumsum(y)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def one_vs_rest(fn: BinaryMetric, refs: np.ndarray, probs: np.ndarray) -> float | None:
    """Macro average of a binary ranking metric over classes (class c against the rest). A class absent from
    ``refs`` has no defined value and is left out (so a subgroup without 'disgust' still gets an AUC); None
    when no class has one."""
    values = [v for v in (fn(refs == c, probs[:, c]) for c in range(probs.shape[1])) if v is not None]
    return float(np.mean(values)) if values else None


def ranking_metric(fn: BinaryMetric, probs: np.ndarray, refs: np.ndarray, positive_label: int = 1) -> float | None:
    """Binary: ``fn`` on the positive class's probability; multi-class: one-vs-rest macro average."""
    if probs.shape[1] == 2:
        return fn(refs == positive_label, probs[:, positive_label])
    return one_vs_rest(fn, refs, probs)


def calibration(probs: np.ndarray, refs: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Top-label reliability: confidence = the predicted class's probability, split into ``n_bins`` equal
    bins on [0, 1]. ECE = sum over bins of (share of samples) * |accuracy - mean confidence|."""
    conf = probs.max(1)
    correct = probs.argmax(1) == refs
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # (N,) bin index; conf = 1.0 goes in the last bin
    count = np.bincount(which, minlength=n_bins)
    mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / np.maximum(count, 1)
    accuracy = np.bincount(which, weights=correct, minlength=n_bins) / np.maximum(count, 1)
    ece = float(np.sum(count / max(len(refs), 1) * np.abs(accuracy - mean_conf)))
    bins = [{"lower": i / n_bins, "upper": (i + 1) / n_bins, "count": int(count[i]),
             "confidence": float(mean_conf[i]) if count[i] else None, "accuracy": float(accuracy[i]) if count[i] else None}
            for i in range(n_bins)]
    return {"ece": ece, "bins": bins}


def headline_metrics(probs: np.ndarray, refs: np.ndarray, positive_label: int = 1, threshold: float | None = None,
                     n_bins: int = 10) -> dict[str, float | None]:
    """The summary numbers of one set of predictions. Precision / recall / F1 are the positive class's with
    two classes and macro averages with more; ROC AUC and PR AUC come from the probabilities."""
    k = probs.shape[1]
    y_pred = decide(probs, positive_label, threshold)
    cm = confusion(refs, y_pred, k)
    p, r, f, _ = precision_recall_f1(cm)
    pick = (lambda v: float(v[positive_label])) if k == 2 else (lambda v: macro(v, cm))
    return {"accuracy": float(np.mean(y_pred == refs)), "precision": pick(p), "recall": pick(r), "f1": pick(f),
            "roc_auc": ranking_metric(roc_auc, probs, refs, positive_label),
            "pr_auc": ranking_metric(average_precision, probs, refs, positive_label),
            "ece": calibration(probs, refs, n_bins)["ece"]}


# ---- evaluate.Metric modules ---------------------------------------------------------------------------

def _info(description: str, inputs: str, features: dict[str, Any]) -> evaluate.MetricInfo:
    return evaluate.MetricInfo(description=description, citation="", inputs_description=inputs,
                               features=datasets.Features(features))


class ClassificationReport(evaluate.Metric):
    """Accuracy, per-class / macro / weighted precision, recall and F1, and the confusion matrix.

    ``compute(predictions, references, num_classes=K, positive_label=1)``: with two classes the headline
    ``precision`` / ``recall`` / ``f1`` are those of ``positive_label``; with more, they are macro averages.
    """

    def _info(self) -> evaluate.MetricInfo:
        return _info("Accuracy, precision, recall, F1 (per class, macro, weighted) and confusion matrix.",
                     "predictions, references: class indices",
                     {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")})

    def _compute(self, predictions, references, num_classes: int | None = None, positive_label: int = 1) -> dict[str, Any]:
        y_pred, y_true = np.asarray(predictions, int), np.asarray(references, int)
        k = num_classes or int(max(y_pred.max(initial=0), y_true.max(initial=0)) + 1)
        cm = confusion(y_true, y_pred, k)
        p, r, f, support = precision_recall_f1(cm)
        weights = support / max(support.sum(), 1)
        out: dict[str, Any] = {"accuracy": float(np.trace(cm) / max(cm.sum(), 1))}
        for name, v in (("precision", p), ("recall", r), ("f1", f)):
            out |= {f"{name}_macro": macro(v, cm), f"{name}_weighted": float((v * weights).sum())}
            out[name] = float(v[positive_label]) if k == 2 else out[f"{name}_macro"]
        out["per_class"] = [{"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
                            for i in range(k)]
        out["confusion_matrix"] = cm.tolist()
        return out


SCORE_INPUTS = "prediction_scores: per-class probabilities; references: class indices"
SCORE_FEATURES = {"prediction_scores": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}


class _AreaUnderCurve(evaluate.Metric):
    """Shared by RocAuc and PrAuc: an area from class probabilities (never hard labels) and its curve(s).
    Binary: the area of ``positive_label`` plus ``<prefix>_curve`` (``None`` with one class only);
    multi-class: one-vs-rest macro average over the classes present, plus ``<prefix>_curves``."""

    prefix: str  # "roc" → keys roc_auc, roc_curve, roc_curves
    summary: str  # MetricInfo.description (a class attribute named `description` would shadow evaluate's property)
    area: BinaryMetric
    curve: Callable[..., tuple]
    curve_keys: tuple[str, str]  # names of the curve function's first two outputs

    def _info(self) -> evaluate.MetricInfo:
        return _info(self.summary, SCORE_INPUTS, SCORE_FEATURES)

    def _curve_extras(self, positive: np.ndarray) -> dict[str, Any]:
        return {}

    def _compute(self, prediction_scores, references, positive_label: int = 1) -> dict[str, Any]:
        scores, y = np.asarray(prediction_scores, dtype=np.float64), np.asarray(references)
        key = f"{self.prefix}_auc"
        out: dict[str, Any] = {key: ranking_metric(self.area, scores, y, positive_label)}
        if scores.shape[1] == 2 and out[key] is not None:
            positive = y == positive_label
            a, b, _ = self.curve(positive, scores[:, positive_label])
            out[f"{self.prefix}_curve"] = {self.curve_keys[0]: a.tolist(), self.curve_keys[1]: b.tolist(),
                                           **self._curve_extras(positive)}
        elif scores.shape[1] > 2:
            out[f"{self.prefix}_curves"] = _per_class_curves(scores, y, self.curve, self.area, self.curve_keys)
        return out


class RocAuc(_AreaUnderCurve):
    """ROC AUC from class probabilities, with the ROC curve(s) (false / true positive rates)."""

    prefix, curve_keys = "roc", ("fpr", "tpr")
    summary = "ROC AUC computed from predicted probabilities (never from hard labels)."
    area, curve = staticmethod(roc_auc), staticmethod(roc_curve)


class PrAuc(_AreaUnderCurve):
    """Area under the precision-recall curve (average precision) from class probabilities, with the curve(s)
    and, for two classes, the positive class's prevalence (the curve of a chance-level model)."""

    prefix, curve_keys = "pr", ("precision", "recall")
    summary = "Precision-recall AUC (average precision) from predicted probabilities."
    area, curve = staticmethod(average_precision), staticmethod(precision_recall_curve)

    def _curve_extras(self, positive: np.ndarray) -> dict[str, Any]:
        return {"prevalence": float(np.mean(positive))}


class CalibrationError(evaluate.Metric):
    """Expected calibration error (top-label, equal-width bins) and the reliability diagram's bins."""

    def _info(self) -> evaluate.MetricInfo:
        return _info("Expected calibration error of the top-label confidence.", SCORE_INPUTS, SCORE_FEATURES)

    def _compute(self, prediction_scores, references, n_bins: int = 10) -> dict[str, Any]:
        result = calibration(np.asarray(prediction_scores, dtype=np.float64), np.asarray(references), n_bins)
        return {"ece": result["ece"], "calibration": {"n_bins": n_bins, "bins": result["bins"]}}


def _per_class_curves(scores: np.ndarray, y: np.ndarray, curve: Callable[..., tuple], area: BinaryMetric, keys: tuple[str, str]) -> list[dict[str, Any]]:
    """One-vs-rest curve of each class present: ``[{"class": c, keys[0]: [...], keys[1]: [...], "auc": a}]``."""
    out = []
    for c in range(scores.shape[1]):
        if 0 < np.sum(y == c) < len(y):
            a, b, _ = curve(y == c, scores[:, c])
            out.append({"class": c, keys[0]: a.tolist(), keys[1]: b.tolist(), "auc": area(y == c, scores[:, c])})
    return out


# ---- uncertainty ---------------------------------------------------------------------------------------

def clustered_intervals(probs: np.ndarray, refs: np.ndarray, groups: np.ndarray | None = None, positive_label: int = 1,
                        threshold: float | None = None, n_bins: int = 10, seed: int = 0) -> dict[str, Any]:
    """95% intervals for every metric in ``INTERVAL_METRICS`` that stay honest with few groups
    (``kernel_laugh.intervals``; methods chosen by the coverage simulation of ``kernel_laugh.coverage``):

    - accuracy, and a binary model's precision and recall: CR2 cluster-robust variance, Korn-Graubard
      effective-sample-size Clopper-Pearson, Bell-McCaffrey degrees of freedom (Korn & Graubard 1998; Bell &
      McCaffrey 2002; Cameron & Miller 2015);
    - a binary model's ROC AUC: Obuchowski's (1997) clustered AUC variance, the same interval construction;
    - the rest (F1, PR AUC, ECE, multi-class macro averages): grouped jackknife with t critical values.

    probs (N, K), refs (N,), groups (N,) clip/session ids or None (each frame its own group). Returns
    ``<metric>_ci_low`` / ``<metric>_ci_high`` (None where no interval can be estimated, never a zero-width one),
    ``ci_methods`` {metric: method}, ``ci_not_estimable`` {metric: reason} and ``ci_groups`` (G)."""
    probs, refs = np.asarray(probs, dtype=np.float64), np.asarray(refs, dtype=int)
    codes, g = iv.group_codes(groups, len(refs))
    decided = decide(probs, positive_label, threshold)
    estimate = headline_metrics(probs, refs, positive_label, threshold, n_bins)
    out: dict[str, Any] = {"ci_groups": g}
    methods: dict[str, str] = {}
    reasons: dict[str, str] = {}
    binary = probs.shape[1] == 2
    proportions = {"accuracy": (decided == refs, None)}
    if binary:
        proportions["precision"] = (refs == positive_label, decided == positive_label)
        proportions["recall"] = (decided == positive_label, refs == positive_label)
    for name, (successes, include) in proportions.items():
        low, high = iv.proportion_interval(successes, codes, g, include)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = iv._num(low), iv._num(high)
        methods[name] = iv.KORN_GRAUBARD
        if out[f"{name}_ci_low"] is None:
            counted = codes if include is None else codes[include]
            reasons[name] = (f"{iv.TOO_FEW_GROUPS} hold a frame it counts" if len(np.unique(counted)) < 2
                             else "not estimable on this split")
    if binary:
        _, low, high = iv.auc_interval(refs == positive_label, probs[:, positive_label], codes, g)
        out["roc_auc_ci_low"], out["roc_auc_ci_high"] = iv._num(low), iv._num(high)
        methods["roc_auc"] = iv.OBUCHOWSKI
        if out["roc_auc_ci_low"] is None:
            reasons["roc_auc"] = "a class is missing, or lies in fewer than 2 groups"
    rest = [m for m in INTERVAL_METRICS if m not in methods]
    replicates = [headline_metrics(probs[keep], refs[keep], positive_label, threshold, n_bins)
                  for keep in iv.jackknife_keeps(codes, g, seed)] if g >= 2 else []  # one group: nothing to remove
    for name in rest:
        low, high, why = iv.jackknife_from_replicates([r[name] for r in replicates], estimate[name])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = low, high
        methods[name] = iv.JACKKNIFE + (f" (delete-a-group over {iv.MAX_JACKKNIFE_GROUPS} sets of groups)"
                                        if g > iv.MAX_JACKKNIFE_GROUPS else "")
        if why:
            reasons[name] = why
    out["ci_methods"], out["ci_not_estimable"] = methods, reasons
    return out


def describe_intervals(n_groups: int, grouped: bool, methods: dict[str, str]) -> str:
    """One line for reports and cards: the methods and the number of groups they rest on."""
    by_method: dict[str, list[str]] = {}
    for metric, method in methods.items():
        by_method.setdefault(method, []).append(metric)
    parts = "; ".join(f"{', '.join(ms)}: {method}" for method, ms in by_method.items())
    unit = (f"{n_groups} groups (clips/sessions), spread measured between them" if grouped
            else f"{n_groups} frames taken as independent (no group column)")
    few = f" Only {n_groups} groups: the intervals are wide because the data can show little." if grouped and n_groups < 5 else ""
    return f"95% intervals over {unit}. {parts}.{few}"


# ---- decision threshold and temperature ----------------------------------------------------------------

def threshold_for_target(probs: np.ndarray, refs: np.ndarray, positive_label: int = 1, target_recall: float | None = None,
                         target_precision: float | None = None) -> float:
    """The threshold on the positive class's probability (decide positive iff score >= threshold) that meets
    the target on these predictions: for a recall target the highest such threshold (best precision at that
    recall); for a precision target the lowest (best recall at that precision)."""
    if (target_recall is None) == (target_precision is None):
        raise KernelLaughError("give exactly one of --target-recall and --target-precision")
    if probs.shape[1] != 2:
        raise KernelLaughError(f"a decision threshold needs two classes, the model has {probs.shape[1]}")
    target = target_recall if target_recall is not None else target_precision
    if not 0 < target <= 1:
        raise KernelLaughError(f"target {target} must be in (0, 1]")
    is_pos, scores = refs == positive_label, probs[:, positive_label]
    if not is_pos.any():
        raise KernelLaughError("cannot fit a threshold: no positive example in the split it is fitted on")
    if target_recall is not None:
        # Keep the k highest-scoring positives above the line, k = the fewest that reach the target recall.
        k = int(np.ceil(target_recall * is_pos.sum() - 1e-9))
        return float(np.sort(scores[is_pos])[::-1][max(k, 1) - 1])
    # Operating points from the highest score down: precision after admitting every score >= each value.
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], is_pos[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    precision = np.cumsum(y)[last_of_tie] / (last_of_tie + 1)
    reaching = np.flatnonzero(precision >= target_precision - 1e-12)
    if not len(reaching):
        raise KernelLaughError(f"no threshold reaches precision {target_precision} on this split")
    return float(s[last_of_tie[reaching[-1]]])  # the lowest such threshold: the most positives found


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, 1e-12, 1.0))  # logits up to a per-row constant, which softmax ignores


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) computed from probabilities; T > 1 softens over-confident predictions."""
    z = _log_probs(probs) / temperature
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def negative_log_likelihood(probs: np.ndarray, refs: np.ndarray) -> float:
    return float(-np.mean(_log_probs(probs)[np.arange(len(refs)), refs]))


def fit_temperature(probs: np.ndarray, refs: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of ``refs`` (Guo et al. 2017), searched on
    log T in [-3, 3]. It rescales confidence only: the argmax and the ranking of scores do not change."""
    res = minimize_scalar(lambda log_t: negative_log_likelihood(apply_temperature(probs, np.exp(log_t)), refs),
                          bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(res.x))


# ---- subgroups and the full result ---------------------------------------------------------------------

def subgroup_metrics(probs: np.ndarray, refs: np.ndarray, values: np.ndarray, positive_label: int = 1,
                     threshold: float | None = None, groups: np.ndarray | None = None, n_boot: int = 500,
                     seed: int = 0) -> list[dict[str, Any]]:
    """One row per distinct value of ``values`` (N,): support, the headline metrics and their intervals on
    that subgroup only, by the same methods as the whole split (``clustered_intervals``) over the groups
    (clips/sessions) inside each row; ``groups`` counts them and ``too_small`` flags a row with fewer than 5
    groups or no interval at all (too small to say anything about). ``n_boot`` = 0 computes no intervals."""
    values = np.asarray(values).astype(str)
    rows = []
    for value in sorted(np.unique(values), key=_natural_key):
        mask = values == value
        p, r = probs[mask], refs[mask]
        row: dict[str, Any] = {"group": value, "support": int(mask.sum())}
        row |= headline_metrics(p, r, positive_label, threshold)
        if n_boot:
            ci = clustered_intervals(p, r, None if groups is None else np.asarray(groups)[mask], positive_label,
                                     threshold, seed=seed)
            row |= {k: v for k, v in ci.items() if k.endswith(("_ci_low", "_ci_high"))}
            row["groups"] = ci["ci_groups"]
            # Too small to say anything: no interval for accuracy (fewer than 2 groups), or under 5 groups.
            row["too_small"] = ci["accuracy_ci_low"] is None or (groups is not None and ci["ci_groups"] < 5)
        rows.append(row)
    return rows


def _natural_key(value: str) -> tuple:
    """Sort '3-12' after '0-2' and '60+' last: by the leading number when there is one."""
    head = value.split("-")[0].rstrip("+")
    try:
        return (0, float(head), value)
    except ValueError:
        return (1, 0.0, value)


def compute_metrics(probs: np.ndarray, refs: np.ndarray, label_names: list[str], groups: np.ndarray | None = None,
                    positive_label: int = 1, n_boot: int = 500, threshold: float | None = None, n_bins: int = 10,
                    seed: int = 0) -> dict[str, Any]:
    """probs (N, K) softmax outputs, refs (N,) class indices → one flat-ish dict of results.

    Hard-label metrics (accuracy, precision, recall, F1, confusion matrix) use ``threshold`` when given (two
    classes); ROC AUC, PR AUC and calibration always use the probabilities. Intervals (``n_boot`` > 0; 0: none)
    come from ``clustered_intervals`` over ``groups`` (clip/session ids, (N,); None: frames independent), and
    ``ci_method`` says which methods over how many groups.
    """
    probs, refs = np.asarray(probs, dtype=np.float64), np.asarray(refs, dtype=int)
    if len(refs) == 0:
        raise KernelLaughError("no predictions to measure: the split is empty")
    scores, references = probs.tolist(), refs.tolist()
    decided = decide(probs, positive_label, threshold)
    out: dict[str, Any] = {"num_samples": int(len(refs))}
    out |= ClassificationReport(keep_in_memory=True).compute(
        predictions=decided.tolist(), references=references, num_classes=len(label_names), positive_label=positive_label)
    out |= RocAuc(keep_in_memory=True).compute(prediction_scores=scores, references=references, positive_label=positive_label)
    out |= PrAuc(keep_in_memory=True).compute(prediction_scores=scores, references=references, positive_label=positive_label)
    out |= CalibrationError(keep_in_memory=True).compute(prediction_scores=scores, references=references, n_bins=n_bins)
    for i, row in enumerate(out["per_class"]):
        row["label"] = label_names[i]
    if len(label_names) == 2:
        out["positive_label"] = label_names[positive_label]
        out["decision_threshold"] = threshold  # None: argmax, i.e. 0.5
    if n_boot:
        out |= clustered_intervals(probs, refs, groups, positive_label, threshold, n_bins, seed)
        out["ci_method"] = describe_intervals(out["ci_groups"], groups is not None, out["ci_methods"])
    return out
