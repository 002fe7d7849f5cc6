"""Evaluate a saved model folder on a dataset split and write what a reviewer asks for.

``evaluate_model`` runs the model over a split, measures it (``metrics.compute_metrics``: intervals that
resample whole clips/sessions, PR AUC, calibration), optionally picks a decision threshold and a temperature
on the *validation* split, breaks everything down by metadata columns, and ``write_report`` writes
``eval_results.json`` plus an ``eval/`` folder (``report.md`` and plots). Training calls ``write_report``
for its held-out split, so both commands leave the same report.

The prediction loop here is a plain single-process torch loop, on purpose: evaluation of a few thousand
frames does not need several processes, and keeping it free of Accelerate means one process writes the files
(no race) and ``training.py`` stays the only ``import accelerate``. Training's own multi-process evaluation
gathers predictions with ``accelerator.gather_for_metrics`` before calling the same ``compute_metrics``.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from kernel_laugh.config import DataConfig, EvalConfig, positive_label_index
from kernel_laugh.data import interval_groups, make_loader, prepare_data, undecoded
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.explain import gradcam_overlay, mean_gradcam
from kernel_laugh.metrics import (apply_temperature, calibration, compute_metrics, decide, fit_temperature,
                                  headline_metrics, negative_log_likelihood, subgroup_metrics, threshold_for_target)
from kernel_laugh.modeling import load_model, predict_batches, read_config
from kernel_laugh.outputs import write_text_atomic
from kernel_laugh.plots import image_grid_figure, save_figure
from kernel_laugh.readers.images import decode_image
from kernel_laugh.report import REPORT_DIR, write_report
from kernel_laugh.results import RESULTS_NAME, TRAINING_KEYS, results_header, save_results
from kernel_laugh.transforms import eval_transform

__all__ = ["EvalConfig", "REPORT_DIR", "evaluate_model", "predict_probs", "select_split", "training_data_defaults",
           "write_results"]



# ---- subgroup columns ----------------------------------------------------------------------------------

@dataclass
class GroupSpec:
    column: str
    buckets: list[tuple[str, float, float]] | None = None  # (label, low, high), both ends included


_BUCKET = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-\s*(-?\d+(?:\.\d+)?)|(\+))\s*$")


def parse_group_by(spec: str | None) -> list[GroupSpec]:
    """'race,age:0-2,3-12,60+' → [race, age with buckets 0-2, 3-12, 60+]. A token that looks like a bucket
    belongs to the last bucketed column; any other token starts a new column."""
    out: list[GroupSpec] = []
    for token in (t.strip() for t in (spec or "").split(",") if t.strip()):
        if ":" in token:
            column, first = (s.strip() for s in token.split(":", 1))
            out.append(GroupSpec(column, [_bucket(first, column)]))
        elif _BUCKET.match(token) and out and out[-1].buckets is not None:
            out[-1].buckets.append(_bucket(token, out[-1].column))
        else:
            out.append(GroupSpec(token))
    return out


def _bucket(text: str, column: str) -> tuple[str, float, float]:
    m = _BUCKET.match(text)
    if not m:
        raise KernelLaughError(f"--group-by {column}: bucket {text!r} is not 'a-b' or 'a+' (e.g. age:0-2,3-12,60+)")
    low = float(m.group(1))
    high = float("inf") if m.group(3) else float(m.group(2))
    if high < low:
        raise KernelLaughError(f"--group-by {column}: bucket {text!r} ends before it starts")
    return text.strip(), low, high


def subgroup_values(ds: datasets.Dataset, spec: GroupSpec) -> np.ndarray:
    """(N,) strings: the column's values, or their bucket labels ('other' outside every bucket, 'missing' when empty)."""
    if spec.column not in ds.column_names:
        usable = [c for c in ds.column_names if c not in ("image", "label")]
        raise KernelLaughError(f"unknown --group-by column {spec.column!r}; the split has {usable or 'no metadata columns'}")
    raw = ds[spec.column]
    if spec.buckets is None:
        return np.array(["missing" if v is None or v == "" else str(v) for v in raw])
    out = []
    for v in raw:
        if v is None or v == "":
            out.append("missing")
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise KernelLaughError(f"--group-by {spec.column}: value {v!r} is not a number, so it cannot be bucketed") from None
        out.append(next((label for label, low, high in spec.buckets if low <= x <= high), "other"))
    return np.array(out)


