"""The Gradio page behind the Space (``space/app.py``) and ``kernel-laugh demo``: wiring only.

``build_demo(model)`` returns a ``gr.Blocks`` with four parts:

- *Image*: upload / paste / webcam → class probabilities, the decision at the model's stored threshold, and a
  Grad-CAM overlay. Each request checks its own upload (a bad one gets its own one-line ``gr.Error``, on the
  page and for API callers), then visitors who click at the same time share one forward pass
  (``kernel_laugh.batching.SharedBatches``); the overlay follows as its own event, so the label shows first.
- *Video*: a clip → probability timeline, detected segments, CSV downloads (``kernel_laugh.video``).
- *Batch*: several images → a table and a CSV.
- Face-expression models also get every face (the image tab boxes and labels each one and lists them all),
  emotion over time in the video tab (every emotion of the main face, the share of time in each, CSV files),
  and a *Live* tab: webcam frames stream to the server (``streaming=True``) and come back annotated, next to a
  rolling emotion chart; frames that arrive while one is processed are dropped (``kernel_laugh.live_stream``).
- A model panel from ``eval_results.json`` (what it was trained on, held-out metrics with 95% intervals) and a
  banner when the model was trained on the SYNTHETIC sample; generated example renders, marked synthetic.

What each part does lives in ``kernel_laugh.demo_service.DemoApp`` (plain functions of file paths, testable
without a server) and ``kernel_laugh.uploads`` (what a visitor sends → a checked file); this module only
places components and connects events to them. Audio models get ``kernel_laugh.audio.demo``'s page.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from kernel_laugh.audio.demo import build_audio_demo
from kernel_laugh.audio.predict import is_audio_model
from kernel_laugh.batching import SharedBatches
from kernel_laugh.demo_service import (
    IMAGE_BATCH_SIZE,
    MAX_BATCH_FILES,
    DemoApp,
    Examples,
    make_examples,
    model_panel,
)
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.face_expressions import label_colour
from kernel_laugh.frame_regions import WHOLE_FRAME
from kernel_laugh.fusion.artefact import is_fusion_folder
from kernel_laugh.fusion.demo import build_fusion_demo
from kernel_laugh.live_stream import LiveSession
from kernel_laugh.readers.images import IMAGE_EXTENSIONS
from kernel_laugh.uploads import MAX_UPLOAD, upload_path
from kernel_laugh.video import REGIONS

logger = logging.getLogger(__name__)

# The live tab (face-expression models): how often the browser sends a webcam frame (seconds; 5 frames/s, what
# one visitor gets on 2 CPU cores), how long one stream may run before the visitor presses record again
# (seconds; it holds one of the LIVE_VISITORS slots meanwhile), and how many streams run at once.
LIVE_STREAM_EVERY = 0.2
LIVE_TIME_LIMIT = 120
LIVE_VISITORS = 4

BRAIN_INTRO = """\
# 🧠 Is this brain laughing?

**Kernel Flow** is a helmet that measures brain activity with light. In a podcast, its readings were shown live \
as a grey 3-D brain with **coloured blobs where activity rises**. This model looks at one such picture and \
guesses whether the person wearing the helmet was **laughing** at that moment.

Pick an example below (or upload a frame, or a whole video for a timeline) and see what it says, and *where* it \
looked (the Grad-CAM heat map).
"""

GENERIC_INTRO = """\
# 🙂 {title}

