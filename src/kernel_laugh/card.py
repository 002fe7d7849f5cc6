"""Render model and dataset cards from plain dicts. Pure: no I/O beyond reading the template.

``render_card`` turns a run's ``eval_results.json``, ``training_args.json`` and ``config.json`` (as dicts) into
the ``README.md`` of a model folder: YAML metadata the Hub understands (built with ``huggingface_hub``'s own
``ModelCardData`` / ``EvalResult``, so the ``model-index`` is exactly what the Hub parses back) and a body
rendered from the top-level ``model_card.md`` Jinja template. Writing the file is the caller's job (training),
uploading it is ``hub.py``'s: render, save and publish are three steps, as in timm's ``_hub.py``.

Sections whose data is absent (subgroups, decision threshold, training history, intervals...) are left out,
so the card never shows an empty heading or a placeholder.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

import jinja2
from huggingface_hub import DatasetCardData, EvalResult, ModelCardData
from timm.models import get_pretrained_cfg

from kernel_laugh import REPO_URL, __version__
from kernel_laugh.audio.card import audio_card_values
from kernel_laugh.config import CardConfig, DataConfig, ModelConfig, TrainConfig
from kernel_laugh.results import EvalResults, format_interval, format_number, markdown_table
SYNTHETIC_WARNING = (
    "**SYNTHETIC data.** This model was trained and evaluated on the SYNTHETIC sample that kernel-laugh "
    "generates (cartoon brain renders with a planted pattern). Its numbers show that the pipeline works; they "
    "say nothing about laughter, emotion or real Kernel Flow data."
)
DATASET_SYNTHETIC_WARNING = (
    "**SYNTHETIC data.** These images are the SYNTHETIC sample that kernel-laugh generates (cartoon brain renders "
    "with a planted pattern), made so every stage runs offline. They are not real brain data."
)
_EMOTIONS = {"angry", "anger", "disgust", "disgusted", "fear", "fearful", "happy", "happiness", "sad", "sadness",
             "surprise", "surprised", "neutral", "contempt", "smile", "smiling", "non-smile"}


def template_text() -> str:
    """The top-level ``model_card.md`` (shipped inside the package as a link to it)."""
    return resources.files("kernel_laugh").joinpath("model_card.md").read_text()


def dataset_template_text() -> str:
    """The top-level ``dataset_card.md``, the dataset card's Jinja template (shipped like ``model_card.md``)."""
    return resources.files("kernel_laugh").joinpath("dataset_card.md").read_text()


# ---- formatting helpers -------------------------------------------------------------------------------

def _cell(x: Any) -> str:
    # Pipes would end a markdown table cell; None reads better as a dash in a settings table.
    return ("–" if x is None else format_number(x, 4)).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    return markdown_table(header, rows, _cell)


def _with_ci(row: dict[str, Any], key: str) -> str:
    """``0.9123 [0.871, 0.950]`` when the row has ``key_ci_low`` / ``key_ci_high``, else the value alone."""
    value = format_number(row.get(key), 4)
    return value + format_interval(row, key, " [{low:.3f}, {high:.3f}]", "") if row.get(key) is not None else value


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _first_sentence(text: str) -> str:
    # A full stop followed by a capital ends the sentence; "e.g. session" and "(1.0 keeps ...)" do not.
    return re.split(r"(?<=\.)\s+(?=[A-Z])", text.strip(), maxsplit=1)[0] if text else ""


# ---- metrics and the model-index ----------------------------------------------------------------------

@dataclass(frozen=True)
class MetricRow:
    """One headline metric: its key in eval_results.json, how the card names it, its Hub metric id and args."""

    key: str
    name: str
    type: str
    args: dict[str, Any] | None = None
    note: str = ""


