"""`kernel-laugh compare A B [C ...]`: is model B better than model A on the same images?

Every model scores the same split through the evaluation's prediction path (``evaluation.predict_probs``, each
with its own preprocessing from its ``pretrained_cfg``). For each metric the report gives each model's value
with its interval, and for each model after the first the paired difference (model - first model) with a 95%
interval that measures spread between the same clips/sessions for both models (``kernel_laugh.intervals``):
paired cluster-robust for accuracy, Obuchowski's paired clustered variance for ROC AUC, the paired grouped
jackknife for the rest. DeLong's test (two correlated ROC AUCs) and McNemar's test (accuracy) are given beside
them as cross-checks; both take frames as independent.

Models with different label sets are compared on their shared task, the positive label named by
``--positive-label`` against the rest, or refused with a one-line message. Writes ``compare.json``,
``compare.md`` and ``compare.png`` (the differences with their intervals).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from kernel_laugh import intervals as iv
from kernel_laugh.config import CompareConfig, DataConfig
from kernel_laugh.data import interval_groups, prepare_data
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.evaluation import predict_probs, select_split
from kernel_laugh.metrics import clustered_intervals, decide, headline_metrics
from kernel_laugh.modeling import load_model, read_config
from kernel_laugh.plots import comparison_figure, save_figure
from kernel_laugh.report import SYNTHETIC_NOTE
from kernel_laugh.results import format_number

logger = logging.getLogger(__name__)

COMPARED = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ece")


def shared_task(label_sets: list[list[str]], data_labels: list[str] | None, positive_label: str | None,
                stored_positive: str | None) -> tuple[list[str], str | None]:
    """(label names the comparison uses, positive label or None for a multi-class comparison).

    Same labels in every model: those (binary: ``positive_label``, else the first model's stored positive label,
    else the second class). Different labels: ``positive_label`` against the rest, which every model and the data
    must know (``data_labels`` None: the data is not checked yet); otherwise a ``KernelLaughError`` saying so in
    one line."""
    same = all(set(names) == set(label_sets[0]) for names in label_sets)
    if same and positive_label is None:
        names = label_sets[0]
        return names, (stored_positive if stored_positive in names else names[1]) if len(names) == 2 else None
    if positive_label is None:
        shown = "; ".join(f"model {i + 1}: {names}" for i, names in enumerate(label_sets))
        raise KernelLaughError(f"the models have different labels ({shown}); compare them on a shared task with "
                               "--positive-label NAME")
    for i, names in enumerate([*label_sets] + ([data_labels] if data_labels is not None else [])):
        if positive_label not in names:
            where = f"model {i + 1}" if i < len(label_sets) else "the dataset"
            raise KernelLaughError(f"--positive-label {positive_label!r} is not among the labels of {where} ({names})")
    return [f"not {positive_label}", positive_label], positive_label


def _as_task(probs: np.ndarray, names: list[str], task: list[str], positive: str | None) -> np.ndarray:
    """A model's probabilities (N, K) in the task's columns: [P(not positive), P(positive)] for a binary task
    across label sets, or the task's label order."""
    if task[0] == f"not {positive}":
        p = probs[:, names.index(positive)]
        return np.stack([1 - p, p], 1)
    return probs[:, [names.index(n) for n in task]]


