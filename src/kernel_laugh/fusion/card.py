"""Text of a fusion model: its model card (README.md) and its evaluation report (eval/report.md). Pure: no I/O."""

from __future__ import annotations

import logging
from typing import Any

# The package's markdown table and number format (report.py's), so fusion reports read like every other report.
from kernel_laugh.results import format_number, markdown_table

logger = logging.getLogger(__name__)

SYNTHETIC_NOTE = ("> **SYNTHETIC.** The experts and the gate were trained and measured on the SYNTHETIC multimodal "
                  "sample that kernel-laugh generates. These numbers show that the pipeline works; they say nothing "
                  "about real brain data, faces, voices or laughter.")


def _diff(d: dict[str, Any] | None) -> str:
    if not d or d.get("difference") is None:
        return "n/a"
    ci = f" [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]" if d.get("ci_low") is not None else f" (no interval: {d.get('reason')})"
    return f"{d['difference']:+.3f}{ci}"


def comparison_tables(results: dict[str, Any]) -> str:
    """The tables of a fusion evaluation: models on the same steps, removed modalities, availability patterns."""
    experts = results["experts"]
    lines = [f"Held-out steps: {results['num_samples']} from {results['num_clips']} clips; no expert available on "
             f"{results['no_evidence_share']:.1%} of them (the prior is used there).", ""]
    rows = [["**fused**", "100%", results["fused"].get("roc_auc"), results["fused"].get("pr_auc"),
             results["fused"].get("f1"), results["fused"].get("ece")]]
    for e in experts:
        cov, alls = results["expert_alone_covered"][e], results["expert_alone_all_steps"][e]
        rows.append([f"{e} alone, steps it covers", f"{cov['coverage']:.0%}", cov.get("roc_auc"), cov.get("pr_auc"),
                     cov.get("f1"), cov.get("ece")])
        rows.append([f"{e} alone, all steps (prior where missing)", "100%", alls.get("roc_auc"), alls.get("pr_auc"),
                     alls.get("f1"), alls.get("ece")])
    m = results["equal_weight_mean"]
    rows.append(["equal-weight mean of available experts", "100%", m.get("roc_auc"), m.get("pr_auc"), m.get("f1"), m.get("ece")])
    lines += [markdown_table(["model", "steps", "ROC AUC", "PR AUC", "F1", "ECE"], rows), ""]
    best = results.get("best_single_expert")
    lines.append(f"Fused minus the best single expert ({best}, all steps), ROC AUC: "
                 f"{_diff(results.get('fused_minus_best_expert'))}; fused minus the equal-weight mean: "
                 f"{_diff(results.get('fused_minus_equal_weight_mean'))}.")
    lines.append("")
    removed = [[f"without {e}", r.get("roc_auc"), r.get("best_remaining_expert"), _diff(r.get("minus_best_remaining"))]
               for e, r in results.get("fused_without", {}).items()]
    if removed:
        lines += ["Fused with one modality removed (its expert treated as missing everywhere):", "",
                  markdown_table(["model", "ROC AUC", "best remaining expert", "fused minus it (ROC AUC)"], removed), ""]
    pattern_rows = [[r["group"], r["support"], r.get("groups"), r.get("roc_auc"), r.get("f1")]
                    for r in results["by_availability"]["fused"]]
    lines += ["Fused model by availability pattern (which experts had input at the step):", "",
              markdown_table(["available", "steps", "clips", "ROC AUC", "F1"], pattern_rows), ""]
    s = results["segments"]
    lines.append(f"Segments: F1 {format_number(s['segment_f1'])} (precision {format_number(s['segment_precision'])}, recall "
                 f"{format_number(s['segment_recall'])}; {s['matched_segments']} of {s['true_segments']} labelled segments found, "
                 f"{s['predicted_segments']} predicted); {s['rule']}.")
    lines += ["", f"Intervals: {results['ci_method']}"]
    return "\n".join(lines)