def metric_rows(results: EvalResults) -> list[MetricRow]:
    """The headline metrics present (and defined) in ``results``, in reading order."""
    binary = len(results["label_names"]) == 2
    pos = results.get("positive_label") or results["label_names"][-1]
    avg: dict[str, Any] = {"average": "binary", "pos_label": pos} if binary else {"average": "macro"}
    which = f"({pos})" if binary else "(macro)"
    rows = [MetricRow("accuracy", "Accuracy", "accuracy")]
    rows += [MetricRow(k, f"{k.capitalize() if k != 'f1' else 'F1'} {which}", k, dict(avg)) for k in ("precision", "recall", "f1")]
    if not binary:
        rows.append(MetricRow("f1_weighted", "F1 (weighted)", "f1", {"average": "weighted"}))
    rows.append(MetricRow("roc_auc", "ROC AUC" if binary else "ROC AUC (one-vs-rest, macro)", "roc_auc",
                          None if binary else {"multi_class": "ovr", "average": "macro"}))
    rows.append(MetricRow("pr_auc", f"PR AUC {which}" if binary else "PR AUC (macro)", "pr_auc"))
    rows.append(MetricRow("ece", "Expected calibration error (lower is better)", "ece"))
    return [r for r in rows if isinstance(results.get(r.key), (int, float)) and not isinstance(results.get(r.key), bool)]


def _dataset_ref(results: EvalResults, card: CardConfig) -> tuple[str, str]:
    """(model-index dataset type, dataset name). The type is a Hub dataset id when there is one."""
    if card.dataset_id:
        return card.dataset_id, card.dataset_id
    if results.get("synthetic"):
        return "synthetic-brain-renders", "kernel-laugh synthetic sample (SYNTHETIC)"
    source = str(results.get("dataset") or "local images")
    return "imagefolder", PurePosixPath(source.replace("\\", "/").rstrip("/")).name or source


def eval_results(results: EvalResults, card: CardConfig) -> list[Any]:
    """``huggingface_hub.EvalResult`` objects for the model-index: one per headline metric, values rounded to
    4 decimals exactly as the card's tables show them (as transformers' Trainer cards do)."""
    dataset_type, dataset_name = _dataset_ref(results, card)
    return [EvalResult(task_type="image-classification", task_name="Image Classification", dataset_type=dataset_type,
                       dataset_name=dataset_name, dataset_split=results.get("split"), metric_type=row.type,
                       metric_value=round(float(results[row.key]), 4), metric_name=row.name, metric_args=row.args)
            for row in metric_rows(results)]


def base_model_id(architecture: str) -> str:
    """The Hub id of timm's default pretrained weights for ``architecture`` (``resnet18`` →
    ``timm/resnet18.a1_in1k``); ``timm/<architecture>`` when timm does not know it."""
    cfg = get_pretrained_cfg(architecture)  # None for a name timm does not know (no exception)
    return cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id else f"timm/{architecture}"


def _task(label_names: list[str]) -> str:
    low = [n.lower() for n in label_names]
    if any("laugh" in n for n in low):
        return "laughter"
    return "emotion" if set(low) <= _EMOTIONS else "generic"


def card_metadata(results: EvalResults, training_args: dict[str, Any], card: CardConfig) -> Any:
    """The card's YAML metadata as a ``huggingface_hub.ModelCardData``."""
    model = training_args.get("ModelConfig", {})
    task = _task(results["label_names"])
    tags = ["image-classification", "timm", "transformers", "kernel-laugh"]
    tags += {"laughter": ["laughter-detection", "fnirs", "kernel-flow", "brain-activity"],
             "emotion": ["facial-expression-recognition", "emotion-recognition"], "generic": []}[task]
    tags += ["synthetic-data"] if results.get("synthetic") else []
    rows = metric_rows(results)
    return ModelCardData(
        license=card.license, library_name="timm", pipeline_tag="image-classification", tags=tags,
        datasets=[card.dataset_id] if card.dataset_id else None,
        metrics=list(dict.fromkeys(r.type for r in rows)) or None,
        base_model=base_model_id(model["architecture"]) if model.get("pretrained") and model.get("architecture") else None,
        model_name=card.model_id or f"kernel-laugh-{model.get('architecture', 'model')}",
        eval_results=eval_results(results, card) or None,
    )


