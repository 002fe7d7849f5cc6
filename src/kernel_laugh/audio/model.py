"""The audio expert's artefact: a transformers ``ASTForAudioClassification`` folder (config.json,
model.safetensors, preprocessor_config.json) that ``pipeline("audio-classification", model=DIR)`` and
``AutoModelForAudioClassification`` + ``AutoFeatureExtractor`` load with no remote code.

AST: Gong, Chung & Glass 2021, "AST: Audio Spectrogram Transformer" (arXiv:2104.01778). Three ways to get one:

- ``--model ast-tiny --no-pretrained``: a small AST built from a config here and trained from scratch (offline;
  what the tests and the SYNTHETIC sample use).
- ``--model MIT/ast-finetuned-audioset-10-10-0.4593`` (or any AST on the Hub or in a folder): fine-tuned, its
  527-class AudioSet head replaced by one for this task's labels. Needs the Hub once (or a local copy).
- ``zero_shot(CHECKPOINT, OUT)`` (``kernel-laugh audio-zero-shot``): no training. AudioSet taggers are multi-label
  (one sigmoid per class, trained with binary cross-entropy), so the laughter probability is the noisy-OR of the
  sigmoid scores of AudioSet's laughter classes, p = 1 - prod_k (1 - sigmoid(z_k)): the chance that at least one
  laughter class is present if they were independent. Not a softmax sum, which would make the classes compete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import ASTConfig, ASTForAudioClassification, AutoFeatureExtractor

from kernel_laugh.audio.features import make_feature_extractor, window_frames
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.outputs import TMP_SUFFIX, ordinary_permissions

logger = logging.getLogger(__name__)

TINY_ARCHITECTURE = "ast-tiny"
# AudioSet ontology names of laughter and its children (the label names of AudioSet AST checkpoints).
LAUGHTER_CLASSES = ("Laughter", "Baby laughter", "Giggle", "Snicker", "Belly laugh", "Chuckle, chortle")
ZERO_SHOT_KEY = "kernel_laugh_zero_shot"  # config.json entry of a zero-shot folder: which classes, how combined
HUB_HINT = ("needs the Hugging Face Hub (this machine is offline or HF_HUB_OFFLINE=1 is set): download it once "
            "with `hf download {name} --local-dir DIR` and pass DIR, or train from scratch with --model ast-tiny "
            "--no-pretrained")


def tiny_config(label_names: list[str], window_s: float, num_mel_bins: int = 64) -> Any:
    """A small AST (2 layers, hidden size 64, 16x16 patches every 10 frames/bins): (num_mel_bins, window/10ms) in."""
    return ASTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                     patch_size=16, frequency_stride=10, time_stride=10, max_length=window_frames(window_s),
                     num_mel_bins=num_mel_bins, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                     id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)})


def build_audio_model(architecture: str, label_names: list[str], *, pretrained: bool, window_s: float,
                      sampling_rate: int, num_mel_bins: int = 64, drop_rate: float = 0.0) -> tuple[Any, Any]:
    """(ASTForAudioClassification, ASTFeatureExtractor) for these labels.

    ``architecture`` is ``ast-tiny`` (built here) or a Hub id / folder of an AST checkpoint (its weights when
    ``pretrained``, else its config only). A checkpoint keeps its own feature extractor (for AudioSet ASTs:
    128 mel bins, 1024 frames = 10.24 s; shorter windows are zero-padded to that length, as it was trained)."""
    id2label, label2id = dict(enumerate(label_names)), {n: i for i, n in enumerate(label_names)}
    if architecture == TINY_ARCHITECTURE:
        if pretrained:
            raise KernelLaughError("--model ast-tiny has no pretrained weights: add --no-pretrained (or name an AST "
                                   "checkpoint such as MIT/ast-finetuned-audioset-10-10-0.4593)")
        config = tiny_config(label_names, window_s, num_mel_bins)
        config.hidden_dropout_prob = max(config.hidden_dropout_prob, drop_rate)
        return ASTForAudioClassification(config), make_feature_extractor(sampling_rate, window_s, num_mel_bins)
    try:
        fe = AutoFeatureExtractor.from_pretrained(architecture)
        if pretrained:
            # ignore_mismatched_sizes: the AudioSet head (527 outputs) is replaced by a new one for our labels.
            model = ASTForAudioClassification.from_pretrained(architecture, num_labels=len(label_names), id2label=id2label,
                                                              label2id=label2id, ignore_mismatched_sizes=True)
        else:
            config = ASTConfig.from_pretrained(architecture, num_labels=len(label_names), id2label=id2label, label2id=label2id)
            model = ASTForAudioClassification(config)
    except OSError as err:
        raise KernelLaughError(f"--model {architecture}: could not load it ({str(err).splitlines()[0]}); "
                               + HUB_HINT.format(name=architecture)) from None
    if fe.sampling_rate != sampling_rate:
        raise KernelLaughError(f"--model {architecture} expects {fe.sampling_rate} Hz audio; set --sampling-rate {fe.sampling_rate}")
    return model, fe


def save_audio_model(model: Any, feature_extractor: Any, out_dir: str | Path,
                     extra_config: dict[str, Any] | None = None) -> Path:
    """Write config.json + model.safetensors + preprocessor_config.json (the pipeline-loadable folder).

    Each file is written by ``save_pretrained`` into a temporary folder beside them, then renamed over its
    target with ordinary permissions (as ``modeling.save_model`` does for image models): a reader never sees
    half a model, and a killed run leaves only a ``.*.tmp`` folder that the next run deletes.
    ``extra_config`` keys (e.g. ``positive_label``) are added to config.json; the model object is not changed."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".audio-model-", suffix=TMP_SUFFIX))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        feature_extractor.save_pretrained(tmp)
        if extra_config:
            config = tmp / "config.json"
            config.write_text(json.dumps(json.loads(config.read_text()) | extra_config, indent=2) + "\n")
        for f in sorted(tmp.iterdir()):  # weights first, config.json last: a config never names missing weights
            ordinary_permissions(f)
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def laughter_indices(id2label: dict[int, str]) -> list[int]:
    """Indices of AudioSet's laughter classes among a checkpoint's labels (names compared case-insensitively)."""
    wanted = {n.lower() for n in LAUGHTER_CLASSES}
    return sorted(int(i) for i, name in id2label.items() if str(name).lower() in wanted)


