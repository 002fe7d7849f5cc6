"""The Space's page when the served model is a gated fusion (``fuse-train``): one video tab that runs every
expert over the clip and shows the per-modality lines (missing stretches shaded), the stacked gate weights, the
fused line with its segments, and the per-step CSV. ``kernel_laugh.demo.build_demo`` hands fusion folders here.
Gradio wiring only: the work is ``kernel_laugh.fusion.timeline.FusionSpace``."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.timeline import FusionSpace
from kernel_laugh.uploads import new_request_dir

logger = logging.getLogger(__name__)

MAX_STEPS = 2400  # 20 minutes at the default 2 Hz grid
FUSION_INTRO = """# kernel-laugh: laughter from brain, face and voice together

Upload a podcast clip. Each expert (brain render, face, voice) scores it on one time grid; a gate weights the
experts that have usable input at each moment (a missing modality gets weight 0) and fuses them. The plot shows
each expert's line with its missing stretches shaded, the gate's weights, and the fused line with its segments."""
SYNTHETIC_BANNER = ("**SYNTHETIC model.** The gate and its experts were trained on kernel-laugh's SYNTHETIC "
                    "multimodal sample: a demonstration of the pipeline, not a laughter detector for real videos.")
SEGMENT_COLUMNS = ["start (s)", "end (s)", "peak", "mean"]


def build_fusion_demo(model: str | Path, device: str | int | None = None) -> gr.Blocks:
    """The gradio Blocks for a fusion folder or Hub id: a "Video" tab whose API name is ``timeline``."""
    space = FusionSpace.load(model, device=device)
    workdir = Path(tempfile.mkdtemp(prefix="kernel-laugh-fusion-"))

    def timeline(video: str | None) -> tuple[str, pd.DataFrame, list[str], str]:
        try:
            if not video:
                raise KernelLaughError("No video yet: upload a clip first.")
            plot, segments, files, summary = space.video_tab(video, new_request_dir(workdir), max_steps=MAX_STEPS)
        except KernelLaughError as err:
            raise gr.Error(str(err), print_exception=False) from None
        table = pd.DataFrame([[s["start"], s["end"], round(s["peak"], 3), round(s["mean"], 3)] for s in segments],
                             columns=SEGMENT_COLUMNS)
        return plot, table, files, summary

    with gr.Blocks(title="kernel-laugh: fused laughter") as demo:
        gr.Markdown(FUSION_INTRO)
        if space.model.synthetic:
            gr.Markdown(SYNTHETIC_BANNER, elem_id="synthetic-warning")
        with gr.Tab("Video"):
            video = gr.Video(label="Video", sources=["upload"], format=None)
            button = gr.Button("Find laughter", variant="primary")
            summary = gr.Markdown()
            plot = gr.Image(label="Experts, gate weights and the fused laughter probability", interactive=False)
            segments = gr.Dataframe(headers=SEGMENT_COLUMNS, label="Fused laughter segments", interactive=False)
            files: Any = gr.File(label="Download (timeline.csv, segments.csv)", file_count="multiple")
            button.click(timeline, video, [plot, segments, files, summary], api_name="timeline")
    demo.queue(max_size=64, default_concurrency_limit=1)
    return demo


__all__ = ["build_fusion_demo"]