An image classifier that labels pictures as **{labels}**. Upload a photo (or paste one, or use your webcam), \
or a video for a timeline, or several images at once.{faces}
"""

SYNTHETIC_BANNER = """\
> ⚠️ **This model was trained on SYNTHETIC data.** It learned from cartoon brain renders that kernel-laugh \
generates to test its pipeline, not from real Kernel Flow recordings. Its answers and numbers show that the \
software works; **they say nothing about real brains or laughter.**
"""

API_NOTE = """\
**Use it from code:** `gradio_client.Client(URL).predict(handle_file("frame.png"), api_name="/classify")` \
returns the label and the decision; `/explain`, `/timeline` and `/classify_files` serve the other tabs \
(see "Use via API" at the bottom of the page). The model itself loads with \
`transformers.pipeline("image-classification", model=...)`.
"""

FACES_INTRO = """ Every face found gets a box with its most likely expression; a video gets every emotion of \
its main face over time; the **Live** tab does it on your webcam, frame by frame."""

FACES_API_NOTE = """\
For this face-expression model `/classify` also returns the picture with every face boxed and a table with a row \
per face (its box, top expression and every probability); `/emotions` takes a video and the frames per second \
and returns the main face's emotions over time (charts, shares of time, CSV files).
"""

LIVE_NOTE = """\
Press **Record**: a frame of your webcam goes to the server about every {every:g} s and comes back with every \
face boxed and labelled. Frames that arrive while the previous one is still being read are skipped, so the \
picture never falls behind. The chart shows the main (largest) face's emotions over the last 30 seconds. \
A stream runs for up to {limit} s at a time; frames are not stored.
"""


REGION_INFO = ("brain / person: the original podcast's crops, scaled to the frame. Or type x,y,w,h in pixels, or "
               "click two corners on the first frame. The default is the region the model was trained on.")


# ---- wiring ----------------------------------------------------------------------------------------------

def _custom(region: str) -> list[str]:
    """The model's own region among the choices when it is a box of its own (named ones are listed anyway)."""
    return [region] if region != WHOLE_FRAME and region not in REGIONS else []