def zero_shot(checkpoint: str, out_dir: str | Path) -> Path:
    """Turn an AudioSet AST checkpoint (Hub id or folder) into a zero-shot laughter model folder, no training.

    The folder keeps the checkpoint's weights and labels (so ``pipeline`` shows all its classes, with sigmoid
    scores: ``problem_type`` is multi-label) and records in config.json which classes are laughter and how they
    combine; ``AudioPredictor`` then reports P(laughter) = 1 - prod_k (1 - sigmoid(z_k)) over those classes.
    Raises KernelLaughError when the checkpoint has none of AudioSet's laughter classes or cannot be loaded."""
    try:
        model = ASTForAudioClassification.from_pretrained(checkpoint)
        fe = AutoFeatureExtractor.from_pretrained(checkpoint)
    except OSError as err:
        raise KernelLaughError(f"{checkpoint}: could not load it ({str(err).splitlines()[0]}); "
                               + HUB_HINT.format(name=checkpoint)) from None
    found = laughter_indices(model.config.id2label)
    if not found:
        raise KernelLaughError(f"{checkpoint}: none of AudioSet's laughter classes {list(LAUGHTER_CLASSES)} among its labels")
    model.config.problem_type = "multi_label_classification"
    setattr(model.config, ZERO_SHOT_KEY, {"classes": [model.config.id2label[i] for i in found], "indices": found,
                                          "combination": "noisy-or of sigmoid scores"})
    return save_audio_model(model, fe, out_dir)


def laughter_scores(logits: torch.Tensor | np.ndarray, config: Any) -> np.ndarray:
    """Class probabilities from logits (B, K): for a zero-shot folder (B, 2) = [P(non-laughter), P(laughter)] with
    P(laughter) the noisy-OR of its laughter classes' sigmoids; otherwise (B, K), the softmax over the model's labels."""
    z = torch.as_tensor(logits, dtype=torch.float64)
    spec = getattr(config, ZERO_SHOT_KEY, None)
    if spec:
        # log(1 - sigmoid(z)) = -softplus(z): stable for large logits, where 1 - sigmoid(z) rounds to 0.
        log_none = -torch.nn.functional.softplus(z[:, spec["indices"]]).sum(dim=1)  # (B,) log prod(1 - p_k)
        p = -torch.expm1(log_none)  # (B,) 1 - prod(1 - p_k)
        return torch.stack([1 - p, p], dim=1).numpy()
    return z.softmax(dim=-1).numpy()


def output_labels(config: Any) -> list[str]:
    """The labels ``laughter_scores`` columns stand for."""
    if getattr(config, ZERO_SHOT_KEY, None):
        return ["non-laughter", "laughter"]
    return [config.id2label[i] for i in range(len(config.id2label))]
