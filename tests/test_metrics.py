"""Metric values against scikit-learn on fixed predictions; intervals, thresholds, calibration, subgroups."""

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix, f1_score, log_loss,
                             precision_recall_fscore_support, precision_score, recall_score, roc_auc_score)
from sklearn.preprocessing import label_binarize

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.metrics import (INTERVAL_METRICS, apply_temperature, calibration, clustered_intervals, compute_metrics,
                                  decide, fit_temperature, subgroup_metrics, threshold_for_target)


def _binary(n=200, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    refs = rng.integers(0, 2, n)
    pos = np.clip(refs * 0.3 + rng.random(n) * 0.7, 0, 1)
    pos = np.round(pos, 1) if ties else pos  # many tied scores: AUC and AP must count ties as sklearn does
    return np.stack([1 - pos, pos], 1), refs


def _seven_class(seed=1):
    rng = np.random.default_rng(seed)
    refs = np.repeat(np.arange(7), 20)
    logits = rng.normal(size=(140, 7)) + np.eye(7)[refs] * 1.5
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True), refs


@pytest.mark.parametrize("ties", [False, True])
def test_binary_metrics_match_sklearn(ties):
    probs, refs = _binary(ties=ties)
    res = compute_metrics(probs, refs, ["non-laughter", "laughter"], n_boot=0)
    preds, pos = probs.argmax(1), probs[:, 1]
    assert np.isclose(res["accuracy"], accuracy_score(refs, preds))
    assert np.isclose(res["precision"], precision_score(refs, preds))
    assert np.isclose(res["recall"], recall_score(refs, preds))
    assert np.isclose(res["f1"], f1_score(refs, preds))
    assert np.isclose(res["roc_auc"], roc_auc_score(refs, pos))
    assert np.isclose(res["pr_auc"], average_precision_score(refs, pos))
    assert res["confusion_matrix"] == confusion_matrix(refs, preds).tolist()
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(refs, preds, average=avg)
        assert np.allclose([res[f"precision_{avg}"], res[f"recall_{avg}"], res[f"f1_{avg}"]], [p, r, f])
    assert res["positive_label"] == "laughter" and res["per_class"][1]["label"] == "laughter"


def test_auc_comes_from_scores_not_hard_labels():
    probs, refs = _binary()
    res = compute_metrics(probs, refs, ["non-laughter", "laughter"], n_boot=0)
    hard = roc_auc_score(refs, probs.argmax(1))  # the original project's number
    assert np.isclose(res["roc_auc"], roc_auc_score(refs, probs[:, 1]))
    assert abs(res["roc_auc"] - hard) > 0.05


def test_seven_class_metrics_match_sklearn():
    probs, refs = _seven_class()
    names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    res = compute_metrics(probs, refs, names, n_boot=0)
    preds = probs.argmax(1)
    assert np.isclose(res["accuracy"], accuracy_score(refs, preds))
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(refs, preds, average=avg, zero_division=0)
        assert np.allclose([res[f"precision_{avg}"], res[f"recall_{avg}"], res[f"f1_{avg}"]], [p, r, f])
    assert np.isclose(res["f1"], f1_score(refs, preds, average="macro"))  # headline = macro with N classes
    p, r, f, s = precision_recall_fscore_support(refs, preds, zero_division=0)
    assert np.allclose([row["f1"] for row in res["per_class"]], f) and [row["support"] for row in res["per_class"]] == s.tolist()
    assert np.isclose(res["roc_auc"], roc_auc_score(refs, probs, multi_class="ovr", average="macro"))
    assert np.isclose(res["pr_auc"], average_precision_score(label_binarize(refs, classes=range(7)), probs, average="macro"))
    assert res["confusion_matrix"] == confusion_matrix(refs, preds).tolist()
    assert len(res["roc_curves"]) == 7 and len(res["pr_curves"]) == 7 and "positive_label" not in res


def test_every_headline_metric_gets_an_interval_around_it():
    probs, refs = _binary()
    res = compute_metrics(probs, refs, ["a", "b"], n_boot=1)
    for m in INTERVAL_METRICS:
        assert res[f"{m}_ci_low"] <= res[m] <= res[f"{m}_ci_high"], m
        assert res[f"{m}_ci_low"] < res[f"{m}_ci_high"], m


def test_interval_over_clips_is_wider_for_correlated_frames():
    # 20 clips of 15 frames; within a clip the model is either right on every frame or wrong on every frame.
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 15)
    refs = rng.integers(0, 2, 300)
    right_clip = rng.random(20) < 0.7
    pos = np.where(right_clip[groups], refs, 1 - refs) * 0.8 + 0.1
    probs = np.stack([1 - pos, pos], 1)
    by_frame = clustered_intervals(probs, refs, None)
    by_clip = clustered_intervals(probs, refs, groups)
    width = lambda ci: ci["accuracy_ci_high"] - ci["accuracy_ci_low"]  # noqa: E731
    assert width(by_clip) > 2 * width(by_frame)
    assert by_clip["ci_groups"] == 20 and by_frame["ci_groups"] == 300


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.95, 1.0])
def test_threshold_for_target_recall_achieves_it_on_its_split(target):
    probs, refs = _binary(n=301, seed=4, ties=True)
    t = threshold_for_target(probs, refs, target_recall=target)
    decided = decide(probs, 1, t)
    assert recall_score(refs, decided) >= target
    # It is the highest such threshold: any higher score as threshold falls short of the target.
    higher = np.unique(probs[:, 1])[np.unique(probs[:, 1]) > t]
    if len(higher):
        assert recall_score(refs, decide(probs, 1, higher[0])) < target


