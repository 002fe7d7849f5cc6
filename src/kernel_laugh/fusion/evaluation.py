"""Measuring the fusion model on held-out steps, against the experts it combines.

On the same steps (all clips given, grouped by clip), ``assess`` reports:

- the fused model;
- each expert alone, on the steps it covers (with its coverage) and on all steps (the prior where it is missing);
- the equal-weight mean of the available experts' calibrated logits;
- the fused model with each modality removed in turn, against the best remaining expert alone;
- tables by availability pattern (``metrics.subgroup_metrics``);
- paired differences "fused minus best single expert" in ROC AUC, with the paired clustered interval of
  ``intervals.paired_auc_difference`` (Obuchowski 1997 clustered AUC variance of the difference, t on Bell-McCaffrey
  degrees of freedom, clips as clusters);
- ECE (in ``metrics.headline_metrics``) and segment-level F1 of the fused line's segments, found with the timeline's
  hysteresis (``video.find_segments``), against the labelled segments.

Every metric and interval comes from ``kernel_laugh.metrics`` / ``kernel_laugh.intervals``; this module only
arranges the scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernel_laugh import intervals as iv
from kernel_laugh.fusion.batches import StepArrays, stack_steps
from kernel_laugh.fusion.gate import GatedFusion
from kernel_laugh.fusion.steps import ExpertSteps
from kernel_laugh.metrics import clustered_intervals, describe_intervals, headline_metrics, subgroup_metrics
from kernel_laugh.video import find_segments

logger = logging.getLogger(__name__)

LABEL = "laughter"
HEADLINE = ("roc_auc", "pr_auc", "f1", "accuracy", "ece")


@dataclass(frozen=True)
class Hysteresis:
    """The timeline's segmenter settings (``video.find_segments``)."""

    on: float = 0.6
    off: float = 0.4
    min_duration: float = 1.0
    smooth: float = 2.0

    def to_dict(self) -> dict[str, float]:
        return {"on": self.on, "off": self.off, "min_duration": self.min_duration, "smooth": self.smooth}


def _two_columns(p: np.ndarray) -> np.ndarray:
    return np.stack([1 - p, p], axis=1)


def _metrics(p: np.ndarray, y: np.ndarray, threshold: float | None, clips: np.ndarray | None = None) -> dict[str, Any]:
    """Headline metrics of laughter probabilities ``p`` (N,), with clip-clustered intervals when ``clips`` given."""
    out: dict[str, Any] = {"num_steps": int(len(y))}
    if not len(y):
        return out | {m: None for m in HEADLINE}
    out |= headline_metrics(_two_columns(p), y, 1, threshold)
    if clips is not None:
        ci = clustered_intervals(_two_columns(p), y, clips, 1, threshold)
        out |= {k: v for k, v in ci.items() if k.endswith(("_ci_low", "_ci_high"))}
    return out


def true_segments(times: np.ndarray, labels: np.ndarray, step: float) -> list[tuple[float, float]]:
    """Runs of ``labels == 1`` as (start, end) seconds, each step covering [t, t + step)."""
    spans, begin = [], None
    for t, lab in zip(times, labels):
        if lab and begin is None:
            begin = float(t)
        elif not lab and begin is not None:
            spans.append((begin, float(t)))
            begin = None
    if begin is not None:
        spans.append((begin, float(times[-1]) + step))
    return spans


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def segment_f1(predicted: list[tuple[float, float]], truth: list[tuple[float, float]], min_iou: float = 0.5
               ) -> tuple[int, int, int]:
    """(hits, predicted, true): a predicted segment is a hit when it overlaps a still-unmatched true segment with
    intersection over union >= ``min_iou`` (greedy, in time order; one-to-one)."""
    used: set[int] = set()
    hits = 0
    for p in predicted:
        match = next((i for i, t in enumerate(truth) if i not in used and _iou(p, t) >= min_iou), None)
        if match is not None:
            used.add(match)
            hits += 1
    return hits, len(predicted), len(truth)


def segment_scores(steps: list[ExpertSteps], fused: list[np.ndarray], hysteresis: Hysteresis,
                   min_iou: float = 0.5) -> dict[str, Any]:
    """Segment-level precision, recall and F1 of the fused probability's segments over all clips."""
    hits = n_pred = n_true = 0
    for s, p in zip(steps, fused):
        step = float(np.median(np.diff(s.times))) if s.n_steps > 1 else 1.0
        rows = [{"time": float(t), LABEL: float(v)} for t, v in zip(s.times, p)]
        found = find_segments(rows, LABEL, **hysteresis.to_dict())
        h, n_p, n_t = segment_f1([(f["start"], f["end"]) for f in found], true_segments(s.times, s.labels, step), min_iou)
        hits, n_pred, n_true = hits + h, n_pred + n_p, n_true + n_t
    precision = hits / n_pred if n_pred else None
    recall = hits / n_true if n_true else None
    f1 = 2 * hits / (n_pred + n_true) if n_pred + n_true else None
    return {"segment_precision": precision, "segment_recall": recall, "segment_f1": f1, "predicted_segments": n_pred,
            "true_segments": n_true, "matched_segments": hits,
            "rule": f"one-to-one greedy match at intersection over union >= {min_iou}; segments from the fused "
                    f"probability with the timeline's hysteresis {hysteresis.to_dict()}"}