# ---- the body's pieces --------------------------------------------------------------------------------

# What each kind of model is called and which example file its snippets open; the prose about each kind (what it
# does, its uses, its risks) is in the template, model_card.md.
_TASK_TITLES = {"laughter": "laughter vs non-laughter from Kernel Flow brain renders", "emotion": "facial expression",
                "generic": "image classifier"}
_EXAMPLE_IMAGES = {"laughter": "frame.png", "emotion": "face.png", "generic": "image.png"}
# Settings that do not change the model (paths, logging, checkpoint bookkeeping) stay out of the card's table.
_SETTINGS_SKIPPED = {"output_dir", "resume_from_checkpoint", "num_workers", "dataset", "image_column", "label_column",
                     "max_corrupt_fraction", "sample_image_size", "report_to", "checkpoint_steps", "keep_checkpoints"}
_SUBGROUP_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
_PLOT_TITLES = {"confusion_matrix": "Confusion matrix", "roc_curve": "ROC curve", "roc": "ROC curve",
                "pr": "Precision-recall curve", "pr_curve": "Precision-recall curve",
                "calibration": "Reliability diagram (calibration)", "lr_find": "Learning-rate finder",
                "top_losses": "Most confidently wrong test images", "subgroups": "Accuracy by subgroup"}


def _help_texts() -> dict[str, str]:
    return {f.name: _first_sentence(f.metadata.get("help", "")) for cls in (DataConfig, ModelConfig, TrainConfig)
            for f in dataclasses.fields(cls)}


def _hyperparameter_table(training_args: dict[str, Any], synthetic: bool) -> str:
    helps = _help_texts()
    rows = []
    for section in ("ModelConfig", "TrainConfig", "DataConfig"):
        for key, value in training_args.get(section, {}).items():
            if key in _SETTINGS_SKIPPED or (key == "sample_size" and not synthetic):
                continue
            shown = "default" if value is None else f"{value:g}" if isinstance(value, float) else value
            rows.append([f"`{key}`", shown, helps.get(key, "")])
    return _table(["setting", "value", "meaning"], rows)


def _history_table(results: EvalResults) -> str:
    history = results.get("history") or []
    if not history:
        return ""
    keys = list(dict.fromkeys(k for row in history for k in row))
    names = {"epoch": "epoch", "train_loss": "train loss", "train_images_per_second": "train images/s",
             "val_loss": "validation loss"}
    rows = [[(f"**{row.get(k)}**" if k == "epoch" and row.get("epoch") == results.get("best_epoch") else row.get(k)) for k in keys]
            for row in history]
    return _table([names.get(k, f"validation {k}") for k in keys], rows)


def _per_class_table(results: EvalResults) -> str:
    rows = [[r["label"], r["precision"], r["recall"], r["f1"], r["support"]] for r in results["per_class"]]
    for avg in ("macro", "weighted"):
        if f"f1_{avg}" in results:
            rows.append([f"*{avg} average*", results.get(f"precision_{avg}"), results.get(f"recall_{avg}"),
                         results[f"f1_{avg}"], results.get("num_samples")])
    return _table(["class", "precision", "recall", "F1", "support"], rows)


def _confusion_table(results: EvalResults) -> str:
    names = results["label_names"]
    rows = [[f"**{name}**", *counts] for name, counts in zip(names, results["confusion_matrix"])]
    return _table(["true ↓ / predicted →", *names], rows)


