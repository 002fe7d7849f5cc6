"""Video in, frames and timelines out: sample a recording at F frames per second (PyAV), crop a region,
turn it into a labelled ImageFolder, or run a model over it and find the laughter segments.

Three modules, one job each (this package re-exports their public names, so ``kernel_laugh.video.find_segments``
and friends keep working):

- ``kernel_laugh.video.decoding``: ``iter_frames``, ``probe``, the named ``REGIONS`` / ``region_box``, ``parse_crop``;
- ``kernel_laugh.video.export``: ``export_frames`` (``kernel-laugh frames``), ``write_video``, ``write_sample_clip``;
- ``kernel_laugh.video.timeline``: ``predict_timeline``, ``find_segments``, ``write_timeline``,
  ``default_segment_label``, ``summarise_segments`` (``kernel-laugh timeline`` and the Space's video tab).

Times are seconds from the start of the video stream. Crops are ``(x, y, w, h)`` in pixels of the displayed frame.
"""

from kernel_laugh.readers.segments import (
    Segment,
    load_segments,
    parse_time,
    segments_for,
)
from kernel_laugh.video.decoding import (
    REGIONS,
    VideoInfo,
    iter_frames,
    parse_crop,
    probe,
    region_box,
)
from kernel_laugh.video.export import export_frames, write_sample_clip, write_video
from kernel_laugh.video.timeline import (
    default_segment_label,
    find_segments,
    predict_timeline,
    summarise_segments,
    write_timeline,
)

__all__ = ["REGIONS", "Segment", "VideoInfo", "default_segment_label", "export_frames", "find_segments", "iter_frames",
           "load_segments", "parse_crop", "parse_time", "predict_timeline", "probe", "region_box", "segments_for",
           "summarise_segments", "write_sample_clip", "write_timeline", "write_video"]
