"""The Space's page when the served model is an audio expert: a sound tab (file upload or the microphone) and a
video tab that runs on the soundtrack, each answering with the clip's probabilities, P(laughter) over time and
the segments (the same hysteresis as the image timeline). ``kernel_laugh.demo.build_demo`` hands audio models
here; this module imports the serving side only (audio.predict, video's segment finder, plots)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

AUDIO_INTRO = """# kernel-laugh: laughter from sound

Upload a recording or use the microphone (or a video: its soundtrack is used). The model scores every
{window:g} s window every {hop:g} s; the plot shows P({label}) over time with the found segments shaded."""
AUDIO_SYNTHETIC_BANNER = ("**SYNTHETIC model.** This model was trained on kernel-laugh's SYNTHETIC sound sample "
                          "(procedural laughter against babble, tones, chords, noise): a demonstration of the "
                          "pipeline, not a laughter detector for real recordings.")


class AudioDemo:
    """What the audio page does, without gradio (so tests call it directly)."""

    def __init__(self, model: str | Path, device: str | int | None = None):
        import json

        from kernel_laugh.audio.predict import AudioPredictor
        from kernel_laugh.video import default_segment_label

        self.predictor = AudioPredictor(model, device=device)
        self.label = default_segment_label(self.predictor.label_names)
        results = Path(model) / "eval_results.json"
        self.synthetic = bool(results.is_file() and json.loads(results.read_text()).get("synthetic"))

    def analyse(self, path: str | Path | None) -> tuple[dict[str, float], Any, list[list[float]], str]:
        """(clip probabilities, timeline figure, segment rows [start, end, peak, mean], status line) for a file."""
        from kernel_laugh.plots import timeline_figure
        from kernel_laugh.video import find_segments

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


def build_audio_demo(model: str | Path, device: str | int | None = None) -> Any:
    """The gradio Blocks for an audio model: "Sound" (upload + microphone) and "Video" (its soundtrack) tabs."""
    import gradio as gr

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