# ---- data and predictions ------------------------------------------------------------------------------

def training_data_defaults(model_dir: str | Path) -> dict[str, Any]:
    """The DataConfig the folder was trained with (from training_args.json), so evaluating with no --dataset
    measures the same held-out split; empty when the folder has none."""
    path = Path(model_dir) / "training_args.json"
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text()).get("DataConfig", {})
    return {k: v for k, v in saved.items() if k in DataConfig.__dataclass_fields__}


def _align_labels(ds: datasets.Dataset, model_labels: list[str], where: str) -> datasets.Dataset:
    """Re-index the dataset's labels to the model's order (same names, any order), or fail clearly."""
    names = ds.features["label"].names
    if names == model_labels:
        return ds
    if set(names) - set(model_labels):
        raise KernelLaughError(f"{where}: dataset labels {names} do not match the model's {model_labels}")
    index = [model_labels.index(n) for n in names]
    ds = ds.map(lambda r: {"label": index[r["label"]]})
    return ds.cast_column("label", datasets.ClassLabel(names=model_labels))


def select_split(splits: datasets.DatasetDict, split: str) -> datasets.Dataset:
    if split == "all":
        return datasets.concatenate_datasets([splits[s] for s in splits])
    if split not in splits:
        raise KernelLaughError(f"no split {split!r}; the data has {sorted(splits)} (or use --split all)")
    return splits[split]


def predict_probs(model: torch.nn.Module, ds: datasets.Dataset, pretrained_cfg: dict[str, Any], batch_size: int = 32,
                    device: str | None = None, desc: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, K) and labels (N,) over ``ds``, in its order, with the eval preprocessing."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    loader = make_loader(ds, eval_transform(pretrained_cfg), batch_size, shuffle=False)
    return predict_batches(model.eval().to(device), loader, device=device, desc=desc)


# ---- threshold and calibration (fitted on validation) --------------------------------------------------

def choose_threshold(val_probs: np.ndarray, val_refs: np.ndarray, cfg: EvalConfig, positive_label: int) -> dict[str, Any]:
    """The threshold meeting the target on validation, with what it achieves there."""
    t = threshold_for_target(val_probs, val_refs, positive_label, cfg.target_recall, cfg.target_precision)
    achieved = headline_metrics(val_probs, val_refs, positive_label, t)
    target = {"target_recall": cfg.target_recall} if cfg.target_recall is not None else {"target_precision": cfg.target_precision}
    return {"threshold": t, **target, "fitted_on": "validation", "validation_samples": int(len(val_refs)),
            "validation_recall": achieved["recall"], "validation_precision": achieved["precision"]}


def temperature_scaling(val_probs: np.ndarray, val_refs: np.ndarray, probs: np.ndarray, refs: np.ndarray,
                        n_bins: int = 10) -> dict[str, Any]:
    """Fit T on validation; calibration of the evaluated split before and after dividing logits by T."""
    t = fit_temperature(val_probs, val_refs)
    scaled = apply_temperature(probs, t)
    after = calibration(scaled, refs, n_bins)
    return {"temperature": t, "fitted_on": "validation", "ece_before": calibration(probs, refs, n_bins)["ece"],
            "ece_after": after["ece"], "nll_before": negative_log_likelihood(probs, refs),
            "nll_after": negative_log_likelihood(scaled, refs), "calibration_after": {"n_bins": n_bins, "bins": after["bins"]}}


def store_decision_threshold(model_dir: str | Path, threshold: float, positive_label: str, details: dict[str, Any]) -> None:
    """Write ``decision_threshold`` and ``positive_label`` into config.json (transformers and timm ignore unknown
    keys; ``inference.Predictor`` reads them). The file is replaced (a new file renamed over it), never edited in
    place, so nothing else that ever shared its contents changes with it."""
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    config |= {"decision_threshold": threshold, "positive_label": positive_label,
               "decision_threshold_selection": {k: v for k, v in details.items() if k != "threshold"}}
    write_text_atomic(path, json.dumps(config, indent=2) + "\n")


# ---- the whole evaluation ------------------------------------------------------------------------------

