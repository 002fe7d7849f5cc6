"""Results → the ``eval/`` folder: ``render_report`` is the markdown of ``eval/report.md`` from a results dict (as
in eval_results.json), pure; ``write_report`` writes it with its plots. Training and ``kernel-laugh evaluate``
both call ``write_report``, so they leave the same report.

The two tables are the original project's: per class precision / recall / F1 / support with accuracy and
macro / weighted averages (scikit-learn's ``classification_report`` layout), and the summary of headline
metrics, here with 95% intervals. Then calibration, the subgroup tables and the figures.
"""

from __future__ import annotations

import re
from pathlib import Path

from kernel_laugh.outputs import write_text_atomic
from kernel_laugh.plots import (calibration_figure, confusion_matrix_figure, pr_figure, roc_figure, save_figure,
                                subgroup_figure)
from kernel_laugh.results import EvalResults, format_interval, format_number, markdown_table

REPORT_DIR = "eval"

SYNTHETIC_NOTE = ("> **Synthetic data.** These numbers come from the SYNTHETIC sample that kernel-laugh generates; "
                  "they show that the pipeline works and say nothing about real brain data or laughter.")
SUMMARY = (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
           ("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC"), ("ece", "ECE (lower is better)"))


def per_class_table(results: EvalResults) -> str:
    rows = [[r["label"], r["precision"], r["recall"], r["f1"], r["support"]] for r in results["per_class"]]
    n = results["num_samples"]
    rows.append(["**accuracy**", "", "", results["accuracy"], n])
    for avg in ("macro", "weighted"):
        rows.append([f"**{avg} avg**", results[f"precision_{avg}"], results[f"recall_{avg}"], results[f"f1_{avg}"], n])
    return markdown_table(["class", "precision", "recall", "f1-score", "support"], rows)


def summary_table(results: EvalResults) -> str:
    binary = len(results["label_names"]) == 2
    qualifier = {"precision": "", "recall": "", "f1": ""}
    for m in qualifier:
        qualifier[m] = f" ({results.get('positive_label')})" if binary else " (macro)"
    qualifier["roc_auc"] = qualifier["pr_auc"] = "" if binary else " (one-vs-rest macro)"
    rows = [[name + qualifier.get(key, ""), results.get(key), format_interval(results, key)] for key, name in SUMMARY]
    return markdown_table(["metric", "value", "95% interval"], rows)


def _decision_line(results: EvalResults) -> str:
    sel = results.get("threshold_selection")
    if results.get("decision_threshold") is None or not sel:
        return "- Decision: the most probable class (argmax)."
    t = results["decision_threshold"]
    if "target_recall" in sel or "target_precision" in sel:
        kind = "recall" if "target_recall" in sel else "precision"
        fitted_on = sel.get("fitted_on", "validation")
        same = " **This is the split it was fitted on: its numbers here are optimistic.**" if fitted_on == results["split"] else ""
        stored = f" Read from the {sel['source']}." if sel.get("source") else ""
        return (f"- Decision: '{results['positive_label']}' when its probability is at least **{t:.4f}**, chosen on the "
                f"{fitted_on} split for {kind} >= {sel.get('target_' + kind)} (there: recall "
                f"{format_number(sel.get('validation_recall'))}, precision {format_number(sel.get('validation_precision'))}).{stored}{same} "
                "Scores are unchanged; ROC AUC, PR AUC and calibration do not depend on the threshold.")
    return f"- Decision: '{results['positive_label']}' when its probability is at least **{t:.4f}** ({sel.get('source', '')})."


def _not_estimable_lines(results: EvalResults) -> list[str]:
    missing = results.get("ci_not_estimable") or {}
    return [f"- No interval for {metric}: {why}." for metric, why in missing.items()]


def _calibration_section(results: EvalResults) -> str:
    lines = ["## Calibration", "",
             f"Expected calibration error (top-label, {results.get('calibration', {}).get('n_bins', 10)} equal bins): "
             f"**{format_number(results.get('ece'))}** (95% interval {format_interval(results, 'ece')}).", ""]
    ts = results.get("temperature_scaling")
    if ts:
        lines += [f"Temperature scaling fitted on the {ts['fitted_on']} split: T = {ts['temperature']:.3f} "
                  "(reported here only; the model folder's scores are not changed).", "",
                  markdown_table(["", "ECE", "negative log-likelihood"], [["before", ts["ece_before"], ts["nll_before"]],
                                                                  ["after", ts["ece_after"], ts["nll_after"]]]), ""]
    lines += ["![reliability diagram](calibration.png)", ""]
    return "\n".join(lines)


