"""The Space's page when the served model is an audio expert: a sound tab (file upload or the microphone) and a
video tab that runs on the soundtrack, each answering with the clip's probabilities, P(laughter) over time and
the segments (the same hysteresis as the image timeline). ``kernel_laugh.demo.build_demo`` hands audio models
here. Gradio wiring only: what the tabs do is ``kernel_laugh.audio.demo_service.AudioDemo``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from kernel_laugh.audio.demo_service import AudioDemo
from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

AUDIO_INTRO = """# kernel-laugh: laughter from sound

Upload a recording or use the microphone (or a video: its soundtrack is used). The model scores every
{window:g} s window every {hop:g} s; the plot shows P({label}) over time with the found segments shaded."""
AUDIO_SYNTHETIC_BANNER = ("**SYNTHETIC model.** This model was trained on kernel-laugh's SYNTHETIC sound sample "
                          "(procedural laughter against babble, tones, chords, noise): a demonstration of the "
                          "pipeline, not a laughter detector for real recordings.")


def build_audio_demo(model: str | Path, device: str | int | None = None) -> gr.Blocks:
    """The gradio Blocks for an audio model: "Sound" (upload + microphone) and "Video" (its soundtrack) tabs."""
    app = AudioDemo(model, device=device)

    def run(path: str | None) -> tuple[dict[str, float], Any, list[list[float]], str]:
        try:
            return app.analyse(path)
        except KernelLaughError as err:
            raise gr.Error(str(err)) from None

    p = app.predictor
    with gr.Blocks(title="kernel-laugh: laughter from sound") as demo:
        gr.Markdown(AUDIO_INTRO.format(window=p.window_seconds, hop=p.hop_seconds, label=app.label))
        if app.synthetic:
            gr.Markdown(AUDIO_SYNTHETIC_BANNER, elem_id="synthetic-warning")
        for tab, component in (("Sound", lambda: gr.Audio(sources=["upload", "microphone"], type="filepath", label="recording")),
                               ("Video", lambda: gr.Video(label="video (its soundtrack is scored)"))):
            with gr.Tab(tab):
                source = component()
                button = gr.Button("Find laughter", variant="primary")
                status = gr.Markdown()
                clip = gr.Label(label="whole clip (mean over windows)")
                plot = gr.Plot(label=f"P({app.label}) over time")
                segments = gr.Dataframe(headers=["start (s)", "end (s)", "peak", "mean"], label="segments")
                button.click(run, inputs=source, outputs=[clip, plot, segments, status], api_name=f"{tab.lower()}")
    return demo


__all__ = ["build_audio_demo"]