def _check_options(cfg: EvalConfig, num_classes: int) -> None:
    if cfg.target_recall is not None and cfg.target_precision is not None:
        raise KernelLaughError("give only one of --target-recall and --target-precision")
    for name in ("target_recall", "target_precision"):
        value = getattr(cfg, name)
        if value is not None and not 0 < value <= 1:
            raise KernelLaughError(f"--{name.replace('_', '-')} must be in (0, 1], got {value}")
        if value is not None and num_classes != 2:
            raise KernelLaughError(f"--{name.replace('_', '-')} needs a binary model; this one has {num_classes} classes")
    if cfg.n_boot < 0 or cfg.explain < 0 or cfg.n_bins < 1:
        raise KernelLaughError("--n-boot and --explain must be >= 0 and --n-bins >= 1")


def evaluate_model(model_dir: str | Path, data_cfg: DataConfig, cfg: EvalConfig) -> dict[str, Any]:
    """Measure the folder's model on ``cfg.split`` of ``data_cfg``'s data, write the results and the report,
    and return the results (as in eval_results.json)."""
    model_config = read_config(model_dir)  # fails first, with a clear message, when there is no model
    names = list(model_config["label_names"])
    positive = _positive_index(names, data_cfg.positive_label, model_config.get("positive_label"))
    _check_options(cfg, len(names))
    data, ds, subgroup_columns = _evaluation_data(data_cfg, cfg, names)  # bad data or columns fail before the model runs
    model = load_model(model_dir)
    probs, refs = predict_probs(model, ds, model.pretrained_cfg, cfg.batch_size, cfg.device, desc=cfg.split)

    results: dict[str, Any] = dict(results_header(
        cfg.split, data_cfg.dataset, data.description, names, positive if len(names) == 2 else None,
        {k: len(v) for k, v in data.splits.items()}, data.skipped, model=str(model_dir)))
    results |= _stored_threshold(model_config) if len(names) == 2 else {}
    results |= _fit_on_validation(model, data.splits, names, positive, probs, refs, data_cfg, cfg)
    threshold = results.get("threshold_selection", {}).get("threshold")
    groups = interval_groups(ds, data_cfg.group_column)
    if data_cfg.group_column and groups is None:
        results["interval_grouping"] = (f"could not be grouped: {data_cfg.dataset} has no {data_cfg.group_column!r} "
                                        "column, so each image counts as its own group (intervals may be too narrow "
                                        "if images of one clip or session are alike)")
    results |= compute_metrics(probs, refs, names, groups=groups, positive_label=positive, n_boot=cfg.n_boot,
                               threshold=threshold, n_bins=cfg.n_bins)
    results["subgroups"] = {col: subgroup_metrics(probs, refs, values, positive, threshold, groups, cfg.n_boot)
                            for col, values in subgroup_columns.items()}

    out = Path(cfg.output_dir or model_dir)
    # The report folder is rewritten whole: plots of an earlier evaluation (top losses, subgroups) never linger
    # beside a report that no longer describes them.
    shutil.rmtree(out / REPORT_DIR, ignore_errors=True)
    if cfg.explain:
        results["explanations"] = write_explanations(model, ds, probs, refs, names, positive, threshold, cfg.explain,
                                                     out / REPORT_DIR)
    if _fits_threshold(cfg) and cfg.save_threshold:
        store_decision_threshold(model_dir, threshold, names[positive], results["threshold_selection"])
    write_results(results, out)
    return results


def _positive_index(names: list[str], requested: str | None, saved: str | None) -> int:
    """The positive class: --positive-label (the training run's, by default), else config.json's, else the rule of
    ``config.positive_label_index``. 1 for multi-class models, where it is not used."""
    if len(names) != 2:
        return 1
    return positive_label_index(names, requested or (saved if saved in names else None))[0]  # type: ignore[return-value]


def _fits_threshold(cfg: EvalConfig) -> bool:
    return cfg.target_recall is not None or cfg.target_precision is not None


def _evaluation_data(data_cfg: DataConfig, cfg: EvalConfig, names: list[str]) -> tuple[Any, datasets.Dataset, dict[str, np.ndarray]]:
    """The prepared data, the split to measure (labels in the model's order) and its subgroup columns."""
    group_specs = parse_group_by(cfg.group_by)
    # Measuring every row (--split all) makes no split, so a group column the data lacks (e.g. from the training
    # run's training_args.json) must not stop it; the intervals then resample single images, and the report says so.
    data = prepare_data(data_cfg, require_group_column=cfg.split != "all")
    ds = _align_labels(select_split(data.splits, cfg.split), names, data_cfg.dataset)
    return data, ds, {spec.column: subgroup_values(ds, spec) for spec in group_specs}