def _subgroup_section(results: EvalResults) -> str:
    parts = ["## Subgroups", ""]
    for column, rows in results["subgroups"].items():
        table = markdown_table(["group", "support", "groups", "accuracy", "95% interval", "precision", "recall", "F1", "ROC AUC",
                        "ROC AUC 95% interval"],
                       [[r["group"] + (" ⚠" if r.get("too_small") else ""), r["support"], r.get("groups", "n/a"),
                         r["accuracy"], format_interval(r, "accuracy"), r["precision"], r["recall"], r["f1"], r["roc_auc"],
                         format_interval(r, "roc_auc")] for r in rows])
        parts += [f"### By {column}", "", table, ""]
        if results.get("ci_method") and any(r.get("too_small") for r in rows):
            parts += ["⚠ too small to say anything about: fewer than 5 clips/sessions (or none with an interval). "
                      "Intervals use the same methods as the summary, over the groups inside each row; n/a means "
                      "none can be estimated (e.g. a single clip/session).", ""]
        parts += [f"![metrics by {column}]({subgroup_plot_name(column)})", ""]
    return "\n".join(parts)


def _explanations_section(results: EvalResults) -> str:
    info = results["explanations"]
    lines = ["## What the model looks at (Grad-CAM, last convolutional stage)", ""]
    if info.get("top_losses"):
        lines += [f"The {len(info['top_losses']['indices'])} most confidently wrong images (of {info['num_wrong']} wrong), "
                  "with the regions that drove the wrong decision:", "", "![top losses](top_losses.png)", ""]
    else:
        lines += ["No image was classified wrongly.", ""]
    if info.get("mean_gradcam"):
        m = info["mean_gradcam"]
        lines += [f"Mean heat map for '{m['label']}' over the {m['count']} correctly classified '{m['label']}' images "
                  "(which regions drive the decision):", "", "![mean Grad-CAM](gradcam_mean.png)", ""]
    return "\n".join(lines)


def render_report(results: EvalResults) -> str:
    """Markdown of the evaluation report; image links are relative to the eval/ folder."""
    title = f"# Evaluation: {results.get('model') or 'model'} on {results.get('dataset', 'n/a')} [{results['split']}]"
    head = [title, ""]
    if results.get("synthetic"):
        head += [SYNTHETIC_NOTE, ""]
    head += [f"- Split: `{results['split']}`, {results['num_samples']} images; {results.get('split_method', 'n/a')}.",
             f"- Intervals: {results['ci_method']}" if results.get("ci_method") else "- Intervals: none computed.",
             *([f"- Intervals {results['interval_grouping']}."] if results.get("interval_grouping") else []),
             *_not_estimable_lines(results),
             _decision_line(results), ""]
    body = ["## Per class", "", per_class_table(results), "", "## Summary", "", summary_table(results), "",
            "![confusion matrix](confusion_matrix.png)", ""]
    if results.get("roc_curve") or results.get("roc_curves"):
        body += ["![ROC curve](roc.png) ![precision-recall curve](pr.png)", ""]
    sections = [_calibration_section(results) if results.get("calibration") else ""]
    if results.get("subgroups"):
        sections.append(_subgroup_section(results))
    if results.get("explanations"):
        sections.append(_explanations_section(results))
    return "\n".join(head + body) + "\n" + "\n".join(s for s in sections if s)


def write_report(results: EvalResults, report_dir: str | Path) -> Path:
    """``report.md`` and its plots (confusion_matrix, roc, pr, calibration, one per subgroup column) from a
    results dict alone, so training and ``kernel-laugh evaluate`` write the same report."""
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = results["label_names"]
    save_figure(confusion_matrix_figure(results, names), out / "confusion_matrix.png")
    if results.get("roc_curve") or results.get("roc_curves"):
        save_figure(roc_figure(results), out / "roc.png")
    if results.get("pr_curve") or results.get("pr_curves"):
        save_figure(pr_figure(results), out / "pr.png")
    if results.get("calibration"):
        save_figure(calibration_figure(results), out / "calibration.png")
    for column, rows in (results.get("subgroups") or {}).items():
        save_figure(subgroup_figure(rows, column), out / subgroup_plot_name(column))
    write_text_atomic(out / "report.md", render_report(results))
    return out


def subgroup_plot_name(column: str) -> str:
    return "subgroups_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("_") + ".png"