def _subgroups(results: EvalResults) -> list[dict[str, str]]:
    out = []
    for column, groups in (results.get("subgroups") or {}).items():
        if not groups:
            continue
        numeric = [k for k in dict.fromkeys(k for g in groups for k in g) if k not in ("group", "support")
                   and not k.endswith(("_ci_low", "_ci_high")) and any(isinstance(g.get(k), (int, float)) for g in groups)]
        # The headline metrics in reading order; ECE and anything else only when nothing better is there.
        keys = [k for k in _SUBGROUP_METRICS if k in numeric] or numeric
        table = _table([column, "support", *keys], [[g.get("group"), g.get("support"), *[_with_ci(g, k) for k in keys]]
                                                     for g in groups])
        note = ""
        accs = [(g["accuracy"], g.get("group")) for g in groups if isinstance(g.get("accuracy"), (int, float))]
        if len(accs) > 1:
            (lo, lo_g), (hi, hi_g) = min(accs, key=lambda a: a[0]), max(accs, key=lambda a: a[0])
            note = (f"Accuracy ranges from {lo:.3f} ({column} {lo_g}) to {hi:.3f} ({column} {hi_g}); with few images per "
                    "group, read the intervals before reading a gap as a difference.")
        out.append({"column": column, "table": table, "note": note})
    return out


def _images(results: EvalResults, files: Iterable[str] | None) -> tuple[list[dict[str, str]], str]:
    """Plots to show (title, path) and the evaluation report's path, from the files the folder holds."""
    if files is None:  # what training writes
        files = (["confusion_matrix.png"] if results.get("confusion_matrix") else []) + (
            ["roc_curve.png"] if results.get("roc_curve") else [])
    files = sorted(set(files), key=lambda p: (p.count("/"), p))  # top-level plots first
    seen, images = set(), []
    for path in files:
        p = PurePosixPath(path)
        if p.suffix.lower() != ".png" or len(p.parts) > 2 or (len(p.parts) == 2 and p.parts[0] != "eval"):
            continue
        title = _PLOT_TITLES.get(p.stem, p.stem.replace("_", " ").capitalize())
        if title not in seen:  # eval/roc.png repeats roc_curve.png
            seen.add(title)
            images.append({"title": title, "path": path})
    report = next((f for f in files if f in ("eval/report.md", "report.md")), "")
    return images, report


def _split_protocol(results: EvalResults, data: dict[str, Any]) -> tuple[str, str]:
    method = results.get("split_method") or "not recorded"
    group = data.get("group_column")
    if not results.get("split_method"):
        why = ("Without a record of how the split was made, assume near-duplicate video frames may sit on both sides "
               "of it, and read the test numbers as optimistic.")
    elif "provided by the dataset" in method:
        why = ("The dataset's own splits were used. Whether they keep video clips or sessions apart depends on how the "
               "dataset was made; if they do not, near-duplicate neighbouring frames sit on both sides and the test "
               "numbers are optimistic.")
    elif group:
        why = (f"Every `{group}` lies wholly in one split. Neighbouring video frames are near-duplicates: a random "
               "frame-level split would put copies of the same moment in training and test and inflate the test "
               "numbers (a mistake of the original project).")
    else:
        why = ("**Frames were split at random (stratified by label), not by clip or session.** If the images are "
               "frames of videos, near-duplicate neighbours sit on both sides of the split and the test numbers "
               "are optimistic; retrain with `--group-column` to keep clips apart.")
    return f"**Split:** {method.rstrip('.')}.", why


def _preprocessing(pc: dict[str, Any]) -> str:
    size = "x".join(str(v) for v in (pc.get("input_size") or [])[1:]) or "the architecture's default size"
    mode = pc.get("crop_mode", "center")
    how = ("squashed to a square (nothing is cut off)" if mode == "squash" else
           f"resized and centre-cropped (crop_pct {pc.get('crop_pct')})")
    mean = ", ".join(format_number(float(v), 3) for v in pc.get("mean", []))
    std = ", ".join(format_number(float(v), 3) for v in pc.get("std", []))
    return (f"Images are converted to RGB, {how} to {size} with {pc.get('interpolation', 'bilinear')} interpolation, "
            f"scaled to [0, 1] and normalised with mean ({mean}) and std ({std}). These settings are stored in "
            "`config.json` (`pretrained_cfg`), and training, evaluation, `pipeline`, `timm` and the Space all read them "
            "from there, so preprocessing cannot drift between training and serving.")