@pytest.mark.parametrize("target", [0.6, 0.75, 0.9])
def test_threshold_for_target_precision_achieves_it(target):
    probs, refs = _binary(n=301, seed=5)
    t = threshold_for_target(probs, refs, target_precision=target)
    assert precision_score(refs, decide(probs, 1, t)) >= target


def test_threshold_changes_decisions_not_scores():
    probs, refs = _binary()
    plain = compute_metrics(probs, refs, ["a", "b"], n_boot=0)
    low = compute_metrics(probs, refs, ["a", "b"], n_boot=0, threshold=0.2)
    assert low["recall"] > plain["recall"] and low["decision_threshold"] == 0.2
    assert low["roc_auc"] == plain["roc_auc"] and low["pr_auc"] == plain["pr_auc"] and low["ece"] == plain["ece"]
    with pytest.raises(KernelLaughError, match="two classes"):
        decide(_seven_class()[0], 1, 0.5)


def test_ece_on_known_calibration():
    # Confidence 0.9 everywhere but right only 70% of the time: ECE = |0.7 - 0.9| = 0.2.
    refs = np.array([1] * 7 + [0] * 3)
    probs = np.tile([0.1, 0.9], (10, 1))
    result = calibration(probs, refs, n_bins=10)
    assert np.isclose(result["ece"], 0.2)
    assert [b["count"] for b in result["bins"]][9] == 10 and np.isclose(result["bins"][9]["accuracy"], 0.7)
    assert np.isclose(calibration(np.tile([0.3, 0.7], (10, 1)), refs)["ece"], 0.0)


def test_temperature_scaling_fixes_overconfidence_and_keeps_decisions():
    rng = np.random.default_rng(2)
    refs = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3)) + np.eye(3)[refs] * 1.0
    over = np.exp(4 * logits) / np.exp(4 * logits).sum(1, keepdims=True)  # too sharp by a factor 4
    t = fit_temperature(over, refs)
    scaled = apply_temperature(over, t)
    assert 2.5 < t < 6
    assert log_loss(refs, scaled) < log_loss(refs, over)
    assert calibration(scaled, refs)["ece"] < calibration(over, refs)["ece"]
    assert (scaled.argmax(1) == over.argmax(1)).all()


def test_subgroup_table_on_known_per_group_accuracy():
    # Group "young": 40 images, all right. Group "old": 20 images, 10 right. Group "mid": 30 images, 24 right.
    sizes, right = {"young": 40, "old": 20, "mid": 30}, {"young": 40, "old": 10, "mid": 24}
    values, refs, correct = [], [], []
    rng = np.random.default_rng(0)
    for g, n in sizes.items():
        values += [g] * n
        refs += list(rng.integers(0, 2, n))
        correct += [True] * right[g] + [False] * (n - right[g])
    refs, correct = np.array(refs), np.array(correct)
    pos = np.where(correct, refs, 1 - refs) * 0.6 + 0.2
    probs = np.stack([1 - pos, pos], 1)
    rows = {r["group"]: r for r in subgroup_metrics(probs, refs, np.array(values), n_boot=100)}
    assert set(rows) == {"young", "old", "mid"}
    for g in sizes:
        assert rows[g]["support"] == sizes[g]
        assert np.isclose(rows[g]["accuracy"], right[g] / sizes[g])
        assert rows[g]["accuracy_ci_low"] <= rows[g]["accuracy"] <= rows[g]["accuracy_ci_high"]
    # All 40 right: not a zero-width interval but Clopper-Pearson's for 40 of 40, [0.025^(1/40), 1].
    assert rows["young"]["accuracy_ci_high"] == 1.0
    assert rows["young"]["accuracy_ci_low"] == pytest.approx(0.025 ** (1 / 40), abs=1e-9)
    assert all(r["groups"] == r["support"] and not r["too_small"] for r in rows.values())  # frames independent


def test_macro_averages_skip_classes_absent_from_a_subset():
    # A subgroup with no 'disgust' images and no 'disgust' predictions: macro F1 over the classes it has,
    # as scikit-learn computes it by default, not dragged down by a zero for the missing class.
    probs, refs = _seven_class()
    keep = refs != 1
    probs = probs[keep][:, [0, 2, 3, 4, 5, 6, 1]]  # the absent class's column last...
    probs[:, 6] = 0.0  # ...and never predicted
    refs = np.array([{0: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}[r] for r in refs[keep]])
    res = compute_metrics(probs, refs, [str(i) for i in range(7)], n_boot=0)
    assert np.isclose(res["f1"], f1_score(refs, probs.argmax(1), average="macro"))
    assert np.isclose(res["recall_macro"], recall_score(refs, probs.argmax(1), average="macro"))
    # One-vs-rest AUC over the six classes present (the absent one has no AUC).
    expected = np.mean([roc_auc_score(refs == c, probs[:, c]) for c in range(6)])
    assert np.isclose(res["roc_auc"], expected)
