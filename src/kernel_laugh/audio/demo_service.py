"""What the Space's page does for an audio expert, without gradio (tests call it directly): a recording or a
video's soundtrack → the clip's probabilities, P(laughter) over time and the segments (the same hysteresis as
the image timeline). ``kernel_laugh.audio.demo`` wires it to the page; serving side only (audio.predict,
video's segment finder, plots)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kernel_laugh.audio.predict import AudioPredictor
from kernel_laugh.demo_service import read_eval_results
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.plots import timeline_figure
from kernel_laugh.video import default_segment_label, find_segments

logger = logging.getLogger(__name__)


class AudioDemo:
    """One loaded audio model and the function behind both of its tabs."""

    def __init__(self, model: str | Path, device: str | int | None = None):
        self.predictor = AudioPredictor(model, device=device)
        self.label = default_segment_label(self.predictor.label_names)
        results = read_eval_results(model)
        self.synthetic = bool(results and results.get("synthetic"))

    def analyse(self, path: str | Path | None) -> tuple[dict[str, float], Any, list[list[float]], str]:
        """(clip probabilities, timeline figure, segment rows [start, end, peak, mean], status line) for a file."""
        if not path:
            raise KernelLaughError("no recording: upload a file or record with the microphone")
        track = self.predictor.timeline(path)
        if track.status == "no audio":
            return {}, None, [], f"{Path(path).name}: no audio stream (an empty audio track)"
        if not track.rows:
            raise KernelLaughError(f"{Path(path).name}: {track.duration:.2f} s of audio, shorter than one "
                                   f"{self.predictor.window_seconds:g} s window")
        names = self.predictor.label_names
        clip = {lab: sum(r[lab] for r in track.rows) / len(track.rows) for lab in names}
        segments = find_segments(track.rows, self.label)
        rows = [[s["start"], s["end"], round(s["peak"], 3), round(s["mean"], 3)] for s in segments]
        status = f"{track.duration:.1f} s of audio, {len(track.rows)} windows, {len(segments)} {self.label} segment(s)"
        return clip, timeline_figure(track.rows, segments, self.label), rows, status


__all__ = ["AudioDemo"]
