"""The experts of the gated mixture, run on one clip over one time grid: brain, face and audio.

- **brain**: an image model (``kernel_laugh.inference.Predictor``) on the brain-render region of each frame
  (``video.REGIONS["brain"]``). Available when the region is not blank (a hidden panel is one flat colour).
- **face**: a face-expression image model on the largest face that OpenCV's Haar cascade finds in the person
  region (``video.REGIONS["person"]``). Its laughter signal is the model's positive class (``happy`` for
  FER-style models, ``smile``...), named by ``ExpertSpec.positive_label``. Available when a face is found.
- **audio**: the audio expert (``kernel_laugh.audio.predict.AudioPredictor``) on the soundtrack window centred on
  each step. Available when the file has an audio stream and the window is not silent.

``run_experts`` decodes a clip once on the grid (default 2 Hz): each frame is cut into the brain and person
regions, the image models run on batches of a whole clip's crops, and the soundtrack is read once. Every expert
gives its positive-class logit, its availability and a few quality features per step (``ExpertSteps``); a
missing modality is ``available = False`` with zeros, never a NaN.

Quality features (what a gate can use to judge how far to trust an expert at a step):

- ``brain.contrast``: standard deviation of the region's grey levels / 255; ``brain.colour``: share of strongly
  coloured pixels (HSV saturation > 0.5 and value > 0.3; activation blobs); ``brain.sharpness``:
  log(1 + variance of the Laplacian) of the grey region.
- ``face.box_area``: the face box's area as a share of the person region; ``face.sharpness``: log(1 + variance of
  the Laplacian) of the face crop resized to 64x64 (Pech-Pacheco et al. 2000's focus measure);
  ``face.confidence``: the Haar cascade's final-stage weight (OpenCV ``detectMultiScale3``).
- ``audio.loudness_db``: RMS level of the window in dBFS; ``audio.noise_floor_db``: the 10th percentile of the
  window's 20 ms RMS levels in dBFS (a steady noise bed raises it; speech and laughter have quiet gaps);
  ``audio.clipping``: the share of samples at full scale (|x| >= ``CLIP_LEVEL``: an overdriven recording).

Files are read only by the package's readers (frames: ``readers.frames``; sound: ``readers.audio``; CSV:
``readers.tables``). The weights file of a local expert is hashed, not parsed, for ``model_revision``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError
from PIL import Image

from kernel_laugh.audio.predict import AudioPredictor, is_audio_model
from kernel_laugh.config import NEGATIVE_LABEL
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.faces import HaarFaceDetector, crop_faces, largest_box
from kernel_laugh.fusion.steps import DEFAULT_GRID_HZ, MODALITIES, ExpertSteps
from kernel_laugh.hub import model_commit
from kernel_laugh.inference import Predictor
from kernel_laugh.readers.audio import AudioTrack, read_audio
from kernel_laugh.readers.frames import Box, iter_frames, probe
from kernel_laugh.readers.models import WEIGHTS_NAME, resolve_model_ref
from kernel_laugh.readers.segments import Segment, load_segments, segments_for
from kernel_laugh.readers.tables import read_csv
from kernel_laugh.video import region_box

logger = logging.getLogger(__name__)

# The region each image expert looks at by default (names of video.REGIONS).
DEFAULT_REGIONS: dict[str, str | None] = {"brain": "brain", "face": "person", "audio": None}
QUALITY_NAMES: dict[str, tuple[str, ...]] = {
    "brain": ("brain.contrast", "brain.colour", "brain.sharpness"),
    "face": ("face.box_area", "face.sharpness", "face.confidence"),
    "audio": ("audio.loudness_db", "audio.noise_floor_db", "audio.clipping"),
}
BLANK_STD = 6.0  # grey-level standard deviation (0-255) below which a brain region counts as blank (hidden panel)
CLIP_LEVEL = 0.95  # |sample| at or above this counts as clipped (AAC rings a little around a clipped plateau)
SILENCE_DB = -60.0  # RMS level (dBFS) below which an audio window counts as silent (muted)
DB_FLOOR = -120.0  # the level reported for digital silence (log of 0)
FACE_MARGIN = 0.2  # the face crop's margin, as faces.crop_faces (and predict --faces) use it
SHARPNESS_SIDE = 64  # the face crop is resized to this before the Laplacian, so sharpness does not grow with size
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] before the logit


# ---- specs and revisions -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExpertSpec:
    """One expert of a fusion model, as config.json records it.

    Attributes:
        modality: one of ``MODALITIES`` (brain, face, audio).
        model: the model folder or Hub id, as given.
        revision: ``model_revision(model)`` when the gate was trained: a Hub commit sha, or ``sha256:<hex16>`` of a
            local folder's weights.
        positive_label: the model label that means laughter (``laughter``, ``happy``, ``smile``...).
        region: for image experts, a ``video.REGIONS`` name or an ``(x, y, w, h)`` box in pixels of the frame;
            None for audio.
    """

    modality: str
    model: str
    revision: str
    positive_label: str
    region: str | Box | None = None

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise KernelLaughError(f"unknown expert modality {self.modality!r}; known: {list(MODALITIES)}")

    def to_dict(self) -> dict[str, Any]:
        return {"modality": self.modality, "model": self.model, "revision": self.revision,
                "positive_label": self.positive_label,
                "region": list(self.region) if isinstance(self.region, tuple) else self.region}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExpertSpec:
        """The inverse of ``to_dict``; a missing key is a one-line KernelLaughError."""
        missing = [k for k in ("modality", "model", "revision", "positive_label") if k not in data]
        if missing:
            raise KernelLaughError(f"expert entry {dict(data)} lacks {', '.join(missing)}")
        region = data.get("region")
        return cls(str(data["modality"]), str(data["model"]), str(data["revision"]), str(data["positive_label"]),
                   tuple(int(v) for v in region) if isinstance(region, (list, tuple)) else region)  # type: ignore[arg-type]

    @classmethod
    def for_model(cls, modality: str, model: str | Path, positive_label: str,
                  region: str | Box | None = None) -> ExpertSpec:
        """A spec with the model's current revision and the modality's default region."""
        return cls(modality, str(model), model_revision(model), positive_label,
                   region if region is not None else DEFAULT_REGIONS.get(modality))


def model_revision(ref: str | Path) -> str:
    """What identifies the exact weights of an expert: ``"sha256:<first 16 hex>"`` of a local folder's
    ``model.safetensors``, or the Hub commit sha of a Hub id (when offline: the sha of the copy in the local
    Hugging Face cache).

    Raises KernelLaughError: a damaged folder, or a Hub id that is neither reachable nor cached."""
    resolved = resolve_model_ref(ref)  # a mistyped or damaged folder: one line naming it
    folder = Path(resolved)
    if folder.is_dir():
        digest = hashlib.sha256()
        with (folder / WEIGHTS_NAME).open("rb") as fh:  # hashed as bytes, never parsed
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return f"sha256:{digest.hexdigest()[:16]}"
    return _hub_revision(resolved)


def _hub_revision(repo_id: str) -> str:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("1", "true", "yes", "on"):
        sha = model_commit(repo_id)
        if sha is not None:
            return sha
        logger.warning("%s: the Hub could not be reached; using the revision of the cached copy", repo_id)
    try:
        # local_files_only: the snapshot folder of the cached copy is named by its commit sha
        return Path(snapshot_download(repo_id, local_files_only=True)).name
    except LocalEntryNotFoundError:
        raise KernelLaughError(f"{repo_id}: the Hub cannot be reached and no copy is cached here, so its revision is "
                               f"unknown; download it once (`hf download {repo_id} --local-dir DIR`) and pass DIR") from None


# ---- runners -----------------------------------------------------------------------------------------------

def _positive_index(spec: ExpertSpec, labels: list[str]) -> int:
    """Index of the label that means laughter, or a one-line error naming the expert and its labels."""
    wanted = (spec.positive_label or "").strip()
    by_lower = {lab.lower(): i for i, lab in enumerate(labels)}
    if len(labels) >= 2 and wanted.lower() in by_lower:
        return by_lower[wanted.lower()]
    if len(labels) == 2 and not wanted:  # a binary model: the one label not named like a negative
        positive = [i for i, lab in enumerate(labels) if not NEGATIVE_LABEL.search(lab)]
        if len(positive) == 1:
            return positive[0]
    raise KernelLaughError(f"{spec.modality} expert {spec.model}: its labels {labels} cannot be mapped to laughter / "
                           f"non-laughter (no label {wanted or '(none named)'!r}); name the label that means laughter "
                           f"(e.g. laughter, happy, smile) as its positive label")


def _logit(p: np.ndarray) -> np.ndarray:
    """Positive-class probabilities (N,) → logits (N,) float32, clipped to [EPS, 1 - EPS] first."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return (np.log(q) - np.log1p(-q)).astype(np.float32)


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)  # (H, W) in 0-255


