"""Open the original project's laughter model (a pickled torchvision ResNet-18 state dict, ``.pth``) and turn
it into a standard kernel-laugh folder that ``pipeline`` and ``timm`` load.

Safety: the file is read with ``torch.load(weights_only=True)``, which unpickles tensors and plain containers
only; anything else (a whole pickled model, custom classes) is refused and nothing in it runs.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch
from huggingface_hub import HfApi, ModelCardData, hf_hub_download

from kernel_laugh.config import ModelConfig
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.modeling import build_model, save_model
from kernel_laugh.readers.models import HUB_HTTP_ERROR, is_hub_id

LABEL_NAMES = ["non-laughter", "laughter"]  # the original's folder order: 0_non-laughter, 1_laughter
# The original's preprocessing: Resize((224, 224)) (bilinear, no crop), ToTensor, and "dataset statistics" that
# were per-image means summed over each batch instead of averaged (see the card): kept as-is so the imported
# model sees exactly the inputs it was trained on.
ORIGINAL_MEAN = (17.67, 17.44, 17.17)
ORIGINAL_STD = (7.75, 8.49, 9.58)
ORIGINAL_PREPROCESSING = {"input_size": [3, 224, 224], "interpolation": "bilinear", "crop_pct": 1.0,
                          "crop_mode": "squash", "mean": list(ORIGINAL_MEAN), "std": list(ORIGINAL_STD)}
ORIGINAL_REPORTED = {"split": "test (518 frames; separate clip incl. 'attempting not to laugh')", "accuracy": 0.7819,
                     "precision": 0.7143, "recall": 0.9163, "f1": 0.8028, "roc_auc_from_hard_labels": 0.7859}
PREFIXES = ("module.", "model.", "_orig_mod.")  # DataParallel, the notebook's wrapper class, torch.compile


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors only, or a clear refusal. Never runs code from the file."""
    p = Path(path)
    if not p.is_file():
        raise KernelLaughError(f"{p}: no such file")
    if not _looks_like_torch_save(p):
        raise KernelLaughError(f"{p}: not a PyTorch checkpoint (torch.save writes a zip archive or a pickle; this "
                               "file is neither)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = _UNSUPPORTED.search(str(err))
        if found is None:  # not a forbidden object: the pickle itself is broken (truncated, or not torch's)
            detail = _WEIGHTS_ERROR.search(str(err))
            raise KernelLaughError(f"{p}: not a readable PyTorch state dict (damaged or not written by torch.save"
                                   + (f": {_ANSI.sub('', detail.group(1)).strip()}" if detail else "") + ")") from None
        raise KernelLaughError(
            f"{p}: refused: it holds {found.group(1)}, not only tensors (a whole pickled model rather than a state "
            "dict?). Only plain state dicts are loaded, since unpickling anything else can run arbitrary code."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, UnicodeDecodeError) as err:
        # A damaged or foreign pickle fails inside the unpickler with whatever it tripped on (KeyError: 101...).
        detail = _ANSI.sub("", str(err).strip().splitlines()[0]) if str(err).strip() else type(err).__name__
        raise KernelLaughError(f"{p}: not a readable PyTorch state dict (damaged or not written by torch.save: "
                               f"{type(err).__name__} {detail})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # checkpoints that wrap the weights
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise KernelLaughError(f"{p}: expected a dict of tensors (a state dict), got {type(obj).__name__}")
    return obj


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # torch's messages carry terminal colour codes
_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL (\S+)")
_WEIGHTS_ERROR = re.compile(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", re.S)


def _looks_like_torch_save(path: Path) -> bool:
    """A zip archive (torch.save since 1.6) or a pickle (protocol 2+ starts with 0x80; the legacy format too)."""
    if zipfile.is_zipfile(path):
        return True
    with path.open("rb") as fh:
        return fh.read(1) == b"\x80"


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (``module.``, ``model.``...) that every key shares, repeatedly."""
    out = OrderedDict(state)
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in out):
                out = OrderedDict((k[len(prefix):], v) for k, v in out.items())
                changed = True
    return out


def convert(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Map torchvision ResNet keys onto timm's (they coincide for resnet18) and check every tensor:
    all keys used, none missing, every shape equal; otherwise say exactly which."""
    theirs, ours = strip_prefixes(state), model.state_dict()
    missing = [k for k in ours if k not in theirs]
    unexpected = [k for k in theirs if k not in ours]
    shapes = [f"{k}: file {tuple(theirs[k].shape)} vs model {tuple(ours[k].shape)}"
              for k in ours if k in theirs and theirs[k].shape != ours[k].shape]
    if missing or unexpected or shapes:
        parts = [f"missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}" if missing else "",
                 f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}" if unexpected else "",
                 f"shape mismatches {shapes[:8]}" if shapes else ""]
        raise KernelLaughError("the state dict does not match a 2-class ResNet-18: " + "; ".join(p for p in parts if p))
    return {k: theirs[k].to(ours[k].dtype) for k in ours}


def import_legacy(source: str | Path, out_dir: str | Path) -> Path:
    """``.pth`` file (or a Hub repo id holding one) → a kernel-laugh folder with a card saying where it came from."""
    path = _resolve(source)
    model = build_model(ModelConfig(architecture="resnet18", pretrained=False), LABEL_NAMES)
    model.load_state_dict(convert(read_state_dict(path), model))
    model.pretrained_cfg = {**model.pretrained_cfg, **ORIGINAL_PREPROCESSING}
    out = save_model(model.eval(), out_dir, extra_config={"imported_from": str(source)})
    (Path(out) / "README.md").write_text(_card(str(source)))
    return Path(out)


def _resolve(source: str | Path) -> Path:
    p = Path(source)
    if p.exists() or not is_hub_id(str(source)):
        return p
    try:  # a Hub model repo: take its one .pth / .pt file
        names = [f for f in HfApi().list_repo_files(str(source)) if f.endswith((".pth", ".pt"))]
        if not names:
            raise KernelLaughError(f"{source}: no .pth or .pt file in that Hub repo")
        return Path(hf_hub_download(str(source), names[0]))
    except (OSError, ValueError, HUB_HTTP_ERROR) as err:  # not found / offline (OSError), a malformed id (ValueError)
        raise KernelLaughError(f"{source}: could not download from the Hub ({type(err).__name__}); "
                               "download the .pth yourself and pass its path") from err


def _card(source: str) -> str:
    names = {"roc_auc_from_hard_labels": "ROC AUC (computed from hard 0/1 predictions: not a true AUC)"}
    rows = "\n".join(f"| {names.get(k, k)} | {v} |" for k, v in ORIGINAL_REPORTED.items())
    metadata = ModelCardData(library_name="timm", pipeline_tag="image-classification",
                             tags=["image-classification", "timm", "kernel-laugh", "imported"])
    return f"""---
{metadata.to_yaml()}
---

# Kernel brain-render laughter classifier (imported)

The original laughter model of the kernel-brain-data project, converted by `kernel-laugh import-legacy`
from `{source}` (a pickled torchvision ResNet-18 state dict) into timm's Hub format (`model.safetensors`),
so that `transformers.pipeline("image-classification", model=...)` and `timm` load it without its notebook.
The weights are unchanged. Labels: index 0 `non-laughter`, index 1 `laughter`.

## Preprocessing, and why its statistics look odd

`config.json` reproduces the original preprocessing exactly: resize straight to 224x224 (bilinear, no crop:
timm `crop_mode` squash, `crop_pct` 1.0), scale to [0, 1], then normalise with mean {list(ORIGINAL_MEAN)} and
std {list(ORIGINAL_STD)}. Those "dataset statistics" came from a bug (per-image means summed over each batch
instead of averaged), so every input collapses to about -2.2 with a tiny spread. The model was trained on
such inputs, so they are kept here to reproduce its outputs; a model trained with kernel-laugh uses
correct statistics.

## Results reported by the original project (not re-measured here)

| metric | reported value |
|---|---|
{rows}

These figures come from the original write-up, on a random frame-level split of video frames (neighbouring
frames are near-duplicates), without confidence intervals. Treat them as indicative only.
"""