def _friendly(fn: Any) -> Any:
    """Turn the package's user-facing errors into ``gr.Error`` (shown in the page, sent to API clients)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KernelLaughError as err:
            raise gr.Error(str(err), print_exception=False) from None

    return wrapper


def build_demo(model: str | Path | DemoApp, examples_dir: str | Path | None = None,
               device: str | int | None = None) -> gr.Blocks:
    """The whole app for ``model`` (a folder or Hub id, or a ready ``DemoApp``). Queueing is configured;
    the caller launches it (``launch_kwargs()`` holds the settings the Space uses)."""
    if not isinstance(model, DemoApp) and is_fusion_folder(model):  # a gated fusion: experts, gate, fused line
        return build_fusion_demo(model, device=device)
    if not isinstance(model, DemoApp) and is_audio_model(model):  # an audio expert: sound and soundtrack tabs
        return build_audio_demo(model, device=device)
    app = model if isinstance(model, DemoApp) else DemoApp(model, device=device)
    examples = make_examples(examples_dir or app.workdir / "examples") if app.is_brain else Examples()
    title = "kernel-laugh: laughter from brain renders" if app.is_brain else "kernel-laugh image classifier"

    # Parameter names are the API's (gradio_client shows them); `image` holds raw upload payloads.
    def classify(image: list[Any], find_faces: list[bool] | None = None) -> tuple[list[Any], list[str]]:
        # Batched form (a list per input, an entry per request): several requests, one forward pass.
        paths = []
        for p in image:
            try:
                paths.append(upload_path(p, app.workdir))
            except KernelLaughError:
                paths.append(None)  # classify_batch reports it for this request only
        return app.classify_batch(paths, find_faces)

    shared = SharedBatches(classify, max_size=IMAGE_BATCH_SIZE)

    def classify_one(image: Any, find_faces: bool | None = None) -> tuple[Any, ...]:
        # One request: its own upload check raises its own one-line error (through _friendly a gr.Error, which
        # the page shows and gradio_client raises with the same message), then it joins the requests that
        # arrive meanwhile in one batched call (SharedBatches; gradio's batch=True could fail only the batch).
        app.validate_images([upload_path(image, app.workdir)])
        return shared(image) if find_faces is None else shared(image, find_faces)

    def classify_faces(image: Any, find_faces: bool = True) -> tuple[Any, ...]:
        # Face-expression models: one request at a time (each image's faces already go through the model as
        # one batch). A bad upload raises its one-line error first, as in classify_one.
        path = upload_path(image, app.workdir)
        app.validate_images([path])
        label, text, drawn, table = app.classify_faces_batch([path], [find_faces])
        return label[0], text[0], drawn[0], table[0]

    def live(frame: str | None, session: LiveSession) -> tuple[Any, Any, Any]:
        if not frame:  # the stream's first tick can come before the camera's first frame
            return gr.skip(), gr.skip(), gr.skip()
        out = _friendly(app.live_frame)(frame, session)
        if out is None:  # dropped: this visitor's previous frame is still being processed
            return gr.skip(), gr.skip(), gr.skip()
        return out

    def explain(image: Any, find_faces: bool = False) -> Image.Image:
        return app.explain(upload_path(image, app.workdir), find_faces)

    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as demo:
        intro = BRAIN_INTRO if app.is_brain else GENERIC_INTRO.format(title=title, labels=" / ".join(app.labels),
                                                                      faces=FACES_INTRO)
        gr.Markdown(intro)
        if app.synthetic:
            gr.Markdown(SYNTHETIC_BANNER, elem_id="synthetic-warning")

        with gr.Tab("Image"):
            with gr.Row():
                with gr.Column():
                    image = gr.Image(type="filepath", label="Image", sources=["upload", "clipboard", "webcam"],
                                     elem_id="image-input")
                    # Face detection only makes sense for face-expression models; brain models' API takes
                    # just the image.
                    image_inputs: list[gr.components.Component] = [image]
                    if not app.is_brain:
                        image_inputs.append(gr.Checkbox(value=True, label="Find faces (box and classify every face)"))
                    classify_button = gr.Button("Classify", variant="primary", elem_id="classify-button")
                with gr.Column():
                    label = gr.Label(label="Prediction", num_top_classes=min(5, len(app.labels)), elem_id="prediction")
                    decision = gr.Markdown(elem_id="decision")
                    overlay = gr.Image(label="Where the model looked (Grad-CAM: red = drove the decision)",
                                       interactive=False, elem_id="gradcam")
            image_outputs: list[gr.components.Component] = [label, decision]
            if app.faces is not None:
                with gr.Row():
                    image_outputs.append(gr.Image(label="Every face (numbered left to right)", interactive=False,
                                                  elem_id="faces-image"))
                    image_outputs.append(gr.Dataframe(label="Faces", interactive=False, elem_id="faces-table"))
            if examples.images:
                gr.Examples([[str(p)] for p in examples.images], inputs=[image], cache_examples=False,
                            label="Examples (SYNTHETIC renders generated by kernel-laugh, not real recordings)",
                            example_labels=[p.stem for p in examples.images])
            if app.faces is None:
                event = classify_button.click(
                    _friendly(classify_one), image_inputs, image_outputs, api_name="classify", preprocess=False,
                    concurrency_limit=IMAGE_BATCH_SIZE,  # requests run side by side and meet in SharedBatches
                )
            else:
                event = classify_button.click(_friendly(classify_faces), image_inputs, image_outputs,
                                              api_name="classify", preprocess=False, concurrency_limit=1)
            event.success(_friendly(explain), image_inputs, overlay, api_name="explain", preprocess=False)

        with gr.Tab("Video"):
            gr.Markdown("Upload a clip: frames are sampled over time, classified, and the stretches where the "
                        "chosen class holds are listed (probability rises above 0.6 and falls back below 0.4).")
            with gr.Row():
                with gr.Column():
                    video = gr.Video(label="Video", sources=["upload"], format=None, elem_id="video-input")
                    fps = gr.Slider(0.2, 5.0, value=1.0, step=0.1, label="Frames per second to sample")
                    track = gr.Dropdown(app.labels, value=app.default_track_label(), label="Class to track")
                    # One text for page and API: a named crop, "x,y,w,h" typed or drawn below, or the whole frame.
                    region = gr.Dropdown([WHOLE_FRAME, *sorted(REGIONS), *_custom(app.default_region)],
                                         value=app.default_region, allow_custom_value=True, elem_id="region",
                                         label="Region of each frame the model sees", info=REGION_INFO)
                    preview = gr.Image(label="First frame: the region outlined (click two opposite corners to "
                                       "draw your own box)", interactive=False, elem_id="region-preview")
                    corner = gr.State(None)  # the first corner clicked, until the second one completes the box
                    video_button = gr.Button("Make timeline", variant="primary")
                with gr.Column():
                    summary = gr.Markdown()
                    plot = gr.Image(label="Probability over time", interactive=False)
                    segments = gr.Dataframe(label="Segments", interactive=False)
                    video_files = gr.File(label="Download (timeline.csv, segments.csv)", file_count="multiple")
            if examples.video:
                gr.Examples([[str(examples.video)]], inputs=[video], cache_examples=False,
                            label="Example (a SYNTHETIC clip: laughter renders from 10 s to 20 s)")
            video_button.click(_friendly(app.timeline), [video, fps, track, region],
                               [plot, segments, video_files, summary], api_name="timeline")

            def click_corner(corner: tuple[int, int] | None, evt: gr.SelectData) -> tuple[Any, Any]:
                point = (int(evt.index[0]), int(evt.index[1]))  # pixels of the frame, as gradio maps the click
                if corner is None:
                    return gr.skip(), point  # the first corner: wait for the opposite one
                return app.box_between(corner, point), None

            for change in (video.change, region.change):
                change(_friendly(app.region_preview), [video, region], preview, api_name=False)
            preview.select(click_corner, corner, [region, corner], api_name=False)
            if app.faces is not None:
                gr.Markdown("### Emotion over time (the main face: the largest in each frame)")
                emotion_summary = gr.Markdown(elem_id="emotion-summary")
                with gr.Row():
                    emotion_plot = gr.Image(label="Every emotion over time", interactive=False, elem_id="emotion-plot")
                    share_plot = gr.Image(label="Share of time in each emotion", interactive=False)
                shares = gr.Dataframe(label="Share of time in each emotion", interactive=False)
                emotion_files = gr.File(label="Download (emotions.csv, emotion_shares.csv)", file_count="multiple")
                video_button.click(_friendly(app.emotions), [video, fps, region],
                                   [emotion_plot, share_plot, shares, emotion_files, emotion_summary], api_name="emotions")

        if app.faces is not None:  # brain-render models have no live tab
            with gr.Tab("Live", elem_id="live-tab"):
                gr.Markdown(LIVE_NOTE.format(every=LIVE_STREAM_EVERY, limit=LIVE_TIME_LIMIT))
                session = gr.State(app.faces.new_session())  # deep-copied for every visitor: each has its own
                with gr.Row():
                    camera = gr.Image(sources=["webcam"], type="filepath", streaming=True, label="Webcam",
                                      elem_id="live-input")
                    with gr.Column():
                        live_image = gr.Image(label="Every face, with its emotion", interactive=False, format="jpeg",
                                              elem_id="live-output")
                        live_status = gr.Markdown(elem_id="live-status")
                live_chart = gr.LinePlot(x="time", y="probability", color="emotion", y_lim=[0, 1],
                                         color_map={lab: "#{:02x}{:02x}{:02x}".format(*label_colour(lab, app.labels))
                                                    for lab in app.labels},  # the boxes' colours
                                         x_title="seconds since the stream started",
                                         label="Emotion over time (main face, last 30 s)", elem_id="live-chart")
                # The stream keeps only the newest frame while one is processed (and LiveSession drops any that
                # get through meanwhile); LIVE_VISITORS streams run at once, each its own session.
                camera.stream(live, [camera, session], [live_image, live_chart, live_status],
                              stream_every=LIVE_STREAM_EVERY, time_limit=LIVE_TIME_LIMIT,
                              concurrency_limit=LIVE_VISITORS, api_name="live")

        with gr.Tab("Batch"):
            files = gr.File(label=f"Images (up to {MAX_BATCH_FILES})", file_count="multiple",
                            file_types=["image", *sorted(IMAGE_EXTENSIONS)])  # HEIC/AVIF even where no MIME type is known
            batch_button = gr.Button("Classify all", variant="primary")
            table = gr.Dataframe(label="Results", interactive=False)
            table_csv = gr.File(label="Download predictions.csv")
            batch_button.click(_friendly(app.classify_files), files, [table, table_csv], api_name="classify_files")

        with gr.Accordion("About the model", open=app.synthetic):
            gr.Markdown(model_panel(app.model_ref, app.predictor, app.results), elem_id="model-panel")
            gr.Markdown(API_NOTE)
            if app.faces is not None:
                gr.Markdown(FACES_API_NOTE)

    demo.queue(max_size=256, default_concurrency_limit=1)
    return demo


def launch_kwargs() -> dict[str, Any]:
    """``launch()`` settings shared by the Space and ``kernel-laugh demo``."""
    return {"max_file_size": MAX_UPLOAD, "show_error": True}


def launch(model: str | Path, port: int | None = None, share: bool = False, host: str | None = None,
           device: str | int | None = None) -> None:
    """``kernel-laugh demo MODEL``: build the app and serve it until interrupted."""
    demo = build_demo(model, device=device)
    demo.launch(server_name=host, server_port=port, share=share, **launch_kwargs())


__all__ = ["build_demo", "launch", "launch_kwargs"]