def _citation(architecture: str) -> str:
    entries = [
        "@misc{kernel_laugh,\n  title = {kernel-laugh: laughter and emotion image classifiers, from training to the Hub},\n"
        f"  howpublished = {{\\url{{{REPO_URL}}}}},\n  note = {{version {__version__}}}\n}}",
        "@misc{rw2019timm,\n  author = {Ross Wightman},\n  title = {PyTorch Image Models},\n  year = {2019},\n"
        "  publisher = {GitHub},\n  doi = {10.5281/zenodo.4414861},\n"
        "  howpublished = {\\url{https://github.com/huggingface/pytorch-image-models}}\n}",
    ]
    if architecture.startswith("resnet"):
        entries.append("@inproceedings{he2016deep,\n  title = {Deep Residual Learning for Image Recognition},\n"
                       "  author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},\n"
                       "  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},\n"
                       "  pages = {770--778},\n  year = {2016}\n}")
    return "\n\n".join(entries)


def _compute(results: EvalResults, training_args: dict[str, Any]) -> list[str]:
    train = training_args.get("TrainConfig", {})
    items = [f"**{k.replace('_', ' ')}:** {v}" for k, v in (training_args.get("environment") or {}).items()]
    n_train = (results.get("split_sizes") or {}).get("train")
    if train.get("epochs") is not None:
        seen = f" × {n_train} training images" if n_train else ""
        items.append(f"**training:** {_plural(train['epochs'], 'epoch')}{seen}, mixed precision `{train.get('mixed_precision', 'no')}`")
    return items or ["not recorded"]


def _details(results: EvalResults, model: dict[str, Any], model_config: dict[str, Any], card: CardConfig,
             task_title: str, base_model: str | None) -> list[str]:
    names = results["label_names"]
    arch = model.get("architecture") or model_config.get("architecture", "?")
    items = [f"**Model type:** image classification ({task_title}), {len(names)} classes: "
             + ", ".join(f"`{i}` {n}" for i, n in enumerate(names)),
             f"**Architecture:** timm `{arch}`" + (" (ResNet, He et al. 2016)" if arch.startswith("resnet") else "")]
    if base_model:
        tag = base_model.rsplit(".", 1)[-1] if "." in base_model else ""
        data = {"in1k": "ImageNet-1k", "in22k": "ImageNet-22k", "in21k": "ImageNet-21k"}.get(tag.rsplit("_", 1)[-1], "")
        items.append(f"**Fine-tuned from:** [{base_model}](https://huggingface.co/{base_model})" + (f", pretrained on {data}" if data else ""))
    else:
        items.append("**Fine-tuned from:** no pretrained weights (trained from random initialisation)")
    items += [f"**Output:** one probability per class (softmax over {len(names)} logits)",
              f"**License:** {card.license}", f"**Made with:** [kernel-laugh]({REPO_URL}) {__version__}"]
    return items


def _risks(results: EvalResults, task: str) -> list[str]:
    n_test = results.get("num_samples")
    size = (f"The test split holds {n_test} images" + (", many of them correlated video frames" if task == "laughter" else "")
            + (": read the 95% intervals, not only the point values." if results.get("ci_method") else
               ", and no intervals were computed: treat small differences as noise."))
    synthetic = ["Trained on SYNTHETIC data: a demonstration of the pipeline, not a model of anything real."]
    return [size, *(synthetic if results.get("synthetic") else [])]  # after the template's risks of the model's kind


def _training_data(results: EvalResults, card: CardConfig) -> str:
    if results.get("synthetic"):
        return ("The SYNTHETIC sample generated by `kernel_laugh.sample`: cartoon cortex renders whose activation blobs "
                "sit, with noise, over frontal and temporal regions for \"laughter\". Not real data.")
    if card.dataset_id:
        return f"[{card.dataset_id}](https://huggingface.co/datasets/{card.dataset_id})."
    if results.get("dataset"):
        return f"A local image collection (`{_dataset_ref(results, card)[1]}`), not published with the model."
    return "Not recorded with this model."


