"""Audio sources → windowed train / validation / test splits, and their loaders.

``--modality audio --dataset SRC`` accepts:

- ``sample``: the SYNTHETIC sound sample (``kernel_laugh.audio.sample``);
- a folder ``ROOT/<label>/*.wav|flac|mp3|ogg|...`` (one recording per file, labelled by its folder);
- a CSV ``file,start,end,label`` (segments of longer recordings; paths relative to the CSV; times in seconds or
  mm:ss; an optional ``--group-column`` column, else the file is the group);
- a video or audio file with ``--segments LABELS.csv``, the same ``start,end,label[,video]`` file that
  ``kernel-laugh frames`` takes, so one set of labels serves every expert;
- a Hub id of a ``datasets`` audio dataset (an ``audio`` column and a label column; decoded by the same reader).

Every labelled stretch is cut into fixed windows (``--window-seconds``, default 1 s, every ``--hop-seconds``,
default 0.5 s); a stretch shorter than one window is left out and listed. Each window row keeps its source
recording (``recording``), and the split keeps every recording on one side (``data.split_indices`` with groups),
so overlapping windows of one recording never sit in both train and test.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from kernel_laugh.audio.features import log_mel_frames, window_features, window_starts
from kernel_laugh.audio.sample import LABEL_NAMES, SYNTHETIC_NOTE, generate_audio_sample
from kernel_laugh.config import NEGATIVE_LABEL, DataConfig
from kernel_laugh.data import (
    LABEL_COLUMNS,
    PreparedData,
    clean_label,
    group_values,
    split_indices,
)
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.audio import (
    AUDIO_EXTENSIONS,
    VIDEO_EXTENSIONS,
    AudioTrack,
    find_audio_files,
    require_audio,
)
from kernel_laugh.readers.models import HUB_HTTP_ERROR
from kernel_laugh.readers.segments import load_segments, parse_time, segments_for
from kernel_laugh.readers.tables import read_csv

logger = logging.getLogger(__name__)

GROUP_COLUMN = "recording"  # the default group: every window of one recording on the same side of the split


@dataclass(frozen=True)
class Span:
    """A labelled stretch of a recording: seconds ``start``-``end`` of ``track``, with its group id."""

    track: AudioTrack
    start: float
    end: float
    label: str
    group: str


# ---- sources -----------------------------------------------------------------------------------------------

def _sample_spans(cfg: DataConfig) -> Iterator[Span]:
    for rec in generate_audio_sample(cfg.sample_size, seed=cfg.split_seed, sr=cfg.sampling_rate):
        track = AudioTrack(rec.samples, cfg.sampling_rate, f"SYNTHETIC:{rec.recording}:{rec.kind}", 1, cfg.sampling_rate)
        yield Span(track, 0.0, track.duration, LABEL_NAMES[rec.label], rec.recording)


def _folder_spans(root: Path, cfg: DataConfig, skipped: list[str]) -> Iterator[Span]:
    files = find_audio_files(root)
    bad = 0
    for path, label in files:
        try:
            track = require_audio(path, cfg.sampling_rate)
        except KernelLaughError as err:
            skipped.append(str(err))
            bad += 1
            continue
        yield Span(track, 0.0, track.duration, clean_label(label), path.relative_to(root).as_posix())
    if bad > cfg.max_corrupt_fraction * len(files):
        raise KernelLaughError(f"{root}: {bad} of {len(files)} audio files are unreadable (more than "
                               f"--max-corrupt-fraction {cfg.max_corrupt_fraction}):\n  " + "\n  ".join(skipped[:10]))


def _csv_spans(path: Path, cfg: DataConfig) -> Iterator[Span]:
    table = read_csv(path, required=("file", "start", "end", "label"))
    group_col = table.column(cfg.group_column) if cfg.group_column and cfg.group_column != GROUP_COLUMN else None
    tracks: dict[str, AudioTrack] = {}
    for i, row in enumerate(table.rows):
        name = row[table.column("file")].strip()
        try:
            start, end = parse_time(row[table.column("start")]), parse_time(row[table.column("end")])
        except ValueError as err:
            raise KernelLaughError(f"{path}, line {table.line(i)}: {err}") from None
        label = row[table.column("label")].strip()
        if not label or end <= start:
            raise KernelLaughError(f"{path}, line {table.line(i)}: needs a label and end > start")
        if name not in tracks:
            tracks[name] = require_audio((path.parent / name).resolve(), cfg.sampling_rate)
        group = row[group_col].strip() if group_col else name
        yield Span(tracks[name], start, min(end, tracks[name].duration), label, group)


def _media_spans(path: Path, cfg: DataConfig) -> Iterator[Span]:
    if not cfg.segments:
        raise KernelLaughError(f"{path}: a single recording needs its labels: add --segments LABELS.csv "
                               "(start,end,label, the file `kernel-laugh frames` takes)")
    track = require_audio(path, cfg.sampling_rate)
    segments = segments_for(load_segments(cfg.segments), path)
    if not segments:
        raise KernelLaughError(f"{cfg.segments}: no segment applies to {path.name}")
    for s in segments:
        # Each labelled segment is its own group: as `frames` does, so one segment never sits on two sides.
        yield Span(track, s.start, min(s.end, track.duration), s.label, f"{path.name}@{s.start:.3f}")


def _hub_spans(name: str, cfg: DataConfig) -> Iterator[Span]:
    try:
        raw = datasets.load_dataset(name)
    except (OSError, ValueError, HUB_HTTP_ERROR) as err:  # not found / offline (OSError), a malformed name (ValueError)
        raise KernelLaughError(f"{name!r} is not a local folder or file, and loading it as a Hub dataset failed "
                               f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); check the "
                               "name or connect to the internet") from err
    for split, ds in (raw.items() if isinstance(raw, datasets.DatasetDict) else [("train", raw)]):
        audio_col = next((c for c, f in ds.features.items() if isinstance(f, datasets.Audio)), None)
        label_col = cfg.label_column or next((c for c in LABEL_COLUMNS if c in ds.column_names), None)
        if audio_col is None or label_col is None:
            raise KernelLaughError(f"{name} [{split}]: needs an Audio column and a label column (found {ds.column_names})")
        names = ds.features[label_col].names if isinstance(ds.features[label_col], datasets.ClassLabel) else None
        # decode=False: the raw file bytes, decoded by our one reader (datasets' decoder would need torchcodec).
        ds = ds.cast_column(audio_col, datasets.Audio(decode=False))
        for i, row in enumerate(ds):
            ref = row[audio_col]
            where = f"{name}[{split}][{i}]"
            source = io.BytesIO(ref["bytes"]) if ref.get("bytes") else ref["path"]
            track = require_audio(source, cfg.sampling_rate, name=where)
            label = names[row[label_col]] if names else str(row[label_col])
            group = str(row[cfg.group_column]) if cfg.group_column in ds.column_names else where
            yield Span(track, 0.0, track.duration, label, group)


def load_spans(cfg: DataConfig, skipped: list[str]) -> Iterator[Span]:
    """The labelled stretches named by ``cfg.dataset`` (see the module docstring); unreadable folder files go to
    ``skipped``."""
    if cfg.dataset == "sample":
        return _sample_spans(cfg)
    path = Path(cfg.dataset).expanduser()
    if path.is_dir():
        return _folder_spans(path, cfg, skipped)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _csv_spans(path, cfg)
    if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS | VIDEO_EXTENSIONS:
        return _media_spans(path, cfg)
    if path.exists() or path.suffix or cfg.dataset.startswith((".", "/", "~")):
        raise KernelLaughError(f"{cfg.dataset}: not an audio folder, a file,start,end,label CSV, an audio/video file "
                               "(with --segments) or a Hub dataset id")
    return _hub_spans(cfg.dataset, cfg)


# ---- windows and splits ------------------------------------------------------------------------------------

def _windows(spans: Iterator[Span], cfg: DataConfig, skipped: list[str]) -> dict[str, list]:
    rows: dict[str, list] = {"audio": [], "label": [], GROUP_COLUMN: [], "source": [], "start": []}
    # Samples stay in memory (one array below), not in Arrow: 1000 windows of 16000 floats convert in ms, not s.
    n = int(round(cfg.window_seconds * cfg.sampling_rate))
    for span in spans:
        starts = span.start + window_starts(span.end - span.start, cfg.window_seconds, cfg.hop_seconds)
        if not len(starts):
            skipped.append(f"{span.track.source} {span.start:.2f}-{span.end:.2f} s ({span.label}): shorter than one "
                           f"{cfg.window_seconds:g} s window")
        for s in starts:
            a = int(round(s * cfg.sampling_rate))
            w = np.zeros(n, np.float32)  # a window running past the track's end (the last one) is zero-padded
            chunk = span.track.samples[a:a + n]
            w[:len(chunk)] = chunk
            rows["audio"].append(w)
            rows["label"].append(span.label)
            rows[GROUP_COLUMN].append(span.group)
            rows["source"].append(span.track.source)
            rows["start"].append(float(s))
    return rows


def _label_order(labels: list[str]) -> list[str]:
    """Negative-looking names (non-/no-/neutral/background...) first, so a binary model's class 1 is the sound
    being detected (e.g. laughter), as in `frames`; otherwise alphabetical."""
    return sorted(set(labels), key=lambda name: (not NEGATIVE_LABEL.search(name), name))


@dataclass
class AudioData(PreparedData):
    """``PreparedData`` whose rows are windows: ``windows`` (N, window_seconds * sampling_rate) float32 holds the
    samples, and each split's ``window`` column indexes into it."""

    windows: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def samples(self, split: str) -> np.ndarray:
        """(n, window samples) float32: the windows of ``split``, in row order."""
        return self.windows[np.asarray(self.splits[split]["window"], dtype=int)]