def _stored_threshold(model_config: dict[str, Any]) -> dict[str, Any]:
    """The folder's own decision threshold, so the report measures what predict and the Space decide."""
    if model_config.get("decision_threshold") is None:
        return {}
    return {"threshold_selection": {**model_config.get("decision_threshold_selection", {}),
                                    "threshold": model_config["decision_threshold"], "source": "model folder config.json"}}


def _fit_on_validation(model: torch.nn.Module, splits: datasets.DatasetDict, names: list[str], positive: int,
                       probs: np.ndarray, refs: np.ndarray, data_cfg: DataConfig, cfg: EvalConfig) -> dict[str, Any]:
    """A threshold for the target and / or a temperature, both fitted on the validation split."""
    if not (_fits_threshold(cfg) or cfg.calibrate):
        return {}
    val = _align_labels(select_split(splits, "validation"), names, data_cfg.dataset)
    val_probs, val_refs = predict_probs(model, val, model.pretrained_cfg, cfg.batch_size, cfg.device, desc="validation")
    out: dict[str, Any] = {}
    if _fits_threshold(cfg):
        out["threshold_selection"] = choose_threshold(val_probs, val_refs, cfg, positive)
    if cfg.calibrate:
        out["temperature_scaling"] = temperature_scaling(val_probs, val_refs, probs, refs, cfg.n_bins)
    return out


# ---- writing -------------------------------------------------------------------------------------------

def write_results(results: dict[str, Any], out_dir: str | Path) -> Path:
    """``out_dir/eval_results.json`` (training-run keys already there are kept) and ``out_dir/eval/``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_NAME
    if path.is_file():
        previous = json.loads(path.read_text())
        results = {k: previous[k] for k in TRAINING_KEYS if k in previous and k not in results} | results
    save_results(results, path)
    write_report(results, out / REPORT_DIR)
    return path


def write_explanations(model: torch.nn.Module, ds: datasets.Dataset, probs: np.ndarray, refs: np.ndarray,
                       names: list[str], positive: int, threshold: float | None, n: int, out_dir: Path) -> dict[str, Any]:
    """Grad-CAM figures for the report: the ``n`` most confidently wrong images, and for binary models the
    mean heat map over correctly classified positive images. Returns what was written."""
    stored = undecoded(ds)  # rows decoded by the package's image reader, as the model saw them in predict_probs

    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    decided = decide(probs, positive, threshold)
    confidence = probs[np.arange(len(decided)), decided]
    wrong = np.flatnonzero(decided != refs)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]
    info: dict[str, Any] = {"top_losses": None, "mean_gradcam": None, "num_wrong": int(len(wrong))}
    if len(worst):
        cams = [gradcam_overlay(model, decode_image(stored[int(i)]["image"]), model.pretrained_cfg, int(decided[i])) for i in worst]
        overlays = [picture for picture, _ in cams]
        # An empty map is an answer too: no region raises the predicted class (a threshold below 0.5 decided it).
        titles = [f"#{i}: true {names[refs[i]]}\npredicted {names[decided[i]]} (p={confidence[i]:.2f})"
                  + ("\nno region raises this class" if heat.max() == 0 else "") for i, (_, heat) in zip(worst, cams)]
        save_figure(image_grid_figure(overlays, titles, suptitle=f"{len(worst)} most confidently wrong (Grad-CAM of the "
                                      "predicted class)"), out_dir / "top_losses.png")
        info["top_losses"] = {"file": "top_losses.png", "indices": [int(i) for i in worst]}
    right_positive = np.flatnonzero((decided == refs) & (refs == positive)) if len(names) == 2 else np.array([], int)
    if len(right_positive):
        image = mean_gradcam(model, [decode_image(stored[int(i)]["image"]) for i in right_positive], model.pretrained_cfg, positive)
        title = f"mean Grad-CAM of '{names[positive]}' over {len(right_positive)} correctly classified images"
        save_figure(image_grid_figure([image], [title], ncols=1), out_dir / "gradcam_mean.png")
        info["mean_gradcam"] = {"file": "gradcam_mean.png", "count": int(len(right_positive)), "label": names[positive]}
    return info
