"""Reading sound: the one audio reader of the package (audio files and the soundtracks of videos).

PyAV (FFmpeg) decodes the first audio stream of any file it can open: WAV, FLAC, MP3, OGG/Vorbis/Opus, M4A/AAC,
and the soundtrack of MP4/MKV/WebM videos; mono, stereo or 5.1; any rate from 8 to 96 kHz. FFmpeg's resampler
(``av.AudioResampler``) downmixes to mono float32 and resamples to the model's rate. No torchaudio (its releases
pin older torch versions).

Alignment: the samples are placed on the *video's* clock. A soundtrack whose stream starts later than the video
stream (an MP4 edit list, a delayed audio track) is padded with silence in front; one that starts earlier is
trimmed, so ``samples[i]`` is the sound at ``i / sampling_rate`` seconds on the same time axis as the frames that
``kernel_laugh.video.iter_frames`` yields. An audio-only file has its own clock (its first sample is time 0).

A file without an audio stream is not an error: ``read_audio`` returns ``None`` ("modality missing").
Unreadable, truncated and undecodable files raise a one-line :class:`KernelLaughError` naming the file.
"""

from __future__ import annotations

import logging
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.folders import subfolders, walk_files

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mka"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v"})
# A decoded stream shorter than its header's duration by more than this share (and more than 0.2 s) is truncated.
TRUNCATION_TOLERANCE = 0.1


@dataclass(frozen=True)
class AudioTrack:
    """Mono sound on the video's clock: ``samples`` (N,) float32 in [-1, 1] at ``sampling_rate`` Hz, where
    ``samples[0]`` is at time 0 s; ``source`` is the file it came from; ``channels`` and ``source_rate`` what
    the file had before the downmix and resampling."""

    samples: np.ndarray
    sampling_rate: int
    source: str
    channels: int
    source_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sampling_rate

    def segment(self, start: float, end: float) -> np.ndarray:
        """The samples from ``start`` to ``end`` seconds, (M,) float32 (clipped to the track)."""
        a = max(0, round(start * self.sampling_rate))
        b = min(len(self.samples), round(end * self.sampling_rate))
        return self.samples[a:max(a, b)]


def _reason(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return text.splitlines()[0] if text else type(err).__name__


def has_audio(path: str | Path) -> bool:
    """Whether the file has an audio stream (only the header is read)."""
    import av  # optional extra (video): PyAV, imported where used

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as err:
        raise KernelLaughError(f"{path}: not a readable audio or video file ({_reason(err)})") from None


def read_audio(path: str | Path | BinaryIO, sampling_rate: int = 16000, *, name: str | None = None) -> AudioTrack | None:
    """Decode the first audio stream of ``path``, downmixed to mono and resampled to ``sampling_rate`` Hz, on the
    video's clock (see the module docstring). Returns None when the file has no audio stream.

    Raises KernelLaughError (one line, naming the file) when the file is missing, is not a media file, is
    truncated (decodes to less than its header's duration), or its audio codec cannot be decoded. ``path`` may
    be an open binary file (e.g. ``io.BytesIO`` of a dataset row's bytes); ``name`` then names it in messages."""
    import av  # optional extra (video): PyAV, imported where used

    p = Path(name) if name else Path(path) if isinstance(path, (str, Path)) else Path("<audio bytes>")
    if isinstance(path, (str, Path)) and not Path(path).is_file():
        raise KernelLaughError(f"{p}: no such audio or video file")
    try:
        container = av.open(str(path) if isinstance(path, (str, Path)) else path)
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise KernelLaughError(f"{p}: not a readable audio or video file ({_reason(err)})") from None
    return _decode(container, p, sampling_rate)


def _decode(container, p: Path, sampling_rate: int) -> AudioTrack | None:
    import av  # optional extra (video): PyAV, imported where used

    with container:
        if not container.streams.audio:
            logger.info("%s: no audio stream", p)
            return None
        stream = container.streams.audio[0]
        codec = stream.codec_context
        if codec is None or not getattr(codec, "name", None):
            raise KernelLaughError(f"{p}: the audio codec is unknown to FFmpeg here; convert the file (e.g. to WAV or FLAC)")
        channels, rate = int(codec.channels or 0), int(codec.sample_rate or 0)
        video = container.streams.video[0] if container.streams.video else None
        # The reference clock: the video stream's first timestamp; for an audio-only file, the audio's own.
        origin_stream = video if video is not None and video.start_time is not None else stream
        origin = float(origin_stream.start_time * origin_stream.time_base) if origin_stream.start_time is not None else 0.0
        # format "flt" = packed float32; layout "mono" = FFmpeg's downmix (5.1 → mono uses its standard matrix).
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = float(frame.time)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))  # (1, n) packed mono → (n,)
            for out in resampler.resample(None):  # flush the resampler's delay line
                chunks.append(out.to_ndarray().reshape(-1))
        except (av.error.FFmpegError, ValueError) as err:
            raise KernelLaughError(f"{p}: the audio stream ({codec.name}) could not be decoded: {_reason(err)} "
                                   "(corrupt or truncated file?)") from None
        declared = _declared_duration(container, stream)
    # FFmpeg sizes a WAV's stream by the bytes present, so a cut-off WAV looks complete to it; the RIFF header's
    # frame count says how long the file was meant to be (PCM WAVs; other encodings skip this check).
    declared = max(declared or 0.0, _wav_header_duration(p) or 0.0) or None
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if not len(samples):
        raise KernelLaughError(f"{p}: the audio stream ({codec.name}) decoded to no samples (empty, corrupt or truncated)")
    got = len(samples) / sampling_rate
    if declared and got < declared * (1 - TRUNCATION_TOLERANCE) and declared - got > 0.2:
        raise KernelLaughError(f"{p}: truncated audio: decoded {got:.2f} s of the {declared:.2f} s its header declares")
    # Place the first sample on the reference clock: pad with silence if the audio starts late, trim if early.
    shift = round(((first_time if first_time is not None else origin) - origin) * sampling_rate)
    if shift > 0:
        samples = np.concatenate([np.zeros(shift, np.float32), samples])
    elif shift < 0:
        samples = samples[-shift:]
    np.clip(samples, -1.0, 1.0, out=samples)
    return AudioTrack(samples, sampling_rate, str(p), channels, rate)