def _testing_data(results: EvalResults) -> str:
    best = (f" (the weights kept are those of epoch {results['best_epoch']}, best by validation "
            f"`{results.get('best_metric')}`)" if results.get("best_epoch") else "")
    return (f"The held-out **{results.get('split', 'test')}** split: {results.get('num_samples')} images, never used "
            f"for training or for choosing the epoch{best}.")


def _metric_notes(rows: list[MetricRow], binary: bool, positive: str, threshold: float | None) -> list[str]:
    notes = [
        ("Accuracy: share of images whose top class is the true class." if threshold is None else
         f"Accuracy, precision, recall, F1 and the confusion matrix count an image as `{positive}` when its "
         f"probability reaches the decision threshold ({threshold}); the other metrics use the probabilities."),
        (f"Precision, recall and F1 of the positive class, `{positive}`." if binary else
         "Precision, recall and F1: macro averages over the classes (each class counts the same), weighted by "
         "support where marked."),
        "ROC AUC from the predicted probabilities (never from hard 0/1 labels, which give a different, meaningless "
        "number)" + ("." if binary else ", one class against the rest, macro-averaged."),
    ]
    if any(r.key == "pr_auc" for r in rows):
        notes.append("PR AUC: area under the precision-recall curve, from the probabilities.")
    if any(r.key == "ece" for r in rows):
        notes.append("ECE: expected calibration error, the gap between confidence and accuracy (lower is better).")
    return notes


def _threshold_text(threshold: float | None, positive: str) -> str:
    if threshold is None:
        return ""
    return (f"`config.json` stores `decision_threshold: {threshold}` for `{positive}`: call an image `{positive}` when "
            f"its `{positive}` probability is at least {threshold}. The probabilities themselves are untouched: "
            "`pipeline` and `timm` return them as they are, and the threshold is applied on top, as in the snippet "
            "under [How to Get Started](#how-to-get-started-with-the-model).")


# ---- the card -----------------------------------------------------------------------------------------