def compare_models(model_dirs: list[str], data_cfg: DataConfig, cfg: CompareConfig) -> dict[str, Any]:
    """Score every model on ``cfg.split`` of ``data_cfg``'s data and write the comparison; returns compare.json's
    content. Raises ``KernelLaughError`` for fewer than 2 models, a missing model or labels with no shared task."""
    if len(model_dirs) < 2:
        raise KernelLaughError("compare needs at least two models")
    configs = [read_config(d) for d in model_dirs]  # a missing model fails before any work
    label_sets = [list(c["label_names"]) for c in configs]
    shared_task(label_sets, None, data_cfg.positive_label, configs[0].get("positive_label"))  # refuse before reading data
    data = prepare_data(data_cfg)
    ds = select_split(data.splits, cfg.split)
    data_labels = ds.features["label"].names
    task, positive = shared_task(label_sets, data_labels, data_cfg.positive_label, configs[0].get("positive_label"))
    raw_refs = np.asarray(ds["label"])
    if task[0] == f"not {positive}":
        refs = (raw_refs == data_labels.index(positive)).astype(int)
    else:
        missing = set(data_labels) - set(task)
        if missing:
            raise KernelLaughError(f"{data_cfg.dataset}: dataset labels {sorted(missing)} are not among the models' {task}")
        refs = np.array([task.index(data_labels[r]) for r in raw_refs])
    groups = interval_groups(ds, data_cfg.group_column)
    probs = []
    for d, names in zip(model_dirs, label_sets):
        model = load_model(d)
        p, _ = predict_probs(model, ds, model.pretrained_cfg, cfg.batch_size, cfg.device, desc=Path(d).name)
        probs.append(_as_task(p, names, task, positive))
        preprocessing = {k: model.pretrained_cfg.get(k) for k in ("input_size", "mean", "std", "crop_pct", "crop_mode")}
        logger.info("%s: preprocessing %s", d, preprocessing)
    result = paired_comparison(probs, refs, task, positive, groups)
    result |= {"models": [str(d) for d in model_dirs], "dataset": data_cfg.dataset, "split": cfg.split,
               "synthetic": data_cfg.dataset == "sample", "split_method": data.description,
               "preprocessing": [load_pre(c) for c in configs]}
    write_comparison(result, cfg.output_dir)
    return result


def load_pre(config: dict[str, Any]) -> dict[str, Any]:
    pre = config.get("pretrained_cfg", {})
    return {k: pre.get(k) for k in ("input_size", "mean", "std", "crop_pct", "crop_mode", "interpolation")}


def paired_comparison(probs: list[np.ndarray], refs: np.ndarray, label_names: list[str], positive: str | None,
                      groups: np.ndarray | None) -> dict[str, Any]:
    """The statistics of a comparison: probs is a list of (N, K) per model (same frames, same column order),
    refs (N,), groups (N,) clip/session ids or None. Model 1 is the reference: each other model gets
    ``differences[metric]`` = {difference (model - model 1), ci_low, ci_high, method, reason}, DeLong (binary)
    and McNemar."""
    pos = label_names.index(positive) if positive is not None else 1
    codes, g = iv.group_codes(groups, len(refs))
    per_model = []
    for p in probs:
        row: dict[str, Any] = headline_metrics(p, refs, pos)
        ci = clustered_intervals(p, refs, groups, pos)
        row |= {k: v for k, v in ci.items() if k.endswith(("_ci_low", "_ci_high"))}
        per_model.append(row)
    binary = len(label_names) == 2
    keeps = iv.jackknife_keeps(codes, g)
    pairs = []
    a = probs[0]
    correct_a = decide(a, pos) == refs
    for b in probs[1:]:
        correct_b = decide(b, pos) == refs
        diffs: dict[str, dict[str, Any]] = {}
        d, low, high, why = iv.paired_mean_difference(correct_a, correct_b, codes, g)
        diffs["accuracy"] = {"difference": d, "ci_low": low, "ci_high": high, "method": iv.PAIRED_MEAN, "reason": why}
        if binary:
            d, low, high, why = iv.paired_auc_difference(refs == pos, a[:, pos], b[:, pos], codes, g)
            diffs["roc_auc"] = {"difference": d, "ci_low": low, "ci_high": high, "method": iv.PAIRED_AUC, "reason": why}
        rest = [m for m in COMPARED if m not in diffs]
        values_a, values_b = headline_metrics(a, refs, pos), headline_metrics(b, refs, pos)
        replicates = [(headline_metrics(a[k], refs[k], pos), headline_metrics(b[k], refs[k], pos)) for k in keeps]
        for m in rest:
            est = None if values_a[m] is None or values_b[m] is None else values_b[m] - values_a[m]
            reps = [None if ra[m] is None or rb[m] is None else rb[m] - ra[m] for ra, rb in replicates]
            low, high, why = iv.jackknife_from_replicates(reps, est, bounds=(-1.0, 1.0))
            diffs[m] = {"difference": est, "ci_low": low, "ci_high": high, "method": iv.PAIRED_JACKKNIFE, "reason": why}
        pair: dict[str, Any] = {"differences": {m: diffs[m] for m in COMPARED if m in diffs},
                                "mcnemar": iv.mcnemar_test(correct_a, correct_b)}
        if binary:
            pair["delong"] = iv.delong_test(refs == pos, a[:, pos], b[:, pos], groups)
        pairs.append(pair)
    return {"label_names": label_names, "positive_label": positive, "num_samples": int(len(refs)), "groups": g,
            "grouped": groups is not None, "metrics": per_model, "comparisons": pairs,
            "ci_method": f"95% intervals over {g} " + ("groups (clips/sessions), the same groups for every model"
                                                        if groups is not None else "frames taken as independent (no group column)")}


