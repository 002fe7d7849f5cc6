"""Reading video frames: the one place a video file becomes pictures (PyAV, FFmpeg bindings from PyPI).

- Frames come out **as displayed**: a display matrix (phone videos store portrait clips coded landscape with a
  rotation of 90, 180 or 270 degrees, sometimes mirrored) is applied to every frame, and ``probe`` reports the
  displayed size. Crops are in pixels of the displayed frame.
- ``iter_frames`` *seeks* to the next sample when a keyframe is expected before it, so sampling an hour of 4K
  video at 0.2 fps does not decode every frame.
- Unreadable, empty or truncated videos raise one-line ``KernelLaughError``s naming the file.

Times are seconds from the start of the video stream. Boxes are ``(x, y, w, h)`` in pixels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from kernel_laugh.config import progress_bars
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.hardware import available_cpus
from kernel_laugh.readers.audio import VIDEO_EXTENSIONS
from kernel_laugh.readers.folders import walk_files

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the displayed frame

# Seeking costs a demuxer index lookup, a decoder flush and a restart from the previous keyframe, so it only
# pays when the next sample is well ahead and a keyframe is expected before it.
MIN_SEEK_GAP_S = 1.0


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int  # of the displayed frame
    height: int
    duration: float | None  # seconds; None when the container does not say
    fps: float | None  # the stream's average frame rate


# ---- reading ----------------------------------------------------------------------------------------------

def _open(path: str | Path) -> Any:
    """Open with PyAV, or a one-line error naming the file (missing, not a video, truncated header...)."""
    import av  # optional extra (video): PyAV, imported where used

    p = Path(path)
    if not p.is_file():
        raise KernelLaughError(f"{p}: no such video file")
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise KernelLaughError(f"{p}: not a readable video (truncated or not a video file: {_reason(err)})") from None
    if not container.streams.video:
        container.close()
        raise KernelLaughError(f"{p}: has no video stream")
    return container


def _reason(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return text.splitlines()[0] if text else type(err).__name__


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:  # microseconds (av.time_base); mkv keeps it here, not on the stream
        return container.duration / 1_000_000
    return None


def probe(path: str | Path) -> VideoInfo:
    """Displayed frame size (a display rotation applied), duration and frame rate; only the first frame is
    decoded (for the display matrix)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        orientation = _first_frame_orientation(path, container, stream)
        rate = stream.average_rate or stream.guessed_rate
        width, height = orientation.size(stream.codec_context.width, stream.codec_context.height)
        return VideoInfo(str(path), width, height, _duration(container, stream), float(rate) if rate else None)


def iter_frames(path: str | Path, fps: float, crop: Box | Callable[[int, int], Box] | None = None, *,
                progress: bool = False) -> Iterator[tuple[float, Image.Image]]:
    """Yield ``(time_s, RGB image)`` for frames sampled every ``1 / fps`` seconds.

    The frame yielded for a sample time is the decoded frame nearest to it (within half a source frame);
    a source frame is never yielded twice, so asking for more than the video's own rate gives each frame once.
    ``time_s`` is that frame's own presentation time. Frames are as displayed (display matrix applied).
    ``crop`` is ``(x, y, w, h)`` in the displayed frame, or a function of its (width, height) giving one. Raises ``KernelLaughError`` naming the file for unreadable, empty or truncated videos.
    """
    import av  # optional extra (video): PyAV, imported where used

    if not fps or fps <= 0:
        raise KernelLaughError(f"fps must be positive, got {fps}")
    step = 1.0 / fps
    with _open(path) as container:
        stream = container.streams.video[0]
        # Frame + slice threads decode several frames at once where there are cores to spare; on 2 CPUs they
        # decoded a 720p H.264 file 10-25% slower than slice threads alone (scripts/bench_serving.py).
        stream.thread_type = "AUTO" if available_cpus() > 2 else "SLICE"
        # The displayed size is known once the first frame (and its display matrix) is decoded; until then the
        # coded size stands in (a wrong crop fails at the first frame either way, before anything is yielded).
        box: Box | None = None
        duration = _duration(container, stream)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        tol = 0.5 / rate  # half a source frame: the nearest frame to a sample time counts as "at" it
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        expected = math.ceil(duration * fps - 1e-9) if duration else None  # sample times k / fps < duration
        bar = tqdm(total=expected, desc=f"frames {Path(path).name}", unit="frame", disable=not progress_bars(progress), leave=False)

        k, decoded, last_yield = 0, 0, -math.inf
        now = 0.0  # time of the last decoded frame
        # What is known about keyframes decides whether seeking pays: the last one decoded, and the longest
        # interval between two consecutive ones seen in one run of decoding. Until that interval is known, a
        # seek is tried; once one lands on a keyframe we had already passed, keyframes are sparse and decoding
        # goes on forward until the interval has been measured.
        last_key: float | None = None
        gop: float | None = None
        may_probe = True
        frames = container.decode(stream)
        try:
            while duration is None or k * step < duration:
                target = k * step
                if target - now > max(MIN_SEEK_GAP_S, 2 * tol) and (
                        may_probe if gop is None else last_key is not None and target >= last_key + gop):
                    before = now
                    container.seek(round((target + origin) / stream.time_base), stream=stream, backward=True)
                    frames = container.decode(stream)  # seek() flushed the decoder: a fresh iterator
                    last_key = None  # the next keyframe starts a new run; intervals across a seek mean nothing
                else:
                    before = None
                for frame in frames:  # decode forward to the frame nearest the target
                    decoded += 1
                    now = float(frame.time) - origin if frame.time is not None else target
                    if frame.key_frame:
                        if before is not None and last_key is None and now <= before:
                            may_probe = False  # the seek went back to a keyframe we had passed
                        if last_key is not None and now > last_key:
                            gop = max(gop or 0.0, now - last_key)
                        last_key = now
                    before = None
                    if now >= target - tol and now > last_yield:
                        break
                else:  # the stream ran dry before the target
                    _check_complete(path, target, duration, step, tol, decoded)
                    break
                # RGB from the stream's YUV, turned as displayed (the display matrix rides on every frame)
                image = _frame_orientation(frame).apply(frame.to_image())
                if box is None and crop is not None:
                    box = _resolve_box(crop, image.width, image.height, str(path))
                if box is not None:
                    x, y, w, h = box
                    image = image.crop((x, y, x + w, y + h))
                last_yield = now
                yield round(now, 3), image
                bar.update(1)
                # The next sample time after this frame (several may fall inside one frame when fps is high).
                k = max(k + 1, math.floor((now + tol) / step) + 1)
        except av.error.FFmpegError as err:
            raise KernelLaughError(f"{path}: corrupt video data near {now:.1f} s ({_reason(err)})") from None
        finally:
            bar.close()