def _wav_header_duration(p: Path) -> float | None:
    if p.suffix.lower() != ".wav" or not p.is_file():
        return None
    try:
        with wave.open(str(p)) as fh:
            return fh.getnframes() / fh.getframerate() if fh.getframerate() else None
    except (wave.Error, EOFError):  # not PCM (float, ADPCM...) or a damaged header: FFmpeg's verdict stands
        return None


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:  # microseconds; some containers keep it here only
        return container.duration / 1_000_000
    return None


def require_audio(path: str | Path | BinaryIO, sampling_rate: int = 16000, *, name: str | None = None) -> AudioTrack:
    """``read_audio`` where sound is required (training data, ``predict``): no audio stream is an error."""
    track = read_audio(path, sampling_rate, name=name)
    if track is None:
        raise KernelLaughError(f"{name or path}: has no audio stream")
    return track


def find_audio_files(root: str | Path) -> list[tuple[Path, str]]:
    """``(file, class folder name)`` for every audio file under ``root/<class>/`` (any depth), sorted. The folder
    walk is ``folders.walk_files``'s, as for images: hidden entries are never data, symlinked folders are followed
    once. Raises KernelLaughError when there are none."""
    base = Path(root)
    seen: set[tuple[int, int]] = set()  # shared by the class folders: a file linked into two classes counts once
    found = []
    for d in subfolders(base):
        scan = walk_files(d, lambda f: None if f.suffix.lower() in AUDIO_EXTENSIONS else f"not audio ({f.suffix or 'no extension'})", seen)
        found += [(f, d.name) for f in scan.kept]
    if not found:
        raise KernelLaughError(f"{base}: no audio files found (expected one subfolder per class, e.g. non-laughter/ "
                               f"and laughter/, holding {', '.join(sorted(AUDIO_EXTENSIONS))} files)")
    return found


def write_wav(path: str | Path, samples: np.ndarray, sampling_rate: int) -> Path:
    """Write mono float samples in [-1, 1] as a 16-bit PCM WAV file (synthetic samples, test clips)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(np.asarray(samples, dtype=np.float64), -1, 1) * 32767).astype("<i2")
    with wave.open(str(p), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(int(sampling_rate))
        fh.writeframes(pcm.tobytes())
    return p
