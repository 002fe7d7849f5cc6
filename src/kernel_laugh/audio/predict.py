"""Scoring sound with an audio model folder: per window, per clip, and over a video's soundtrack.

``AudioPredictor`` loads the folder (or Hub id) through ``pipeline("audio-classification")``, the path Hub users
take, and scores long recordings window by window: features for the whole track in one pass, then the model on
batches of windows (``features`` explains why this equals running the pipeline on each window). Windows are
``window_seconds`` long every ``hop_seconds`` (from the folder's config.json, written at training; a checkpoint
without them uses its extractor's full input length and half of it as hop).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, pipeline

from kernel_laugh.audio.features import (
    FRAME_SHIFT_S,
    log_mel_frames,
    window_features,
    window_starts,
)
from kernel_laugh.audio.model import laughter_scores, output_labels
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.audio import AudioTrack, read_audio, require_audio
from kernel_laugh.readers.models import is_audio_config, read_model_config, resolve_model_ref

logger = logging.getLogger(__name__)

WINDOWING_KEY = "kernel_laugh_audio"  # config.json: {"window_seconds": ..., "hop_seconds": ...}


def is_audio_model(ref: str | Path) -> bool:
    """Whether a model folder or Hub id is an audio classifier (its config.json names an *ForAudioClassification).

    The reference is resolved and a local folder's config read by the one model reader (``readers.models``), so a
    mistyped or damaged folder gets its one-line error here; a Hub id is asked of transformers (an unreachable one
    counts as not audio, and the image path then gives its own, clearer error)."""
    resolved = resolve_model_ref(ref)  # a mistyped local folder: one line at once, no Hub round trip
    if Path(resolved).is_dir():
        return is_audio_config(read_model_config(resolved))
    try:
        config = AutoConfig.from_pretrained(str(ref)).to_dict()
    except (OSError, ValueError):
        return False
    return is_audio_config(config)


@dataclass
class AudioTimeline:
    """P(class) over time: ``rows`` ``{"time": window centre (s), <label>: probability}``; ``status`` says "no
    audio" (empty rows) when the file has no audio stream."""

    source: str
    rows: list[dict[str, float]] = field(default_factory=list)
    status: str = "ok"
    duration: float = 0.0
    decode_seconds: float = 0.0  # wall time spent decoding and resampling (for the benchmark)


class AudioPredictor:
    """``AudioPredictor("runs/audio")`` → ``predict_file("clip.wav")`` / ``timeline("video.mp4")``."""

    def __init__(self, model: str | Path, device: str | int | None = None, batch_size: int = 64):
        ref = str(model)
        try:
            self.pipe = pipeline("audio-classification", model=ref, device=device)
        except OSError as err:
            raise KernelLaughError(f"{ref}: could not load the audio model ({str(err).splitlines()[0]})") from None
        self.model = self.pipe.model.eval()
        self.fe = self.pipe.feature_extractor
        if type(self.fe).__name__ != "ASTFeatureExtractor":
            raise KernelLaughError(f"{ref}: kernel-laugh scores AST audio models; this one uses {type(self.fe).__name__}")
        config = self.model.config
        self.label_names = output_labels(config)
        spec = getattr(config, WINDOWING_KEY, None) or {}
        self.window_seconds = float(spec.get("window_seconds") or round(self.fe.max_length * FRAME_SHIFT_S, 2))
        self.hop_seconds = float(spec.get("hop_seconds") or self.window_seconds / 2)
        self.sampling_rate = int(self.fe.sampling_rate)
        self.batch_size = batch_size

    def score(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window start times (W,) in s and probabilities (W, K) for mono ``samples`` at the model's rate."""
        starts = window_starts(len(samples) / self.sampling_rate, self.window_seconds, self.hop_seconds)
        if not len(starts):
            return starts, np.zeros((0, len(self.label_names)))
        return starts, self.score_windows(samples, starts)

    def score_windows(self, samples: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Probabilities (W, K) of the ``window_seconds`` windows starting at ``starts`` (W,) seconds of mono
        ``samples`` at the model's rate (a window past the end is zero-padded, as the extractor pads)."""
        if not len(starts):
            return np.zeros((0, len(self.label_names)))
        frames = log_mel_frames(samples, self.fe)  # (F, M): every 10 ms frame once
        probs = []
        for i in range(0, len(starts), self.batch_size):
            x = torch.from_numpy(window_features(frames, starts[i:i + self.batch_size], self.fe, self.window_seconds))
            with torch.inference_mode():
                logits = self.model(x.to(self.model.device)).logits  # (B, K)
            probs.append(laughter_scores(logits.float().cpu(), self.model.config))
        return np.concatenate(probs)

    def predict_track(self, track: AudioTrack) -> dict[str, Any]:
        """Each window's and the whole clip's probabilities (the clip: mean over windows, and each class's peak)."""
        if track.duration + 1e-9 < self.window_seconds:
            raise KernelLaughError(f"{track.source}: {track.duration:.2f} s of audio, shorter than one "
                                   f"{self.window_seconds:g} s window of this model")
        if not np.any(track.samples):
            raise KernelLaughError(f"{track.source}: the audio is digital silence (every sample is 0); nothing to score")
        starts, probs = self.score(track.samples)
        windows = [{"start": round(float(s), 3), "end": round(float(s) + self.window_seconds, 3),
                    **{lab: float(p) for lab, p in zip(self.label_names, row)}} for s, row in zip(starts, probs)]
        return {"file": track.source, "duration": round(track.duration, 3), "window_seconds": self.window_seconds,
                "hop_seconds": self.hop_seconds, "sampling_rate": self.sampling_rate,
                "clip": {lab: float(probs[:, k].mean()) for k, lab in enumerate(self.label_names)},
                "peak": {lab: float(probs[:, k].max()) for k, lab in enumerate(self.label_names)},
                "windows": windows}

    def predict_file(self, path: str | Path) -> dict[str, Any]:
        """``predict_track`` of a file's audio; a file without audio, or too short, is a KernelLaughError."""
        return self.predict_track(require_audio(path, self.sampling_rate))

    def timeline(self, path: str | Path) -> AudioTimeline:
        """P(class) at every hop over a video's (or audio file's) soundtrack, on the video's clock. A file
        without an audio stream gives an empty timeline with status "no audio" (not an error)."""
        began = time.perf_counter()
        track = read_audio(path, self.sampling_rate)
        decoded = time.perf_counter() - began
        if track is None:
            return AudioTimeline(str(path), status="no audio", decode_seconds=decoded)
        starts, probs = self.score(track.samples)
        half = self.window_seconds / 2
        rows = [{"time": round(float(s) + half, 3), **{lab: float(p) for lab, p in zip(self.label_names, row)}}
                for s, row in zip(starts, probs)]
        status = "ok" if rows else f"shorter than one {self.window_seconds:g} s window"
        return AudioTimeline(str(path), rows, status, track.duration, decoded)