def laplacian_sharpness(grey: np.ndarray) -> float:
    """log(1 + variance of the 4-neighbour Laplacian) of a (H, W) grey image in 0-255; 0 for images under 3x3."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    lap = (grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1])  # (H-2, W-2)
    return float(np.log1p(lap.var()))


class _Expert:
    """Common to every expert: its spec, its loaded model, the index of its laughter class, its quality names."""

    needs_frames: bool

    def __init__(self, spec: ExpertSpec, predictor: Any):
        self.spec = spec
        self.predictor = predictor
        self.label_names = list(predictor.label_names)
        self.positive = _positive_index(spec, self.label_names)
        self.quality_names = QUALITY_NAMES[spec.modality]


class _ImageExpert(_Expert):
    """Common to the brain and face experts: a Predictor on a region of the frame."""

    needs_frames = True

    def __init__(self, spec: ExpertSpec, device: str | int | None):
        super().__init__(spec, Predictor(spec.model, device=device))

    def region(self, frame: Image.Image) -> Image.Image:
        """The expert's region of a whole frame (a ``video.REGIONS`` name scaled to the frame, or a box)."""
        region = self.spec.region or DEFAULT_REGIONS[self.spec.modality]
        x, y, w, h = region_box(region, *frame.size) if isinstance(region, str) else region
        return frame.crop((x, y, x + w, y + h))

    def logits(self, arrays: list[np.ndarray]) -> np.ndarray:
        """``prepare``d crops (N of (H, W, 3) uint8) → positive-class logits (N,) float32."""
        if not arrays:
            return np.zeros(0, np.float32)
        probs = self.predictor.predict_arrays(arrays).numpy()  # (N, K)
        return _logit(probs[:, self.positive])