def _check_complete(path: str | Path, target: float, duration: float | None, step: float, tol: float, decoded: int) -> None:
    """The decoder ran dry: fine at the end, an error if the header promised much more (a truncated file)."""
    if decoded == 0:
        raise KernelLaughError(f"{path}: no video frames could be decoded (empty or truncated video)")
    if duration is not None and target < duration - max(1.0, step, 4 * tol):
        raise KernelLaughError(f"{path}: video data ends at about {target:.1f} s but the file says it lasts "
                               f"{duration:.1f} s (truncated or corrupt)")


# ---- display matrix ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Orientation:
    """How a coded frame becomes the displayed one, as a right-angle display matrix says (libavutil/display.h):
    first ``transpose`` (swap x and y), then mirror left-right (``flip_x``) and / or top-bottom (``flip_y``).
    Every rotation by a multiple of 90 degrees, mirrored or not, is one of these eight."""

    transpose: bool = False
    flip_x: bool = False
    flip_y: bool = False

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_x or self.flip_y)

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The displayed (width, height) of a coded ``width`` x ``height`` frame."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, image: Image.Image) -> Image.Image:
        if self.identity:
            return image
        arr = np.asarray(image)  # (H, W, 3)
        if self.transpose:
            arr = arr.transpose(1, 0, 2)  # (W, H, 3): x' = y, y' = x
        if self.flip_x:
            arr = arr[:, ::-1]
        if self.flip_y:
            arr = arr[::-1]
        return Image.fromarray(np.ascontiguousarray(arr))


def orientation_from_matrix(matrix: Any) -> Orientation:
    """A display matrix (nine int32: a b u / c d v / x y w, 16.16 fixed point) → ``Orientation``.

    The matrix maps a coded point (p, q) to the displayed (p', q') = (a p + c q, b p + d q) (+ translation).
    Only right angles are honoured; another angle (never written by cameras) is ignored with a warning."""
    m = np.asarray(matrix, dtype=np.float64).reshape(-1)[:9] / 65536.0
    a, b, c, d = (float(np.round(v)) for v in (m[0], m[1], m[3], m[4]))
    if not np.allclose([a, b, c, d], [m[0], m[1], m[3], m[4]], atol=1e-3) or (a * d - b * c) == 0 or (a and b):
        logger.warning("display matrix %s is not a right-angle rotation: frames are used as coded", m[:6].tolist())
        return Orientation()
    if a == 0:  # x' = c q, y' = b p: transposed
        return Orientation(True, flip_x=c < 0, flip_y=b < 0)
    return Orientation(False, flip_x=a < 0, flip_y=d < 0)


def _frame_orientation(frame: Any) -> Orientation:
    for data in frame.side_data:
        if str(data.type).endswith("DISPLAYMATRIX"):
            return orientation_from_matrix(np.frombuffer(bytes(data), dtype=np.int32))
    return Orientation()


def _first_frame_orientation(path: str | Path, container: Any, stream: Any) -> Orientation:
    """The display matrix rides on the decoded frames (FFmpeg copies the stream's onto each): decode one."""
    import av  # optional extra (video): PyAV, imported where used

    try:
        frame = next(container.decode(stream), None)
    except av.error.FFmpegError as err:
        raise KernelLaughError(f"{path}: corrupt video data at the start ({_reason(err)})") from None
    if frame is None:
        raise KernelLaughError(f"{path}: no video frames could be decoded (empty or truncated video)")
    return _frame_orientation(frame)


def _resolve_box(crop: Box | Callable[[int, int], Box] | None, width: int, height: int, where: str) -> Box | None:
    if crop is None:
        return None
    box = crop(width, height) if callable(crop) else crop
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise KernelLaughError(f"{where}: crop x={x},y={y},w={w},h={h} does not fit inside its {width}x{height} frames")
    return x, y, w, h


def find_videos(root: str | Path) -> list[Path]:
    """Every video file under ``root`` (any depth; ``folders.walk_files``: hidden entries never, links once), sorted.
    Raises KernelLaughError when there is none."""
    scan = walk_files(root, lambda f: None if f.suffix.lower() in VIDEO_EXTENSIONS else f"not a video ({f.suffix or 'no extension'})")
    if not scan.kept:
        raise KernelLaughError(f"{root}: no video files found ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    return scan.kept


__all__ = ["Box", "Orientation", "VideoInfo", "find_videos", "iter_frames", "orientation_from_matrix", "probe"]