def render_card(results: EvalResults, training_args: dict[str, Any], model_config: dict[str, Any],
                card: CardConfig | None = None, *, files: Iterable[str] | None = None) -> str:
    """Markdown of the model card for a run.

    ``results`` as in eval_results.json, ``training_args`` as in training_args.json, ``model_config`` as in
    config.json (its ``decision_threshold`` / ``positive_label`` add the threshold section). ``files``: the paths
    the folder holds (for the plots and report to link); by default, the plots training writes.
    """
    card = card or CardConfig()
    # Label names live in both files; results from older runs or other tools may lack them.
    results = {"label_names": model_config.get("label_names"), **results}
    model = training_args.get("ModelConfig", {})
    train = training_args.get("TrainConfig", {})
    data = training_args.get("DataConfig", {})
    pc = model_config.get("pretrained_cfg", {})
    names = list(results["label_names"])
    synthetic = bool(results.get("synthetic"))
    task = _task(names)
    arch = model.get("architecture") or model_config.get("architecture", "model")
    metadata = card_metadata(results, training_args, card)
    task_title = _TASK_TITLES[task] + (f", {len(names)} classes" if task == "emotion" else "")
    # Without a Hub id the snippets load the folder the card sits in, as ".": never the training machine's path,
    # which would point nowhere once the folder is copied elsewhere.
    local_ref = "."
    model_ref = card.model_id or local_ref
    # config.json is where the threshold lives for users; results carry it when they were measured at one.
    threshold = model_config.get("decision_threshold", results.get("decision_threshold"))
    positive = model_config.get("positive_label") or results.get("positive_label") or names[-1]
    rows = metric_rows(results)
    sizes = results.get("split_sizes") or {}
    images, report = _images(results, files)
    subgroups = _subgroups(results)
    split_protocol, split_why = _split_protocol(results, data)
    binary = len(names) == 2

    values = {
        "card_data": metadata.to_yaml(),
        "title": card.model_id or f"kernel-laugh {arch}: {task_title}",
        "synthetic": synthetic, "synthetic_warning": SYNTHETIC_WARNING,
        "task": task, "classes_sentence": "" if task == "laughter" else f" Classes: {', '.join(names)}.",
        "description": (f"A timm `{arch}` image classifier trained with [kernel-laugh]({REPO_URL}) and saved in timm's "
                        "Hub format (`config.json` + `model.safetensors`, no pickle), so it loads with `transformers` "
                        "(`pipeline`, `AutoModelForImageClassification`) and with `timm`, without custom code."),
        "details": _details(results, model, model_config, card, task_title, metadata.base_model),
        "repo_url": REPO_URL,
        "model_url": f"https://huggingface.co/{card.model_id}" if card.model_id else "",
        "dataset_url": f"https://huggingface.co/datasets/{card.dataset_id}" if card.dataset_id else "",
        "risks": _risks(results, task),
        "model_ref": model_ref, "local_folder": not card.model_id,
        "timm_ref": f"hf-hub:{card.model_id}" if card.model_id else f"local-dir:{local_ref}",
        "example_image": _EXAMPLE_IMAGES[task], "num_classes": len(names),
        "threshold": threshold, "positive_label": positive,
        "negative_label": next((n for n in names if n != positive), "other") if binary else "other",
        "threshold_text": _threshold_text(threshold, positive),
        "training_data": _training_data(results, card),
        "split_sizes_table": _table(["split", "images"], [[k, v] for k, v in sizes.items()]) if sizes else "",
        "skipped_count": len(results.get("skipped_files") or []),
        "split_protocol": split_protocol, "split_why": split_why,
        "preprocessing": _preprocessing(pc),
        "procedure": (f"Cross-entropy on the training split for {_plural(train.get('epochs'), 'epoch')} with Hugging Face "
                      f"Accelerate; after each epoch the validation split is scored and the weights of the best epoch "
                      f"by `{results.get('best_metric') or train.get('best_metric')}` are kept. Every setting of "
                      "the run is in `training_args.json`:") if train.get("epochs") else "The recorded settings:",
        "hyperparameter_table": _hyperparameter_table(training_args, synthetic),
        "history_table": _history_table(results),
        "testing_data": _testing_data(results),
        "subgroup_columns": ", ".join(f"`{g['column']}`" for g in subgroups),
        "metric_notes": _metric_notes(rows, binary, positive, threshold),
        "results_table": _results_table(results, rows),
        "ci_note": (f"Intervals: {results['ci_method']}" + ("" if str(results["ci_method"]).endswith(".") else ".")
                    if results.get("ci_method") else ""),
        "per_class_table": _per_class_table(results) if results.get("per_class") else "",
        "confusion_table": _confusion_table(results) if results.get("confusion_matrix") else "",
        "images": images, "report_link": report,
        "subgroups": subgroups,
        "compute": _compute(results, training_args),
        "citation_bibtex": _citation(arch),
    }
    values["audio"] = None
    if results.get("modality") == "audio":  # the audio expert: its own prose, snippets and an audio section
        values |= audio_card_values(results, model, model_config, metadata, values)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=False)
    return _tidy(env.from_string(template_text()).render(**values))


def _results_table(results: EvalResults, rows: list[MetricRow]) -> str:
    """Headline metrics; the interval column only when some metric has one."""
    def ci(key: str) -> str:
        return format_interval(results, key, "{low:.3f} – {high:.3f}", "–")

    if any(ci(r.key) != "–" for r in rows):
        return _table(["metric", "value", "95% interval"], [[r.name, results[r.key], ci(r.key)] for r in rows])
    return _table(["metric", "value"], [[r.name, results[r.key]] for r in rows])