# ---- writing -------------------------------------------------------------------------------------------

def _fmt_signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def render_comparison(result: dict[str, Any]) -> str:
    """compare.md from compare.json's content (pure)."""
    names = [Path(m).name or m for m in result["models"]]
    lines = [f"# Comparison on {result['dataset']} [{result['split']}]", ""]
    if result.get("synthetic"):
        lines += [SYNTHETIC_NOTE, ""]
    task = (f"'{result['positive_label']}' against the rest" if result["label_names"][0] == f"not {result['positive_label']}"
            else f"labels {result['label_names']}")
    lines += [f"- {result['num_samples']} images, every model scored on the same ones; task: {task}.",
              f"- Split: {result.get('split_method', 'n/a')}.", f"- Intervals: {result['ci_method']}.",
              "- Models: " + "; ".join(f"{i + 1}. `{m}`" for i, m in enumerate(result["models"])), "",
              "## Each model", "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for m in COMPARED:
        cells = [f"{format_number(r.get(m))} [{format_number(r.get(f'{m}_ci_low'))}, {format_number(r.get(f'{m}_ci_high'))}]" for r in result["metrics"]]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    for i, pair in enumerate(result["comparisons"], start=2):
        lines += ["", f"## {names[i - 1]} minus {names[0]} (paired)", "",
                  "| metric | difference | 95% interval | method |", "|---|---|---|---|"]
        for m, d in pair["differences"].items():
            ci = f"[{_fmt_signed(d['ci_low'])}, {_fmt_signed(d['ci_high'])}]" if d["ci_low"] is not None else f"none: {d['reason']}"
            lines.append(f"| {m} | {_fmt_signed(d['difference'])} | {ci} | {d['method']} |")
        mc = pair["mcnemar"]
        lines += ["", f"- McNemar (accuracy, {mc['method']}): {mc['only_a_right']} frames only {names[0]} gets right, "
                  f"{mc['only_b_right']} only {names[i - 1]}; p = {format_number(mc['p_value'])}. Frames taken as independent."]
        if pair.get("delong"):
            dl = pair["delong"]
            clustered = (f"; with Obuchowski's clustered variance over {dl['groups']} groups: z = {format_number(dl.get('clustered_z'))}, "
                         f"p = {format_number(dl.get('clustered_p_value'))}" if "clustered_z" in dl else "")
            lines.append(f"- DeLong (ROC AUC): difference {_fmt_signed(dl['difference'])}, z = {format_number(dl['z'])}, "
                         f"p = {format_number(dl['p_value'])} (frames independent){clustered}.")
    lines += ["", "![differences with 95% intervals](compare.png)", ""]
    return "\n".join(lines)


def write_comparison(result: dict[str, Any], out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "compare.md").write_text(render_comparison(result))
    save_figure(comparison_figure(result), out / "compare.png")
    return out
