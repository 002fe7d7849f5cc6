"""The fusion timeline of one video: per-step CSV, segments of the fused signal, and the figure.

``fusion_timeline(model_ref, video, out_dir)`` is what ``kernel-laugh timeline FUSION_DIR VIDEO`` and the Space's
video tab call: experts run once over the clip (``fusion.experts.run_experts``), the gate fuses each step, the
segments come from the package's one hysteresis segmenter (``video.find_segments``) with the settings the model
was evaluated with, and three files are written: ``timeline.csv``, ``segments.csv``, ``timeline.png``.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.artefact import FusionModel, check_revisions, load_fusion
from kernel_laugh.fusion.experts import ExpertSpec, load_experts, model_revision, run_experts
from kernel_laugh.fusion.plots import fusion_timeline_figure
from kernel_laugh.fusion.steps import ExpertSteps
from kernel_laugh.plots import save_figure
from kernel_laugh.readers.frames import probe
from kernel_laugh.video import find_segments

logger = logging.getLogger(__name__)

LABEL = "laughter"


@dataclass
class FusionTimeline:
    """One video through a fusion model: ``rows`` (one dict per step, the CSV's), ``segments`` of the fused signal
    (start, end, peak, mean), the arrays behind them, and the written files ``paths`` (timeline, segments, plot)."""

    steps: ExpertSteps
    fused: dict[str, np.ndarray]
    rows: list[dict[str, Any]]
    segments: list[dict[str, float]]
    paths: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        total = sum(s["end"] - s["start"] for s in self.segments)
        covered = ", ".join(f"{e} {self.steps.available[:, j].mean():.0%}" for j, e in enumerate(self.steps.experts))
        return (f"{self.steps.clip}: {self.steps.n_steps} steps; available: {covered}; no evidence on "
                f"{self.fused['no_evidence'].mean():.0%}; {len(self.segments)} fused laughter segment(s), {total:.1f} s")


def timeline_rows(steps: ExpertSteps, fused: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One row per step: time; per expert its calibrated probability (empty where missing), availability (0/1) and
    gate weight; the fused probability and the no-evidence flag (0/1)."""
    rows = []
    for i, t in enumerate(steps.times):
        row: dict[str, Any] = {"time": round(float(t), 3)}
        for j, e in enumerate(steps.experts):
            ok = bool(steps.available[i, j])
            row[f"{e}.probability"] = round(float(fused["calibrated_probability"][i, j]), 6) if ok else ""
            row[f"{e}.available"] = int(ok)
            row[f"{e}.weight"] = round(float(fused["weights"][i, j]), 6)
        row["fused.probability"] = round(float(fused["fused_probability"][i]), 6)
        row["no_evidence"] = int(fused["no_evidence"][i])
        rows.append(row)
    return rows


def fuse_timeline(model: FusionModel, steps: ExpertSteps) -> FusionTimeline:
    """Fuse one clip's steps and find the fused signal's segments (no files written)."""
    fused = model.gate.fuse_steps(steps)
    points = [{"time": float(t), LABEL: float(p)} for t, p in zip(steps.times, fused["fused_probability"])]
    segments = find_segments(points, LABEL, **model.hysteresis)
    return FusionTimeline(steps, fused, timeline_rows(steps, fused), segments)


def write_fusion_timeline(model: FusionModel, result: FusionTimeline, out_dir: str | Path) -> dict[str, Path]:
    """Write timeline.csv, segments.csv and timeline.png into ``out_dir``; return their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"timeline": out / "timeline.csv", "segments": out / "segments.csv", "plot": out / "timeline.png"}
    for path, rows, columns in ((paths["timeline"], result.rows, list(result.rows[0]) if result.rows else ["time"]),
                                (paths["segments"], result.segments, ["start", "end", "peak", "mean"])):
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    s, f = result.steps, result.fused
    title = f"{s.clip}" + (" (SYNTHETIC model)" if model.synthetic else "")
    save_figure(fusion_timeline_figure(s.times, list(s.experts), f["calibrated_probability"], s.available, f["weights"],
                                       f["fused_probability"], f["no_evidence"], result.segments, model.threshold, title),
                paths["plot"])
    result.paths = paths
    return paths


def expert_specs(model: FusionModel) -> list[ExpertSpec]:
    return [ExpertSpec.from_dict(e) for e in model.experts]


def load_runners(model: FusionModel, strict: bool = False, device: str | int | None = None) -> dict[str, Any]:
    """The model's experts, loaded; a revision that differs from the recorded one warns (raises with ``strict``)."""
    specs = expert_specs(model)
    check_revisions(model, {s.modality: model_revision(s.model) for s in specs}, strict)
    return load_experts(specs, device)


def fusion_timeline(model_ref: str | Path | FusionModel, video: str | Path, out_dir: str | Path, *,
                    strict: bool = False, device: str | int | None = None, runners: dict[str, Any] | None = None,
                    progress: bool = True, timings: dict[str, float] | None = None) -> FusionTimeline:
    """Run the experts over ``video``, fuse, segment, and write the three files; the Space's video tab and the
    ``timeline`` command both call this. ``runners``: experts already loaded (the Space loads them once);
    ``timings``: filled with wall seconds per part (decode, each expert), as ``run_experts`` measures them."""
    model = model_ref if isinstance(model_ref, FusionModel) else load_fusion(model_ref)
    runners = runners if runners is not None else load_runners(model, strict, device)
    steps = run_experts(video, runners, model.grid_hz, progress=progress, timings=timings)
    result = fuse_timeline(model, steps)
    write_fusion_timeline(model, result, out_dir)
    return result


@dataclass
class FusionSpace:
    """A fusion model held by the Space: loaded once (gate and experts), then ``video_tab(video, out_dir)`` per request."""

    model: FusionModel
    runners: dict[str, Any]

    @classmethod
    def load(cls, model_ref: str | Path, device: str | int | None = None) -> FusionSpace:
        model = load_fusion(model_ref)
        return cls(model, load_runners(model, strict=False, device=device))

    def video_tab(self, video: str | Path, out_dir: str | Path, max_steps: int | None = None
                  ) -> tuple[str, list[dict[str, float]], list[str], str]:
        """What the video tab shows, in its output order: the three-panel figure's path (per-modality lines with
        missing stretches shaded, stacked gate weights, fused line with segments), the fused segments (start, end,
        peak, mean), the CSV paths (timeline.csv with per-expert probability / availability / weight and the fused
        probability per step; segments.csv), and a one-line summary. ``max_steps``: refuse longer clips (one line)."""
        if max_steps is not None:
            duration = probe(video).duration
            if duration and duration * self.model.grid_hz > max_steps:
                raise KernelLaughError(f"{Path(video).name}: {duration:.0f} s at {self.model.grid_hz:g} steps/s is more "
                                       f"than {max_steps} steps; trim the video")
        result = fusion_timeline(self.model, video, out_dir, runners=self.runners, progress=False)
        tag = " (SYNTHETIC model)" if self.model.synthetic else ""
        return (str(result.paths["plot"]), result.segments, [str(result.paths["timeline"]), str(result.paths["segments"])],
                result.summary() + tag)