def _paired(y: np.ndarray, a: np.ndarray, b: np.ndarray, clips: np.ndarray) -> dict[str, Any]:
    """ROC AUC(b) - AUC(a) on the same steps with the paired clustered 95% interval (clips as clusters)."""
    codes, g = iv.group_codes(clips, len(y))
    d, low, high, why = iv.paired_auc_difference(y == 1, a, b, codes, g)
    return {"difference": d, "ci_low": low, "ci_high": high, "method": iv.PAIRED_AUC, "reason": why, "groups": g}


def _pattern(available: np.ndarray, experts: tuple[str, ...]) -> np.ndarray:
    return np.array(["+".join(e for e, a in zip(experts, row) if a) or "none" for row in available])


def assess(gate: GatedFusion, steps: list[ExpertSteps], threshold: float | None = None,
           hysteresis: Hysteresis | None = None) -> dict[str, Any]:
    """Every comparison of the module docstring on the labelled ``steps`` (one entry per clip); the dict written to
    eval_results.json. Raises KernelLaughError when a clip has no labels or other experts than the gate."""
    hysteresis = hysteresis or Hysteresis()
    for s in steps:
        gate.check_steps(s)
    a: StepArrays = stack_steps(steps)
    y, clips, experts = a.labels, a.clips, a.experts
    out = gate.fuse_arrays(a.logits, a.available, a.quality)
    fused = out["fused_probability"]
    prior = float(1 / (1 + np.exp(-float(gate.prior_logit))))
    calibrated = out["calibrated_probability"]  # (N, E)
    results: dict[str, Any] = {"label_names": ["non-laughter", LABEL], "positive_label": LABEL,
                               "num_samples": int(len(y)), "num_clips": int(len(np.unique(clips))),
                               "decision_threshold": threshold, "experts": list(experts)}
    fused_metrics = _metrics(fused, y, threshold, clips)
    results["fused"] = fused_metrics
    results |= {k: fused_metrics.get(k) for k in HEADLINE}  # the headline numbers at the top, as the Hub reads them
    results["no_evidence_share"] = float(out["no_evidence"].mean())

    alone, alone_all = {}, {}
    all_steps_scores: dict[str, np.ndarray] = {}
    for j, e in enumerate(experts):
        covered = a.available[:, j]
        alone[e] = _metrics(calibrated[covered, j], y[covered], threshold, clips[covered]) | {"coverage": float(covered.mean())}
        all_steps_scores[e] = np.where(covered, calibrated[:, j], prior)
        alone_all[e] = _metrics(all_steps_scores[e], y, threshold, clips)
    results["expert_alone_covered"] = alone
    results["expert_alone_all_steps"] = alone_all

    logit = np.log(np.clip(calibrated, 1e-12, 1)) - np.log(np.clip(1 - calibrated, 1e-12, 1))  # (N, E)
    n_avail = a.available.sum(1)
    mean_logit = np.where(n_avail > 0, (logit * a.available).sum(1) / np.maximum(n_avail, 1), float(gate.prior_logit))
    mean_p = 1 / (1 + np.exp(-mean_logit))
    results["equal_weight_mean"] = _metrics(mean_p, y, threshold, clips)

    auc = {e: alone_all[e]["roc_auc"] for e in experts}
    best = max((e for e in experts if auc[e] is not None), key=lambda e: auc[e], default=None)
    results["best_single_expert"] = best
    if best is not None:
        results["fused_minus_best_expert"] = {"metric": "roc_auc", "expert": best, **_paired(y, all_steps_scores[best], fused, clips)}
    results["fused_minus_equal_weight_mean"] = {"metric": "roc_auc", **_paired(y, mean_p, fused, clips)}

    removed = {}
    for j, e in enumerate(experts):
        if len(experts) < 2:
            break
        avail = a.available.copy()
        avail[:, j] = False
        p = gate.fuse_arrays(a.logits, avail, a.quality)["fused_probability"]
        rest = [x for x in experts if x != e and auc[x] is not None]
        row: dict[str, Any] = _metrics(p, y, threshold, clips)
        if rest:
            best_rest = max(rest, key=lambda x: auc[x])
            row["best_remaining_expert"] = best_rest
            row["minus_best_remaining"] = {"metric": "roc_auc", **_paired(y, all_steps_scores[best_rest], p, clips)}
        removed[e] = row
    results["fused_without"] = removed

    patterns = _pattern(a.available, experts)
    results["by_availability"] = {
        "fused": subgroup_metrics(_two_columns(fused), y, patterns, 1, threshold, groups=clips),
        "equal_weight_mean": subgroup_metrics(_two_columns(mean_p), y, patterns, 1, threshold, groups=clips, n_boot=0),
    }
    per_clip = [out_i["fused_probability"] for out_i in (gate.fuse_steps(s) for s in steps)]
    results["segments"] = segment_scores(steps, per_clip, hysteresis)
    ci = clustered_intervals(_two_columns(fused), y, clips, 1, threshold)
    results["ci_method"] = describe_intervals(ci["ci_groups"], True, ci["ci_methods"]) + \
        f" Paired differences: {iv.PAIRED_AUC}, clips as clusters."
    return results
