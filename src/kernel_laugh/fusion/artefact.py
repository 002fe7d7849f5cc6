"""The fusion model folder (or Hub repo): save and load, no remote code.

- ``config.json``: ``model_type: kernel-laugh-fusion``; the modalities; each expert (model as a Hub id or folder,
  its revision, its laughter class, its region, what it was trained on); the time grid; the quality features with
  their scaling; the gate's shape; the decision threshold, temperature and prior; the timeline's hysteresis; the
  video split the gate was fitted on.
- ``model.safetensors``: the gate's and calibration's tensors (``GatedFusion.state_dict()``).
- ``README.md``: the model card (``fusion.card``); ``eval_results.json``: the held-out results (``fusion.evaluation``).

An expert whose revision today differs from the one recorded is a warning at load (the gate was calibrated on the
old expert's outputs), or an error with ``strict``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import snapshot_download
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.gate import GatedFusion
from kernel_laugh.fusion.steps import MODALITIES
from kernel_laugh.outputs import write_atomic, write_text_atomic

logger = logging.getLogger(__name__)

FUSION_MODEL_TYPE = "kernel-laugh-fusion"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
RESULTS_NAME = "eval_results.json"


@dataclass
class FusionModel:
    """A loaded fusion model: the gate (eval mode, CPU) and its config.json as a dict."""

    gate: GatedFusion
    config: dict[str, Any]
    folder: Path

    @property
    def experts(self) -> list[dict[str, Any]]:
        """One dict per expert: modality, model, revision, positive_label, region (and trained_on when known)."""
        return list(self.config["experts"])

    @property
    def grid_hz(self) -> float:
        return float(self.config["time_grid"]["hz"])

    @property
    def threshold(self) -> float:
        return float(self.config["threshold"])

    @property
    def hysteresis(self) -> dict[str, float]:
        return dict(self.config["hysteresis"])

    @property
    def synthetic(self) -> bool:
        return bool(self.config.get("synthetic"))


def build_config(gate: GatedFusion, experts: list[dict[str, Any]], *, grid_hz: float, threshold: float,
                 hysteresis: dict[str, float], splits: dict[str, Any] | None = None, synthetic: bool = False,
                 training: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json's content. ``experts``: one dict per expert in the gate's order (``ExpertSpec.to_dict()``)."""
    if [e["modality"] for e in experts] != list(gate.experts):
        raise KernelLaughError(f"the experts {[e['modality'] for e in experts]} are not the gate's {list(gate.experts)}")
    quality = [{"name": n, "mean": float(m), "std": float(s)}
               for n, m, s in zip(gate.quality_names, gate.quality_mean.tolist(), gate.quality_std.tolist())]
    return {"model_type": FUSION_MODEL_TYPE, "format_version": FORMAT_VERSION,
            "label_names": ["non-laughter", "laughter"], "positive_label": "laughter",
            "modalities": list(gate.experts), "experts": experts,
            "time_grid": {"hz": float(grid_hz), "step_seconds": 1.0 / float(grid_hz)},
            "quality_features": quality,
            "quality_scaling": "standardised: (x - mean) / std over the gate-train steps where the feature's expert is "
                               "available; 0 where it is missing",
            "gate": {"hidden": int(gate.net[0].out_features), "use_logits": gate.use_logits},
            "threshold": float(threshold), "temperature": float(gate.temperature),
            "prior": float(torch.sigmoid(gate.prior_logit)), "hysteresis": dict(hysteresis),
            "splits": splits or {}, "synthetic": bool(synthetic), "training": training or {}}