def _tidy(text: str) -> str:
    """Collapse runs of blank lines (left where optional sections dropped out) and trailing spaces."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# ---- dataset card -------------------------------------------------------------------------------------



def _size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next((name for limit, name in bounds if n < limit), "1M<n<10M")


def render_dataset_card(summary: dict[str, Any], repo_id: str, *, license: str = "apache-2.0",
                        description: str | None = None) -> str:
    """Markdown of a dataset card. ``summary`` is plain data (see ``hub.dataset_summary``): source, synthetic,
    label_names, features {column: type}, splits {name: {num_rows, label_counts, num_groups?}}, group_column,
    split_method, skipped."""
    names, splits, group = summary["label_names"], summary["splits"], summary.get("group_column")
    synthetic = bool(summary.get("synthetic"))
    task = _task(names)
    total = sum(s["num_rows"] for s in splits.values())
    tags = ["kernel-laugh", *{"laughter": ["laughter-detection", "fnirs", "kernel-flow"],
                              "emotion": ["facial-expression-recognition"], "generic": []}[task]]
    tags += ["synthetic-data"] if synthetic else []
    data = DatasetCardData(license=license, task_categories=["image-classification"], tags=tags,
                           pretty_name=repo_id.split("/")[-1], size_categories=[_size_category(total)])
    meaning = {"image": "the image", "label": f"class index into the {len(names)} labels below"}
    if group:
        meaning[group] = "group (clip / session / subject): every value lies wholly in one split"
    fields = _table(["column", "type", "meaning"], [[f"`{k}`", v, meaning.get(k, "metadata from the source")]
                                                    for k, v in summary["features"].items()])
    has_groups = any("num_groups" in s for s in splits.values())
    split_rows = [[k, s["num_rows"], *[s["label_counts"].get(n, 0) for n in names], *([s.get("num_groups")] if has_groups else [])]
                  for k, s in splits.items()]
    splits_table = _table(["split", "images", *names, *([f"{group} values"] if has_groups else [])], split_rows)
    if synthetic:
        creation = ("Generated by `kernel_laugh.sample`: cartoon renders of a cortex whose activation blobs sit, with "
                    "noise, over frontal and temporal regions for \"laughter\", in sessions of consecutive frames. "
                    "Made so every stage of kernel-laugh runs offline; it is not real brain data.")
    else:
        creation = (description.strip() if description else
                    f"Built by kernel-laugh from `{PurePosixPath(str(summary.get('source', '')).rstrip('/')).name or 'a local source'}` "
                    "(labels from the class folders or the label column).")
    method = str(summary.get("split_method") or "Splits as in the source").rstrip(".")
    method = method[:1].upper() + method[1:]
    if group:
        split_text = (f"{method}. Every `{group}` lies wholly in one split, so near-duplicate "
                      "neighbouring video frames never sit on both sides; keep it that way if you re-split.")
    else:
        split_text = (f"{method}. The split does not keep clips or sessions together: if the "
                      "images are video frames, re-split by clip before trusting test numbers.")
    considerations = [{"laughter": "Labels come from which clip a frame belongs to, not from a moment-by-moment annotation.",
                       "emotion": "Facial expressions are not reliable read-outs of feelings; do not use this data to "
                                  "build systems that judge people.",
                       "generic": "Check the labels on a sample before training."}[task],
                      "Class balance and the number of independent clips or people matter more than the image count: "
                      "report results with intervals."]
    if synthetic:  # the sample's labels are planted, so the labelling caveat does not apply
        considerations[0] = "SYNTHETIC: numbers measured on this data say nothing about real brain data or laughter."
    values = {
        "card_data": data.to_yaml(), "title": repo_id, "synthetic": synthetic,
        "synthetic_warning": DATASET_SYNTHETIC_WARNING,
        "summary": f"An image-classification dataset: {total} images labelled {', '.join(names)}, in "
                   f"{len(splits)} splits ({', '.join(splits)}), published with [kernel-laugh]({REPO_URL}).",
        "fields_table": fields, "labels_table": _table(["index", "label"], [[i, n] for i, n in enumerate(names)]),
        "splits_table": splits_table, "creation": creation, "skipped": summary.get("skipped") or 0,
        "split_text": split_text, "repo_id": repo_id, "repo_url": REPO_URL,
        "group_flag": f" --group-column {group}" if group else "", "considerations": considerations,
    }
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return _tidy(env.from_string(dataset_template_text()).render(**values))
