"""eval_results.json and config.json keep their public keys (scripts, the Hub's model-index, older folders read
them), and the shared formatters write what each report always wrote."""

from __future__ import annotations

import json

import numpy as np

from kernel_laugh.metrics import compute_metrics
from kernel_laugh.results import (EvalResults, format_interval, format_number, markdown_table, metric_interval,
                                  results_header)

HEADER = ["split", "dataset", "synthetic", "split_method", "label_names", "positive_label"]
TRAINING = ["best_epoch", "best_metric", "validation_best", "history"]
METRICS = ["num_samples", "accuracy", "precision_macro", "precision_weighted", "precision", "recall_macro",
           "recall_weighted", "recall", "f1_macro", "f1_weighted", "f1", "per_class", "confusion_matrix", "roc_auc",
           "roc_curve", "pr_auc", "pr_curve", "ece", "calibration", "decision_threshold", "ci_groups",
           "accuracy_ci_low", "accuracy_ci_high", "precision_ci_low", "precision_ci_high", "recall_ci_low",
           "recall_ci_high", "roc_auc_ci_low", "roc_auc_ci_high", "f1_ci_low", "f1_ci_high", "pr_auc_ci_low",
           "pr_auc_ci_high", "ece_ci_low", "ece_ci_high", "ci_methods", "ci_not_estimable", "ci_method"]
CONFIG = ["architecture", "num_classes", "num_features", "global_pool", "label_names", "pretrained_cfg", "positive_label"]
PRETRAINED_CFG = ["input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "num_classes", "first_conv",
                  "classifier"]


def test_training_writes_the_public_keys_in_their_order(trained_dir):
    results = json.loads((trained_dir / "eval_results.json").read_text())
    assert list(results) == HEADER + TRAINING + ["skipped_files", "split_sizes"] + METRICS
    assert list(results["history"][0]) == ["epoch", "train_loss", "train_images_per_second", "val_loss", "accuracy",
                                           "f1", "roc_auc"]
    assert sorted(results["per_class"][0]) == ["f1", "label", "precision", "recall", "support"]
    assert list(results["roc_curve"]) == ["fpr", "tpr"] and list(results["pr_curve"]) == ["precision", "recall", "prevalence"]
    assert set(results) <= set(EvalResults.__annotations__)
    config = json.loads((trained_dir / "config.json").read_text())
    assert list(config) == CONFIG
    assert list(config["pretrained_cfg"]) == PRETRAINED_CFG


def test_evaluate_header_names_the_model_and_keeps_its_order():
    """The builder both commands use: evaluate's record names the model and lists split sizes before skipped files."""
    rng = np.random.default_rng(0)
    refs = np.repeat([0, 1], 20)
    probs = np.clip(np.stack([1 - refs, refs], 1) * 0.6 + rng.uniform(0, 0.4, (40, 2)), 0, 1)
    probs /= probs.sum(1, keepdims=True)
    groups = np.repeat(np.arange(8), 5).astype(str)
    header = results_header("test", "sample", "seeded split", ["non-laughter", "laughter"], 1,
                            {"train": 10, "validation": 5, "test": 40}, [], model="runs/sample")
    assert list(header) == ["split", "model", *HEADER[1:], "split_sizes", "skipped_files"]
    assert header["synthetic"] is True and header["positive_label"] == "laughter"
    full = dict(header) | compute_metrics(probs, refs, ["non-laughter", "laughter"], groups=groups, positive_label=1)
    assert list(full)[len(header):] == METRICS
    multi = results_header("test", "faces/", "given splits", ["a", "b", "c"], None, {"test": 3}, ["bad.png: truncated"])
    assert "positive_label" not in multi and multi["synthetic"] is False and multi["skipped_files"] == ["bad.png: truncated"]


def test_one_interval_formatter_in_each_report_layout():
    row = {"accuracy": 0.91234, "accuracy_ci_low": 0.8712, "accuracy_ci_high": 0.95049, "f1": 0.5,
           "f1_ci_low": None, "f1_ci_high": None}
    assert metric_interval(row, "accuracy") == (0.8712, 0.95049) and metric_interval(row, "f1") is None
    assert format_interval(row, "accuracy") == "0.871-0.950"  # eval/report.md
    assert format_interval(row, "f1") == "n/a"
    assert format_interval(row, "accuracy", "{low:.3f} – {high:.3f}", "–") == "0.871 – 0.950"  # the card's table
    assert format_interval(row, "roc_auc", " (95% CI {low:.3f}-{high:.3f})", "") == ""  # plot legends
    assert [format_number(x) for x in (0.12345, None, 7, "x", True)] == ["0.123", "n/a", "7", "x", "True"]
    assert format_number(0.12345, 4) == "0.1235"


def test_one_markdown_table_helper():
    assert markdown_table(["metric", "value"], [["accuracy", 0.91234], ["roc_auc", None]]) == (
        "| metric | value |\n|---|---|\n| accuracy | 0.912 |\n| roc_auc | n/a |")
    assert markdown_table(["a"], [[None]], cell=lambda v: "–" if v is None else str(v)) == "| a |\n|---|\n| – |"