def prepare_audio_data(cfg: DataConfig) -> AudioData:
    """Any audio source → train / validation / test splits of windows.

    Each row: ``window`` (index into ``AudioData.windows``), ``label`` (ClassLabel), ``recording`` (group),
    ``source`` (file) and ``start`` (s). ``extra["audio"]`` records sampling rate, window, hop and the sounds."""
    skipped: list[str] = []
    rows = _windows(load_spans(cfg, skipped), cfg, skipped)
    if not rows["audio"]:
        raise KernelLaughError(f"{cfg.dataset}: no audio windows of {cfg.window_seconds:g} s (every recording is shorter, "
                               "or there are none)")
    names = _label_order(rows["label"])
    if len(names) < 2:
        raise KernelLaughError(f"{cfg.dataset}: only one class ({names[0]!r}); a classifier needs at least two")
    windows = np.stack(rows.pop("audio"))  # (N, samples)
    rows["window"] = list(range(len(windows)))
    rows["label"] = [names.index(x) for x in rows["label"]]
    features = datasets.Features({"label": datasets.ClassLabel(names=names), GROUP_COLUMN: datasets.Value("string"),
                                  "source": datasets.Value("string"), "start": datasets.Value("float32"),
                                  "window": datasets.Value("int64")})
    ds = datasets.Dataset.from_dict(rows, features=features)
    group_col = cfg.group_column if cfg.group_column in ds.column_names else GROUP_COLUMN
    tr, va, te = split_indices(np.array(ds["label"]), group_values(ds, group_col),
                               (cfg.validation_fraction, cfg.test_fraction), cfg.split_seed)
    splits = datasets.DatasetDict({"train": ds.select(tr), "validation": ds.select(va), "test": ds.select(te)})
    synthetic = cfg.dataset == "sample"
    desc = (f"validation, test carved from the windows: seeded split (seed {cfg.split_seed}) grouped by {group_col!r} "
            f"(no recording on two sides); windows of {cfg.window_seconds:g} s every {cfg.hop_seconds:g} s")
    extra = {"modality": "audio", "audio": {
        "sampling_rate": cfg.sampling_rate, "window_seconds": cfg.window_seconds, "hop_seconds": cfg.hop_seconds,
        "sounds": _describe(synthetic, cfg), "recordings": len(set(rows[GROUP_COLUMN])), "windows": len(ds)}}
    logger.info("%s: %d windows from %d recordings", cfg.dataset, len(ds), extra["audio"]["recordings"])
    return AudioData(splits, names, desc, skipped, extra=extra, windows=windows)


