"""Build a timm classifier with the task's labels, and save / load it as a folder in timm's Hub format.

The folder (``config.json`` + ``model.safetensors``) loads with no custom code in three ways:
``transformers.pipeline("image-classification", model=DIR)``, ``AutoModelForImageClassification``
(through transformers' TimmWrapper) and ``timm.create_model("local-dir:DIR", pretrained=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from huggingface_hub import snapshot_download
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from kernel_laugh.config import ModelConfig, progress_bars
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.outputs import write_atomic, write_text_atomic
from kernel_laugh.readers.models import HUB_HTTP_ERROR, read_model_config, resolve_model_ref

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def build_model(cfg: ModelConfig, label_names: list[str]) -> torch.nn.Module:
    """A timm model with a fresh ``len(label_names)``-way head; its ``pretrained_cfg`` reflects ``cfg``."""
    if len(label_names) < 2:
        raise KernelLaughError(f"a classifier needs at least 2 labels, got {label_names}")
    if cfg.architecture not in timm.list_models() and not timm.is_model(cfg.architecture):
        raise KernelLaughError(f"unknown timm architecture {cfg.architecture!r} (see timm.list_models())")
    try:
        model = timm.create_model(
            cfg.architecture, pretrained=cfg.pretrained, num_classes=len(label_names), drop_rate=cfg.drop_rate
        )
    except (OSError, HUB_HTTP_ERROR) as err:  # offline / no cached weights / Hub refused; anything else is a bug
        if not cfg.pretrained:
            raise
        raise KernelLaughError(
            f"could not get pretrained weights for {cfg.architecture!r} from the Hugging Face Hub ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Connect to the internet, or pass --no-pretrained "
            "to train from scratch."
        ) from err
    model.pretrained_cfg = _pretrained_cfg(model, cfg, label_names)
    return model


def label_names_of(model: torch.nn.Module) -> list[str]:
    """The class names of a timm model built or loaded here: ``pretrained_cfg["label_names"]``, where timm itself
    keeps them (its ``save_for_hf`` writes them to config.json's top-level ``label_names``)."""
    return list(model.pretrained_cfg["label_names"])


def init_from_model(source: str, cfg: ModelConfig, label_names: list[str]) -> torch.nn.Module:
    """Start from an earlier kernel-laugh model (folder or Hub id) for a task with ``label_names``.

    Same labels: weights and head are kept. Other labels (a laughter model re-fine-tuned on 7 FER emotions): the
    head is replaced with ``reset_classifier`` and the label names become this task's, so a re-save can never carry
    the old ones. ``cfg``'s image size and crop still apply; the architecture is the earlier model's.
    """
    model = load_model(_model_dir(source))
    if label_names_of(model) != list(label_names):
        if len(label_names) < 2:
            raise KernelLaughError(f"a classifier needs at least 2 labels, got {label_names}")
        model.reset_classifier(len(label_names))  # a fresh (K, features) head, timm's own initialisation
    model.pretrained_cfg = _pretrained_cfg(model, cfg, label_names)
    return model


def _model_dir(source: str) -> Path:
    """A local model folder, or a Hub id downloaded (config and safetensors only) into the cache."""
    if Path(source).expanduser().is_dir():
        return Path(source).expanduser()
    try:
        return Path(snapshot_download(source, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))
    except (OSError, HUB_HTTP_ERROR, ValueError) as err:  # offline, unknown repo (OSError); a malformed id (ValueError)
        raise KernelLaughError(f"--init-from {source}: not a local folder, and downloading it from the Hub failed "
                               f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err


def _pretrained_cfg(model: torch.nn.Module, cfg: ModelConfig, label_names: list[str]) -> dict[str, Any]:
    """The preprocessing contract saved with the weights; training, eval, pipeline and Space all read it. The class
    names ride along as timm keeps them (``label_names``); config.json stores them at its top level instead."""
    num_classes = len(label_names)
    pc = dict(model.pretrained_cfg)
    if cfg.image_size:
        pc["input_size"] = (3, cfg.image_size, cfg.image_size)
        pc.pop("test_input_size", None)
        pc.pop("pool_size", None)  # depends on the input size; timm recomputes it
    if cfg.crop_pct:
        pc["crop_pct"] = cfg.crop_pct
        pc.pop("test_crop_pct", None)
    if cfg.crop_mode:
        pc["crop_mode"] = cfg.crop_mode
    pc["num_classes"] = num_classes
    keep = ("architecture", "input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "num_classes", "pool_size",
            "first_conv", "classifier")
    return {k: (list(pc[k]) if isinstance(pc[k], tuple) else pc[k]) for k in keep if k in pc} | {
        "label_names": list(label_names)}


def model_config_dict(model: torch.nn.Module) -> dict[str, Any]:
    """``config.json`` in timm's Hub format.

    Unlike ``timm.models.save_for_hf`` this never writes ``model_args.num_classes``: transformers' TimmWrapper
    passes ``num_classes`` itself and would get it twice (seen with timm 1.0.31 + transformers 5.23).
    """
    label_names = label_names_of(model)
    pool = getattr(model, "global_pool", "avg")  # a module on CNNs, a string on ViTs
    return {
        "architecture": model.pretrained_cfg["architecture"],
        "num_classes": len(label_names),
        "num_features": model.num_features,
        "global_pool": pool if isinstance(pool, str) else getattr(pool, "pool_type", "avg"),
        "label_names": label_names,
        "pretrained_cfg": {k: v for k, v in model.pretrained_cfg.items() if k not in ("architecture", "label_names")},
    }


def save_model(model: torch.nn.Module, out_dir: str | Path, extra_config: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (never pickle) into ``out_dir``, each replaced atomically
    with ordinary permissions (``outputs.write_atomic``: safetensors alone would leave the weights at 0600)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = model_config_dict(model) | (extra_config or {})
    # contiguous() because safetensors refuses views; clone() breaks weights shared between tensors.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    write_atomic(out / WEIGHTS_NAME, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    write_text_atomic(out / CONFIG_NAME, json.dumps(config, indent=2) + "\n")
    return out


def read_config(model_dir: str | Path) -> dict[str, Any]:
    """``config.json`` of a model folder; one-line errors for a missing folder or a missing or damaged config."""
    return read_model_config(model_dir)


def load_model(model_dir: str | Path) -> torch.nn.Module:
    """Rebuild a saved folder as a plain timm model (for training, evaluation and Grad-CAM).

    The folder is checked first (``readers.models.check_model_folder``): a damaged one gets one line naming it."""
    resolve_model_ref(model_dir, local_only=True)  # checks the folder: config, weights, and that they fit
    config = read_config(model_dir)
    weights = Path(model_dir) / WEIGHTS_NAME
    model = timm.create_model(config["architecture"], pretrained=False, num_classes=config["num_classes"])
    model.load_state_dict(load_file(str(weights)))
    model.pretrained_cfg = dict(config["pretrained_cfg"], architecture=config["architecture"],
                                label_names=list(config["label_names"]))
    return model


def logits_of(output: Any) -> torch.Tensor:
    """(B, K) logits from a timm model (a tensor) or a transformers model (an output with ``.logits``)."""
    return output.logits if hasattr(output, "logits") else output


@torch.no_grad()
def predict_batches(model: torch.nn.Module, loader: Any, *, device: str | torch.device | None = None,
                  gather: Any = None, desc: str = "eval", show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, K) and labels (N,) over ``loader``'s ``(inputs, labels)`` batches, in order.

    ``device``: where the inputs go (None: where the loader puts them, as an Accelerate-prepared one does).
    ``gather``: under several processes, ``accelerator.gather_for_metrics``, so every process gets every sample.
    Training, evaluation and compare all score through this loop."""
    model.eval()
    probs, refs = [], []
    for inputs, labels in tqdm(loader, desc=desc, disable=not progress_bars(show_progress), leave=False):  # (B, 3, H, W), (B,)
        p = logits_of(model(inputs if device is None else inputs.to(device))).float().softmax(-1)  # (B, K)
        if gather is not None:
            # gather_for_metrics drops the samples the distributed sampler duplicated to even out the last batch,
            # so every image counts exactly once.
            p, labels = gather((p, labels))
        probs.append(p.cpu().numpy())
        refs.append(labels.cpu().numpy())
    return np.concatenate(probs), np.concatenate(refs)