def save_fusion(folder: str | Path, gate: GatedFusion, config: dict[str, Any], card: str | None = None,
                results: dict[str, Any] | None = None) -> Path:
    """Write config.json, model.safetensors, and README.md / eval_results.json when given; returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in gate.state_dict().items()}
    write_atomic(out / WEIGHTS_NAME, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    write_text_atomic(out / CONFIG_NAME, json.dumps(config, indent=2) + "\n")
    if results is not None:
        write_text_atomic(out / RESULTS_NAME, json.dumps(results, indent=2) + "\n")
    if card is not None:
        write_text_atomic(out / "README.md", card)
    return out


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise KernelLaughError(f"{path}: cannot read ({err})") from None
    if not isinstance(config, dict):
        raise KernelLaughError(f"{path}: not a JSON object")
    return config


def is_fusion_folder(ref: str | Path) -> bool:
    """Whether ``ref`` is a local folder whose config.json is a fusion model's (Hub ids: see ``resolve_fusion``)."""
    path = Path(ref).expanduser() / CONFIG_NAME
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("model_type") == FUSION_MODEL_TYPE
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False  # not ours; the model reader gives the damaged folder its own error


def resolve_fusion(ref: str | Path) -> Path:
    """A fusion folder, or a Hub id downloaded (config, weights, card, results only) into the cache."""
    if Path(ref).expanduser().is_dir():
        return Path(ref).expanduser()
    try:
        return Path(snapshot_download(str(ref), allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, RESULTS_NAME, "README.md"]))
    except (OSError, ValueError) as err:  # offline, unknown repo, bad id
        raise KernelLaughError(f"{ref}: not a local fusion folder, and downloading it from the Hub failed "
                               f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None


def load_fusion(ref: str | Path) -> FusionModel:
    """Load a fusion folder or Hub id: the gate in eval mode on the CPU, and its config.

    Raises KernelLaughError naming the file: no or damaged config.json, not a fusion model, unknown modality,
    missing or damaged model.safetensors, tensors that do not fit the config."""
    folder = resolve_fusion(ref)
    config = _read_config(folder / CONFIG_NAME)
    if config.get("model_type") != FUSION_MODEL_TYPE:
        raise KernelLaughError(f"{folder / CONFIG_NAME}: not a fusion model (model_type {config.get('model_type')!r})")
    try:
        experts = list(config["modalities"])
        quality = [q["name"] for q in config["quality_features"]]
        shape = config["gate"]
        float(config["threshold"]), float(config["time_grid"]["hz"])
    except (KeyError, TypeError, ValueError) as err:
        raise KernelLaughError(f"{folder / CONFIG_NAME}: incomplete fusion config ({type(err).__name__}: {err})") from None
    unknown = [m for m in experts if m not in MODALITIES]
    if unknown:
        raise KernelLaughError(f"{folder / CONFIG_NAME}: unknown modalities {unknown}; known: {list(MODALITIES)}")
    gate = GatedFusion(experts, quality, hidden=int(shape["hidden"]), use_logits=bool(shape["use_logits"]))
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise KernelLaughError(f"{folder}: the gate's weights are missing (no {WEIGHTS_NAME})")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise KernelLaughError(f"{weights}: truncated or damaged weights file ({str(err).splitlines()[0]})") from None
    try:
        gate.load_state_dict(state)
    except RuntimeError as err:
        raise KernelLaughError(f"{weights}: does not fit {CONFIG_NAME} ({str(err).splitlines()[0]})") from None
    return FusionModel(gate.eval(), config, folder)


def check_revisions(model: FusionModel, current: dict[str, str], strict: bool = False) -> list[str]:
    """Compare each expert's recorded revision with ``current`` ``{modality: revision now}``; returns the mismatch
    messages (each also logged as a warning), or raises KernelLaughError with ``strict``."""
    problems = []
    for e in model.experts:
        now = current.get(e["modality"])
        if now is not None and now != e.get("revision"):
            problems.append(f"the {e['modality']} expert {e['model']} is at revision {now}, but the gate was trained "
                            f"with {e.get('revision')}: its outputs may have moved and the calibration no longer fit")
    if problems and strict:
        raise KernelLaughError(f"{model.folder}: " + "; ".join(problems) + " (--strict)")
    for p in problems:
        logger.warning("%s", p)
    return problems