def _describe(synthetic: bool, cfg: DataConfig) -> str:
    if synthetic:
        return SYNTHETIC_NOTE
    return f"audio from {cfg.dataset}, decoded with PyAV (FFmpeg), downmixed to mono, resampled to {cfg.sampling_rate} Hz"


# ---- loaders -----------------------------------------------------------------------------------------------

class WindowFeatures(torch.utils.data.Dataset):
    """Items ``(input_values (max_length, num_mel_bins) float32, label)``; keys are indices or the
    ``(index, seed)`` pairs an ``EpochSampler`` yields (audio windows are not augmented, so the seed is unused)."""

    def __init__(self, features: np.ndarray, labels: np.ndarray):
        self.features, self.labels = torch.from_numpy(features), torch.as_tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i = key[0] if isinstance(key, tuple) else key
        return self.features[int(i)], self.labels[int(i)]


def split_features(samples: np.ndarray, fe: Any, window_s: float) -> np.ndarray:
    """The model's input for every window (n, window samples): (n, max_length, num_mel_bins) float32, as the
    extractor would compute it for each window (``features.window_features``)."""
    out = np.zeros((len(samples), fe.max_length, fe.num_mel_bins), np.float32)
    for i, w in enumerate(samples):
        out[i] = window_features(log_mel_frames(w, fe), np.zeros(1), fe, window_s)[0]
    return out