def render_fusion_report(results: dict[str, Any], synthetic: bool) -> str:
    """eval/report.md of ``kernel-laugh evaluate`` on a fusion folder."""
    head = ["# Fusion model evaluation", ""] + ([SYNTHETIC_NOTE, ""] if synthetic else [])
    return "\n".join(head + [comparison_tables(results), ""])


def _trained_on(e: dict[str, Any]) -> str:
    t = e.get("trained_on") or {}
    what = t.get("dataset") or "not recorded (the expert folder has no training_args.json)"
    return what + (" (SYNTHETIC)" if t.get("synthetic") else "")


def render_fusion_card(config: dict[str, Any], results: dict[str, Any] | None, model_id: str | None = None,
                       folder: str | None = None) -> str:
    """README.md of a fusion folder: metadata, what it is, its experts (model, revision, laughter class, what each
    was trained on), how the gate was trained, how to use it, and the held-out results. The usage snippets name
    ``model_id`` (a Hub repo), else ``folder``."""
    synthetic = bool(config.get("synthetic"))
    tags = ["kernel-laugh", "laughter", "multimodal", "mixture-of-experts"] + (["synthetic"] if synthetic else [])
    meta = ["---", "library_name: kernel-laugh", "license: apache-2.0", "tags:"] + [f"- {t}" for t in tags] + ["---", ""]
    name = model_id or folder or "FUSION_DIR"
    experts = config["experts"]
    lines = meta + [f"# Laughter from {', '.join(config['modalities'])}: a gated mixture of experts", ""]
    if synthetic:
        lines += [SYNTHETIC_NOTE, ""]
    lines += ["At every step of a video's time grid "
              f"({config['time_grid']['hz']:g} Hz), each expert gives a laughter logit, whether its modality had usable "
              "input, and quality features. A small gating network (Jacobs et al. 1991) weights the experts that are "
              "available by a softmax over them only (a missing expert gets exactly 0), and the fused logit is the "
              "weighted sum of the experts' Platt-calibrated logits (Platt 1999), divided by a temperature chosen on "
              "validation. With no expert available, the output is the prior (the laughter share of the gate's "
              "training steps), flagged 'no evidence'. The experts are frozen; the gate was trained on their "
              "outputs on videos they did not train on, with modality dropout (ModDrop, Neverova et al. 2016).", "",
              "## Experts", "",
              markdown_table(["modality", "model", "revision", "laughter class", "region", "trained on"],
                    [[e["modality"], e["model"], e.get("revision"), e.get("positive_label"), e.get("region"),
                      _trained_on(e)] for e in experts]), "",
              "A different revision of an expert at load time is a warning (an error with `--strict`): the calibration "
              "was fitted to the recorded one.", "",
              "## Use", "", "```bash", f"kernel-laugh timeline {name} video.mp4 --output timeline/",
              f"kernel-laugh evaluate {name} --dataset videos/   # videos + labels.csv", "```", "",
              f"Decision threshold {config['threshold']:.3f} (highest F1 on validation), temperature "
              f"{config['temperature']:.3f}; segments: the timeline's hysteresis {config['hysteresis']}.", "",
              "Quality features (standardised over the gate-train steps where their expert is available): "
              + ", ".join(q["name"] for q in config["quality_features"]) + ".", ""]
    splits = config.get("splits") or {}
    if splits:
        lines += ["## Training of the gate", "",
                  f"Videos split by video (seed {splits.get('seed')}): {len(splits.get('gate_train', []))} gate-train, "
                  f"{len(splits.get('validation', []))} validation, {len(splits.get('test', []))} test. "
                  f"Settings: {config.get('training', {})}.", ""]
    if results:
        lines += ["## Results on the held-out videos" + (" (SYNTHETIC)" if synthetic else ""), "",
                  comparison_tables(results), ""]
    return "\n".join(lines)