class BrainExpert(_ImageExpert):
    """The brain-render model on the brain region."""

    def look(self, frame: Image.Image) -> tuple[np.ndarray | None, np.ndarray]:
        """(model input or None when the region is blank, quality (3,) float32) for one whole frame."""
        crop = self.region(frame)
        grey = _grey(crop)
        if grey.size == 0 or grey.std() < BLANK_STD:
            return None, np.zeros(len(self.quality_names), np.float32)
        hsv = np.asarray(crop.convert("HSV"), dtype=np.float32) / 255.0  # (H, W, 3)
        colour = float(np.mean((hsv[..., 1] > 0.5) & (hsv[..., 2] > 0.3)))
        quality = np.array([grey.std() / 255.0, colour, laplacian_sharpness(grey)], np.float32)
        return self.predictor.prepare(crop), quality


class FaceExpert(_ImageExpert):
    """The face-expression model on the largest face found in the person region."""

    def __init__(self, spec: ExpertSpec, device: str | int | None, detector: HaarFaceDetector | None = None):
        super().__init__(spec, device)
        self.detector = detector or HaarFaceDetector()

    def look(self, frame: Image.Image) -> tuple[np.ndarray | None, np.ndarray]:
        """(model input or None when no face is found, quality (3,) float32) for one whole frame."""
        region = self.region(frame)
        found = self.detector.detect_scored(region)
        if not found:
            return None, np.zeros(len(self.quality_names), np.float32)
        box = largest_box([b for b, _ in found])
        confidence = max(s for b, s in found if b == box)
        crop = crop_faces(region, [box], FACE_MARGIN)[0]  # type: ignore[list-item]
        sharp = laplacian_sharpness(_grey(crop.resize((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.BILINEAR)))
        area = box[2] * box[3] / float(region.width * region.height)  # type: ignore[index]
        return self.predictor.prepare(crop), np.array([area, sharp, confidence], np.float32)


class AudioExpert(_Expert):
    """The audio model on the soundtrack window centred on each step."""

    needs_frames = False

    def __init__(self, spec: ExpertSpec, device: str | int | None):
        super().__init__(spec, AudioPredictor(spec.model, device=device))

    def read(self, video: str | Path) -> AudioTrack | None:
        """The clip's soundtrack at the model's rate, or None when it has no audio stream."""
        return read_audio(video, self.predictor.sampling_rate)

    def listen(self, track: AudioTrack | None, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits (T,) float32, available (T,) bool, quality (T, 3) float32) for windows centred on ``times``.

        A window that would run past either end of the track is moved inside it; a track shorter than one window,
        or a window quieter than ``SILENCE_DB``, is unavailable."""
        t = len(times)
        logits, available = np.zeros(t, np.float32), np.zeros(t, bool)
        quality = np.zeros((t, len(self.quality_names)), np.float32)
        w = self.predictor.window_seconds
        if track is None or track.duration + 1e-9 < w or t == 0:
            return logits, available, quality
        # Starts on the 10 ms frame grid (window_features cuts frames there), kept inside the track.
        starts = np.clip(np.round((times - w / 2) / 0.01) * 0.01, 0.0, math.floor((track.duration - w) / 0.01) * 0.01)
        for i, s in enumerate(starts):
            window = track.segment(s, s + w)
            loud, floor = _levels(window, track.sampling_rate)
            quality[i] = (loud, floor, float(np.mean(np.abs(window) >= CLIP_LEVEL)) if len(window) else 0.0)
            available[i] = loud > SILENCE_DB
        quality[~available] = 0.0
        if available.any():
            probs = self.predictor.score_windows(track.samples, starts[available])  # (A, K)
            logits[available] = _logit(probs[:, self.positive])
        return logits, available, quality


def _levels(x: np.ndarray, sr: int) -> tuple[float, float]:
    """(RMS level, 10th percentile of the 20 ms RMS levels), both in dBFS, of mono samples ``x`` (N,)."""
    if not len(x):
        return DB_FLOOR, DB_FLOOR
    db = lambda power: float(max(DB_FLOOR, 10 * np.log10(max(power, 1e-30))))
    hop = max(1, int(0.02 * sr))
    n = len(x) // hop
    frames = x[: n * hop].astype(np.float64).reshape(n, hop) if n else x[None].astype(np.float64)  # (n, hop)
    powers = (frames ** 2).mean(axis=1)  # (n,)
    return db(float(np.mean(x.astype(np.float64) ** 2))), db(float(np.percentile(powers, 10)))


ExpertRunner = BrainExpert | FaceExpert | AudioExpert
_RUNNERS = {"brain": BrainExpert, "face": FaceExpert, "audio": AudioExpert}


def load_experts(specs: Sequence[ExpertSpec], device: str | int | None = None) -> dict[str, ExpertRunner]:
    """Load each expert's model: ``{modality: runner}`` in ``MODALITIES`` order.

    Raises KernelLaughError (one line) for two experts of one modality, an audio model given as an image expert or
    the reverse, and an expert whose labels cannot be mapped to laughter / non-laughter (naming it and its labels).
    """
    seen = [s.modality for s in specs]
    if dupes := sorted({m for m in seen if seen.count(m) > 1}):
        raise KernelLaughError(f"more than one {', '.join(dupes)} expert given; one per modality")
    runners: dict[str, ExpertRunner] = {}
    for spec in sorted(specs, key=lambda s: MODALITIES.index(s.modality)):
        audio = is_audio_model(spec.model)
        if audio != (spec.modality == "audio"):
            raise KernelLaughError(f"{spec.modality} expert {spec.model}: is {'an audio' if audio else 'an image'} model; "
                                   f"the {spec.modality} expert needs {'an audio' if spec.modality == 'audio' else 'an image'} model")
        runners[spec.modality] = _RUNNERS[spec.modality](spec, device)
    return runners


# ---- one clip ----------------------------------------------------------------------------------------------

def run_experts(video: str | Path, runners: Mapping[str, ExpertRunner], grid_hz: float = DEFAULT_GRID_HZ,
                segments: Sequence[Segment] | str | Path | None = None, *, positive_segment_label: str = "laughter",
                timings: dict[str, float] | None = None, progress: bool = False) -> ExpertSteps:
    """Every expert's logit, availability and quality at each step of ``video`` on a ``grid_hz`` grid.

    The video is decoded once (frames nearest ``k / grid_hz`` s, as ``video.iter_frames`` samples them; those
    frame times are the steps); the brain and face experts share the frames, the image models run on batches of the
    clip's crops, and the soundtrack is read once. ``segments`` (``labels.csv`` rows, or its path) label each step:
    1 inside a segment labelled ``positive_segment_label``, else 0. ``timings``, when given, is filled with wall
    seconds spent per part: ``decode``, ``brain``, ``face``, ``audio`` (audio decoding included).

    Raises KernelLaughError (one line naming the file): an unreadable video, a clip shorter than one grid step.
    A clip without an audio stream, or where no face is ever found, is not an error: that expert is unavailable.
    """
    path = Path(video)
    if not grid_hz or grid_hz <= 0:
        raise KernelLaughError(f"the time grid must be positive, got {grid_hz} Hz")
    names = [m for m in MODALITIES if m in runners]
    if not names:
        raise KernelLaughError(f"{path}: no experts to run")
    clock = timings if timings is not None else {}
    for key in ("decode", *names):
        clock.setdefault(key, 0.0)
    step = 1.0 / grid_hz
    info = probe(path)
    if info.duration is not None and info.duration + 1e-6 < step:
        raise KernelLaughError(f"{path}: the clip lasts {info.duration:.2f} s, shorter than one {step:g} s step of the "
                               f"{grid_hz:g} Hz grid")

    image = {m: r for m, r in runners.items() if m in names and r.needs_frames}
    times: list[float] = []
    inputs: dict[str, list[np.ndarray | None]] = {m: [] for m in image}
    quality: dict[str, list[np.ndarray]] = {m: [] for m in image}
    if image:
        frames = iter_frames(path, grid_hz, progress=progress)
        while True:
            began = time.perf_counter()
            item = next(frames, None)
            clock["decode"] += time.perf_counter() - began
            if item is None:
                break
            t, frame = item
            times.append(t)
            for m, runner in image.items():
                began = time.perf_counter()
                x, q = runner.look(frame)  # type: ignore[union-attr]
                inputs[m].append(x)
                quality[m].append(q)
                clock[m] += time.perf_counter() - began
    else:  # audio alone: the grid from the container's duration
        duration = info.duration or 0.0
        times = [k * step for k in range(math.ceil(duration * grid_hz - 1e-9))]
    if not times:
        raise KernelLaughError(f"{path}: no step of the {grid_hz:g} Hz grid could be read (empty clip)")
    grid = np.asarray(times, dtype=np.float64)  # (T,)

    t_len = len(grid)
    logits = np.zeros((t_len, len(names)), np.float32)
    available = np.zeros((t_len, len(names)), bool)
    q_names: list[str] = []
    q_cols: list[np.ndarray] = []
    for j, m in enumerate(names):
        runner = runners[m]
        began = time.perf_counter()
        if m in image:
            mask = np.array([x is not None for x in inputs[m]], bool)  # (T,)
            available[:, j] = mask
            logits[mask, j] = runner.logits([x for x in inputs[m] if x is not None])  # type: ignore[union-attr]
            q = np.stack(quality[m]).astype(np.float32)  # (T, Q)
        else:
            track = runner.read(path)  # type: ignore[union-attr]
            logits[:, j], available[:, j], q = runner.listen(track, grid)  # type: ignore[union-attr]
        clock[m] += time.perf_counter() - began
        q_names += runner.quality_names
        q_cols.append(q)
    for j, m in enumerate(names):
        if not available[:, j].any():
            logger.info("%s: the %s expert has no usable input anywhere in the clip", path.name, m)
    labels = None
    if segments is not None:
        rows = load_segments(segments) if isinstance(segments, (str, Path)) else list(segments)
        labels = step_labels(grid, segments_for(rows, path), positive_segment_label)
    return ExpertSteps(path.name, grid, tuple(names), logits, available, np.concatenate(q_cols, axis=1),
                       tuple(q_names), labels)


def step_labels(times: np.ndarray, segments: Sequence[Segment], positive: str = "laughter") -> np.ndarray:
    """(T,) int64: 1 where ``times`` fall in a ``[start, end)`` segment labelled ``positive``, else 0."""
    out = np.zeros(len(times), np.int64)
    for s in segments:
        if s.label == positive:
            out[(times >= s.start) & (times < s.end)] = 1
    return out


# ---- CSV ---------------------------------------------------------------------------------------------------

def steps_to_rows(steps: ExpertSteps) -> list[dict[str, Any]]:
    """One CSV row per step: ``clip``, ``time``, ``<expert>.logit``, ``<expert>.available`` (0/1), the quality
    columns and ``label`` (empty when unlabelled). Missing modalities are ``available`` 0 with 0 values."""
    rows = []
    for i in range(steps.n_steps):
        row: dict[str, Any] = {"clip": steps.clip, "time": round(float(steps.times[i]), 3)}
        for j, e in enumerate(steps.experts):
            row[f"{e}.logit"] = float(steps.logits[i, j])
            row[f"{e}.available"] = int(steps.available[i, j])
        for k, name in enumerate(steps.quality_names):
            row[name] = float(steps.quality[i, k])
        row["label"] = "" if steps.labels is None else int(steps.labels[i])
        rows.append(row)
    return rows


def read_steps_csv(path: str | Path, clip: str | None = None) -> ExpertSteps:
    """The ``steps_to_rows`` CSV of one clip back as ``ExpertSteps`` (read by ``readers.tables.read_csv``).

    ``clip`` picks one clip from a file of several (default: the file must hold one). Raises KernelLaughError
    naming the file: missing ``time`` column, no expert columns, a non-number cell, several clips and no ``clip``."""
    p = Path(path)
    table = read_csv(p, required=("time",))
    rows = table.rows
    clips = sorted({r.get("clip", "") for r in rows})
    if clip is not None:
        rows = [r for r in rows if r.get("clip", "") == clip]
    elif len(clips) > 1:
        raise KernelLaughError(f"{p}: holds {len(clips)} clips ({', '.join(clips[:4])}...); name one")
    experts = tuple(m for m in MODALITIES if f"{m}.logit" in table.columns)
    if not experts:
        raise KernelLaughError(f"{p}: no expert columns (expected e.g. brain.logit, brain.available)")
    q_names = tuple(c for c in table.columns if "." in c and c.split(".", 1)[0] in experts
                    and c.split(".", 1)[1] not in ("logit", "available"))

    def number(i: int, col: str) -> float:
        try:
            value = float(rows[i][col])
        except (KeyError, ValueError):
            raise KernelLaughError(f"{p}, line {table.line(i)}: {col} is {rows[i].get(col)!r}, not a number") from None
        if math.isnan(value):
            raise KernelLaughError(f"{p}, line {table.line(i)}: {col} is NaN; a missing modality is available 0")
        return value

    n = len(rows)
    times = np.array([number(i, "time") for i in range(n)], np.float64)
    logits = np.array([[number(i, f"{e}.logit") for e in experts] for i in range(n)], np.float32).reshape(n, len(experts))
    available = np.array([[number(i, f"{e}.available") for e in experts] for i in range(n)]).reshape(n, len(experts)) > 0.5
    quality = np.array([[number(i, c) for c in q_names] for i in range(n)], np.float32).reshape(n, len(q_names))
    logits[~available] = 0.0
    labelled = "label" in table.columns and n and all(r.get("label", "") != "" for r in rows)
    labels = np.array([int(number(i, "label")) for i in range(n)], np.int64) if labelled else None
    name = clip or (clips[0] if clips and clips[0] else p.stem)
    return ExpertSteps(name, times, experts, logits, available, quality, q_names, labels)


__all__ = [
    "QUALITY_NAMES",
    "AudioExpert",
    "BrainExpert",
    "ExpertRunner",
    "ExpertSpec",
    "FaceExpert",
    "laplacian_sharpness",
    "load_experts",
    "model_revision",
    "read_steps_csv",
    "run_experts",
    "step_labels",
    "steps_to_rows",
]
