"""Windows and features: how a waveform becomes the model's input, the same way in training, predict, timeline.

The model's own feature extractor (``ASTFeatureExtractor``, saved as ``preprocessor_config.json``) defines the
features: Kaldi-style log-mel filter banks (25 ms frames every 10 ms, Hann window, pre-emphasis 0.97, DC offset
removed), padded or cut to ``max_length`` frames and normalised with its ``mean`` / ``std``. Without torchaudio it
computes them with ``transformers.audio_utils`` in NumPy, one frame at a time (about 20 ms per 1 s window here).

A long recording is scored in overlapping windows. Frames are computed independently of each other, so
``track_features`` computes every 10 ms frame of the whole track once, in one vectorised pass, and cuts the
windows out of it: for window starts on the 10 ms frame grid this equals running the extractor on each window
(``tests/test_audio.py`` checks the pipeline's probabilities against it within 1e-4), at a fraction of the cost
(each frame is computed once instead of window/hop times, and not in a Python loop).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy import fft  # pocketfft in C++ with float32 transforms: ~5x numpy.fft's time here (2.4 ms per s of audio)
from transformers import ASTFeatureExtractor

from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

FRAME_LENGTH_S = 0.025  # Kaldi fbank defaults, as ASTFeatureExtractor uses them
FRAME_SHIFT_S = 0.010
PREEMPHASIS = 0.97
MEL_FLOOR = 1.192092955078125e-07  # float32 epsilon, the extractor's floor before the log


def window_frames(window_s: float) -> int:
    """The feature extractor's ``max_length`` for windows of ``window_s`` seconds: one frame per 10 ms."""
    return int(round(window_s / FRAME_SHIFT_S))


def window_starts(duration: float, window_s: float, hop_s: float) -> np.ndarray:
    """Start times (s) of windows of ``window_s`` every ``hop_s`` covering ``duration`` seconds: (W,) float.

    Starts are on the 10 ms frame grid. When the hops leave a tail, a last window ending at the track's end is
    added, so every sample is scored. A track shorter than one window has no windows (empty array)."""
    if duration + 1e-9 < window_s:
        return np.zeros(0)
    n = int(math.floor((duration - window_s) / hop_s + 1e-9)) + 1
    starts = np.arange(n) * hop_s
    last = math.floor((duration - window_s) / FRAME_SHIFT_S + 1e-9) * FRAME_SHIFT_S
    if last - starts[-1] > 1e-6:
        starts = np.append(starts, last)
    return np.round(starts, 6)


def make_feature_extractor(sampling_rate: int, window_s: float, num_mel_bins: int) -> Any:
    """An ``ASTFeatureExtractor`` for ``window_s``-second windows (``max_length`` frames of ``num_mel_bins`` mels)."""
    return ASTFeatureExtractor(sampling_rate=sampling_rate, num_mel_bins=num_mel_bins,
                               max_length=window_frames(window_s))


def _check_extractor(fe: Any) -> None:
    name = type(fe).__name__
    if name != "ASTFeatureExtractor":
        raise KernelLaughError(f"audio models here use ASTFeatureExtractor features; this model's extractor is {name}")


def log_mel_frames(samples: np.ndarray, fe: Any) -> np.ndarray:
    """Every 10 ms log-mel frame of ``samples`` (N,) at ``fe.sampling_rate``: (F, num_mel_bins) float32, equal (to
    float32 precision) to ``transformers.audio_utils.spectrogram`` with the extractor's settings, all frames at once."""
    _check_extractor(fe)
    sr = fe.sampling_rate
    length, shift = int(round(FRAME_LENGTH_S * sr)), int(round(FRAME_SHIFT_S * sr))
    # float32 throughout (the extractor works in float64): the log-mels differ by ~1e-6, far below the 1e-4 that
    # tests/test_audio.py allows between predict and pipeline, at half the memory traffic.
    x = np.asarray(samples, dtype=np.float32)
    if len(x) < length:
        return np.zeros((0, fe.num_mel_bins), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, length)[::shift]  # (F, 400): views, no copy
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove each frame's DC offset
    emphasised = np.empty_like(frames)
    emphasised[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
    emphasised[:, 0] = frames[:, 0] * (1 - PREEMPHASIS)
    emphasised *= fe.window.astype(np.float32)  # (400,) Hann window
    fft_length = 1 << (length - 1).bit_length()  # 512 for 400 samples
    spectrum = fft.rfft(emphasised, n=fft_length, axis=1)  # (F, 257) complex64
    power = spectrum.real ** 2 + spectrum.imag ** 2
    return np.log(np.maximum(np.float32(MEL_FLOOR), power @ fe.mel_filters.astype(np.float32)))  # (F, M)


def window_features(frames: np.ndarray, starts_s: np.ndarray, fe: Any, window_s: float) -> np.ndarray:
    """The extractor's input for each ``window_s``-second window: (W, max_length, M) float32, cut from
    ``log_mel_frames`` output.

    A window starting at ``s`` seconds covers frames ``s/10ms`` onwards: as many as fit in the window's samples,
    then zero padding up to ``max_length`` (as the extractor pads a short clip; an AudioSet AST's 1024 frames
    hold 10.24 s), then ``(x - mean) / (2 std)``."""
    sr = fe.sampling_rate
    length, shift = int(round(FRAME_LENGTH_S * sr)), int(round(FRAME_SHIFT_S * sr))
    window_samples = int(round(window_s * sr))
    per_window = min(fe.max_length, (window_samples - length) // shift + 1)  # frames inside one window
    out = np.zeros((len(starts_s), fe.max_length, frames.shape[1]), dtype=np.float32)
    for i, s in enumerate(starts_s):
        first = int(round(s / FRAME_SHIFT_S))
        chunk = frames[first:first + per_window]
        out[i, :len(chunk)] = chunk
    if fe.do_normalize:
        out = (out - np.float32(fe.mean)) / np.float32(fe.std * 2)
    return out


def windows_of(samples: np.ndarray, starts_s: np.ndarray, window_s: float, sr: int) -> list[np.ndarray]:
    """The raw samples of each window, zero-padded to ``window_s`` at the end: list of (window_s * sr,) float32."""
    n = int(round(window_s * sr))
    out = []
    for s in starts_s:
        a = int(round(s * sr))
        w = np.zeros(n, np.float32)
        chunk = samples[a:a + n]
        w[:len(chunk)] = chunk
        out.append(w)
    return out
