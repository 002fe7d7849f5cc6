"""What the audio expert hands the shared training loop (``training.setup``): its data, model, loaders and how
to save the model folder. Everything after that (Accelerate, optimiser, epochs, checkpoints, test, report,
card) is the same code that trains the image models."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kernel_laugh.audio.data import WindowFeatures, prepare_audio_data, split_features
from kernel_laugh.audio.model import build_audio_model, save_audio_model
from kernel_laugh.config import DataConfig, ModelConfig, TrainConfig
from kernel_laugh.data import EpochSampler, PreparedData
from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)


@dataclass
class AudioParts:
    data: PreparedData
    model: torch.nn.Module  # ASTForAudioClassification: model(input_values (B, T, M)).logits is (B, K)
    loaders: tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader, torch.utils.data.DataLoader]
    save: Callable[[torch.nn.Module, Path], Any]  # (unwrapped model, folder) → config, weights, preprocessor


def audio_parts(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                sample_weights: torch.Tensor | None = None) -> AudioParts:
    """Windows of the source, an AST for their labels, and loaders of ``(input_values (B, T, M), labels (B,))``.

    Features are computed once per split (the model's feature extractor, no augmentation); the training loader
    draws its order from an ``EpochSampler`` (a function of seed and epoch, so a resumed epoch replays exactly)."""
    data = prepare_audio_data(data_cfg)  # before the model: a bad dataset fails before any download
    if model_cfg.init_from:
        raise KernelLaughError("--init-from is for image models; for audio, name an AST checkpoint with --model")
    model, fe = build_audio_model(model_cfg.architecture, data.label_names, pretrained=model_cfg.pretrained,
                                  window_s=data_cfg.window_seconds, sampling_rate=data_cfg.sampling_rate,
                                  drop_rate=model_cfg.drop_rate)
    generator = torch.Generator().manual_seed(train_cfg.seed)
    loaders = []
    for split in ("train", "validation", "test"):
        ds = data.splits[split]
        features = split_features(data.samples(split), fe, data_cfg.window_seconds)  # (N, T, M)
        sampler = EpochSampler(len(ds), train_cfg.seed, sample_weights) if split == "train" else None
        loaders.append(torch.utils.data.DataLoader(WindowFeatures(features, ds["label"]), batch_size=train_cfg.batch_size,
                                                   sampler=sampler, shuffle=False, num_workers=0, generator=generator))
    # The windowing travels in config.json, so predict and timeline cut clips as training did.
    model.config.kernel_laugh_audio = {"window_seconds": data_cfg.window_seconds, "hop_seconds": data_cfg.hop_seconds}
    return AudioParts(data, model, tuple(loaders), lambda m, folder, extra=None: save_audio_model(m, fe, folder, extra))  # type: ignore[arg-type]
