"""The Gradio app behind the Space (``space/app.py``) and ``kernel-laugh demo``.

``build_demo(model)`` returns a ``gr.Blocks`` with four parts:

- *Image*: upload / paste / webcam → class probabilities, the decision at the model's stored threshold, and a
  Grad-CAM overlay. Classification is a batched event (``batch=True``) so visitors who click at the same time
  share one forward pass; the overlay follows as its own event, so the label shows without waiting for it.
- *Video*: a clip → probability timeline, detected segments, CSV downloads (``kernel_laugh.video``).
- *Batch*: several images → a table and a CSV.
- A model panel from ``eval_results.json`` (what it was trained on, held-out metrics with 95% intervals) and a
  banner when the model was trained on the SYNTHETIC sample; generated example renders, marked synthetic.

The logic lives in ``DemoApp``, whose methods are plain functions of file paths (testable without a server);
``build_demo`` only wires them to components. Like the Space, this module imports ``inference``, ``explain``,
``video`` and ``faces`` only: never training, accelerate or evaluate.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.inference import Predictor
from kernel_laugh.readers.images import IMAGE_EXTENSIONS, read_image

if TYPE_CHECKING:
    import pandas as pd

# Limits that keep one visitor from stalling the Space for everyone else.
MAX_PIXELS = 50_000_000  # an 8K frame is 33 MP; PIL itself only warns at 89 MP and refuses at 179 MP
MAX_UPLOAD = "200mb"  # per file, enforced by gradio before anything reaches this code (videos are the big ones)
MAX_BATCH_FILES = 64  # files per request in the Batch tab
MAX_VIDEO_FRAMES = 1200  # sampled frames per video (20 min at 1 fps)
IMAGE_BATCH_SIZE = 16  # requests the queue merges into one forward pass
LABEL_TO_TRACK = ("laughter", "happy")  # the timeline's default class, when the model has one of these

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
or a video for a timeline, or several images at once.
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


# ---- inputs ----------------------------------------------------------------------------------------------

def load_upload(path: str | Path | None, what: str = "image") -> Image.Image:
    """Open an uploaded file as an RGB image, or raise a ``KernelLaughError`` a visitor can act on.

    Read by ``kernel_laugh.readers.images`` like every other path (EXIF orientation, every mode, HEIF/AVIF). The
    pixel count is checked from the header, before anything is decoded, so a decompression bomb (a small file
    that expands to gigabytes) is refused without using the memory.
    """
    if path is None or str(path) == "":
        raise KernelLaughError(f"No {what} yet: upload one, paste one, or take a photo first.")
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise KernelLaughError(f"{name}: the upload did not arrive; please try again.")
    if p.stat().st_size == 0:
        raise KernelLaughError(f"{name}: the file is empty (0 bytes).")
    # The package's one image reader, as predict and training read files: same orientation, modes and formats.
    return read_image(p, max_pixels=MAX_PIXELS, name=name)


def new_request_dir(workdir: Path) -> Path:
    """A fresh ``req-*`` folder under ``workdir`` (``DemoApp`` removes them after an hour)."""
    out = workdir / f"req-{uuid.uuid4().hex[:12]}"
    out.mkdir(parents=True)
    return out


def upload_path(payload: Any, workdir: Path) -> str | None:
    """The file path in an image event's raw payload (the events run with ``preprocess=False``).

    ``gr.Image``'s own preprocessing opens every upload with PIL: a non-image or a decompression bomb then fails
    with PIL's raw message, and inside a batched event it would fail the whole batch. With ``preprocess=False``
    gradio still moves the upload into its cache and checks where it came from, then hands over the
    ``FileData`` dict; ``load_upload`` gives each visitor a friendly error. A base64 data URL (pasted image)
    is written to ``workdir`` first.
    """
    if payload is None or isinstance(payload, str):
        return payload or None
    path, url = payload.get("path"), str(payload.get("url") or "")
    if not path and url.startswith("data:"):
        import base64
        import binascii

        try:
            data = base64.b64decode(url.split(",", 1)[1], validate=False)
        except (IndexError, binascii.Error):
            raise KernelLaughError("the pasted data is not an image") from None
        out = new_request_dir(workdir) / "pasted-image"
        out.write_bytes(data)
        return str(out)
    return str(path) if path else None


# ---- the model panel -------------------------------------------------------------------------------------

def _model_file(model: str | Path, name: str) -> Path | None:
    """``name`` from a model folder, or from its Hub repo (None when absent or offline)."""
    local = Path(model) / name
    if local.is_file():
        return local
    if Path(model).exists():
        return None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(str(model), name))
    except Exception:  # noqa: BLE001  # offline, missing file, private repo: the panel says less, the app still works
        return None


def read_eval_results(model: str | Path) -> dict[str, Any] | None:
    path = _model_file(model, "eval_results.json")
    try:
        return json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None


def _metric(results: dict[str, Any], key: str, name: str) -> str | None:
    value = results.get(key)
    if value is None:
        return None
    low, high = results.get(f"{key}_ci_low"), results.get(f"{key}_ci_high")
    ci = f" (95% CI {low:.3f}–{high:.3f})" if low is not None and high is not None else ""
    return f"{name} **{value:.3f}**{ci}"


def model_panel(model: str | Path, predictor: Predictor, results: dict[str, Any] | None) -> str:
    """Markdown: what the model is, what it was trained on, and its held-out numbers with intervals."""
    labels = " / ".join(predictor.label_names)
    pc = predictor.pretrained_cfg
    size = "x".join(str(v) for v in list(pc.get("input_size", []))[1:])
    arch = getattr(predictor.pipe.model.config, "architecture", None) or "timm model"
    lines = [f"**Model:** `{model}` · {arch}, {len(predictor.label_names)} classes ({labels})"
             + (f", input {size} px" if size else "")]
    if predictor.threshold is not None:
        lines.append(f"**Decision:** {predictor.positive_label} when P({predictor.positive_label}) ≥ "
                     f"{predictor.threshold:.3f} (the threshold stored with the model, chosen on validation data)")
    if results is None:
        lines.append("_No evaluation results were found next to this model (eval_results.json)._")
        return "\n\n".join(lines)
    if results.get("synthetic"):
        data = "the **SYNTHETIC sample**: cartoon brain renders generated by kernel-laugh (not real data)"
    else:
        data = f"`{results.get('dataset', 'unknown')}`"
    lines.append(f"**Trained on:** {data}.")
    if results.get("split_method"):
        lines.append(f"**Split:** {results['split_method']}.")
    metrics = [m for m in (_metric(results, "accuracy", "accuracy"), _metric(results, "f1", "F1"),
                           _metric(results, "roc_auc", "ROC AUC")) if m]
    if metrics:
        n = results.get("num_samples", "?")
        lines.append(f"**Held-out {results.get('split', 'test')} split ({n} images):** " + " · ".join(metrics))
    if results.get("ci_method"):
        lines.append(f"_Intervals: {str(results['ci_method']).rstrip('.')}._")
    return "\n\n".join(lines)


# ---- examples --------------------------------------------------------------------------------------------

@dataclass
class Examples:
    images: list[Path] = field(default_factory=list)
    video: Path | None = None


def make_examples(out_dir: str | Path, n_per_label: int = 2, with_video: bool = True) -> Examples:
    """Write SYNTHETIC sample renders (``synthetic-laughter-1.png``...) and a short synthetic clip.

    Generated at start-up instead of shipped as binaries: they are the same generator the sample model was
    trained on, so the examples always match the package version. The clip needs PyAV; without it, no clip.
    """
    from kernel_laugh.sample import LABEL_NAMES, generate_sample

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples = Examples()
    # seed 2024 differs from the training sample's 42: these renders were never seen in training
    counts = dict.fromkeys(range(len(LABEL_NAMES)), 0)
    for rec in generate_sample(8 * n_per_label, size=192, seed=2024):
        lab = rec["label"]
        if counts[lab] < n_per_label:
            counts[lab] += 1
            path = out / f"synthetic-{LABEL_NAMES[lab]}-{counts[lab]}.png"
            rec["image"].save(path)
            examples.images.append(path)
    if with_video:
        try:
            from kernel_laugh.video import write_sample_clip

            examples.video = write_sample_clip(out / "synthetic-clip.mp4", duration=30.0, fps=2.0,
                                               laughter=((10.0, 20.0),), size=96)
        except (ImportError, KernelLaughError):  # no PyAV / no encoder: the video tab simply has no example
            examples.video = None
    return examples


# ---- the app's logic -------------------------------------------------------------------------------------

class _LockedPredictor:
    """The predictor with every forward pass taken under the app's lock (see ``DemoApp``)."""

    def __init__(self, predictor: Predictor, lock: threading.Lock):
        self._predictor, self._lock = predictor, lock

    def __call__(self, images: list[Image.Image], batch_size: int = 8) -> list[list[dict[str, Any]]]:
        with self._lock:
            return self._predictor(images, batch_size=batch_size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)


class DemoApp:
    """One loaded model and the functions behind each tab.

    All model use goes through one lock: Grad-CAM registers a hook on the shared model, and a forward pass of
    another request running meanwhile would overwrite the activations it captured. Requests still share work:
    the queue merges simultaneous image requests into one batch (``classify_batch``).
    """

    def __init__(self, model: str | Path, device: str | int | None = None, workdir: str | Path | None = None):
        self.model_ref = str(model)
        self.predictor = Predictor(model, device=device)
        self.labels = list(self.predictor.label_names)
        self.lock = threading.Lock()
        self.results = read_eval_results(model)
        self.synthetic = bool(self.results and self.results.get("synthetic"))
        self.is_brain = {"laughter", "non-laughter"} <= set(self.labels)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kernel-laugh-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # sizes of recent image batches (for tests and logs)
        self._detector: Any = None

    # -- helpers
    def _predict(self, images: list[Image.Image]) -> list[list[dict[str, Any]]]:
        if not images:
            return []
        with self.lock:
            return self.predictor(images, batch_size=IMAGE_BATCH_SIZE)

    def _faces(self, image: Image.Image) -> list[tuple[tuple[int, int, int, int], Image.Image]]:
        from kernel_laugh import faces

        if self._detector is None:
            self._detector = faces.default_detector()
        return faces.detect_and_crop(image, self._detector)

    def _out_dir(self) -> Path:
        """A fresh folder for one request's downloads; folders older than an hour are removed."""
        import shutil

        now = time.time()
        for old in self.workdir.glob("req-*"):
            try:
                if now - old.stat().st_mtime > 3600:  # gradio has long copied them into its own cache
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:  # another request removed it first
                pass
        return new_request_dir(self.workdir)

    @staticmethod
    def confidences(preds: list[dict[str, Any]]) -> dict[str, float]:
        """``gr.Label``'s value: label → probability."""
        return {d["label"]: float(d["score"]) for d in preds}

    def decision_text(self, preds: list[dict[str, Any]]) -> str:
        decision = self.predictor.decide(preds)
        threshold = self.predictor.threshold
        if threshold is None:
            return f"**Decision: {decision}** (the most probable class; the model stores no threshold)"
        score = self.confidences(preds)[self.predictor.positive_label]
        sign = "≥" if score >= threshold else "<"
        return (f"**Decision: {decision}** (P({self.predictor.positive_label}) = {score:.3f} {sign} "
                f"the model's stored threshold {threshold:.3f})")

    # -- validation (runs per request, before the request joins a batch)
    def validate_images(self, paths: list[str | None]) -> None:
        """Raise ``KernelLaughError`` for an unusable upload (gradio passes lists: the event is batched)."""
        for path in paths:
            load_upload(path)

    # -- Image tab
    def classify_batch(self, paths: list[str | None], find_faces: list[bool] | None = None,
                       ) -> tuple[list[Any], list[str]]:
        """Batched: per request, the ``gr.Label`` value and the decision (Markdown). ``find_faces`` (one flag
        per request; face-expression models only) classifies the largest detected face instead of the image.

        Never raises for one bad item (an exception would fail every request in the batch): that item gets
        an empty label and the error as its text. The validator has normally refused such inputs already.
        """
        items: list[tuple[int, Image.Image]] = []  # (request index, image to classify)
        notes: dict[int, str] = {}
        errors: dict[int, str] = {}
        for i, (path, faces_on) in enumerate(zip(paths, find_faces or [False] * len(paths))):
            try:
                image = load_upload(path)
            except KernelLaughError as err:
                errors[i] = f"⚠️ {err}"
                continue
            if faces_on:
                try:
                    found = self._faces(image)
                except KernelLaughError as err:
                    found, notes[i] = [], f"Face detection is unavailable ({err}); classified the whole image."
                if found:
                    box, crop = max(found, key=lambda bc: bc[0][2] * bc[0][3])
                    image = crop
                    notes[i] = (f"{len(found)} face(s) found; classified the largest one "
                                f"(x={box[0]}, y={box[1]}, {box[2]}x{box[3]} px).")
                elif i not in notes:
                    notes[i] = "No face found; classified the whole image."
            items.append((i, image))
        preds = self._predict([im for _, im in items])
        self.batch_sizes.append(len(paths))
        labels: list[Any] = [None] * len(paths)
        texts = [""] * len(paths)
        for (i, _), p in zip(items, preds):
            labels[i] = self.confidences(p)
            texts[i] = self.decision_text(p) + (f"\n\n{notes[i]}" if i in notes else "")
        for i, msg in errors.items():
            texts[i] = msg
        return labels, texts

    def explain(self, path: str | None, find_faces: bool = False) -> Image.Image:
        """Grad-CAM overlay for the decided class (on the largest face when ``find_faces`` and one is found)."""
        from kernel_laugh.explain import gradcam_overlay

        image = load_upload(path)
        if find_faces:
            found = self._faces(image)
            if found:
                image = max(found, key=lambda bc: bc[0][2] * bc[0][3])[1]
        with self.lock:
            preds = self.predictor([image])[0]
            target = self.labels.index(self.predictor.decide(preds))
            # The pipeline's own timm model: one copy of the weights serves both classification and Grad-CAM.
            overlay, _ = gradcam_overlay(self.predictor.pipe.model.timm_model, image, self.predictor.pretrained_cfg,
                                         target=target)
        return overlay

    # -- Batch tab
    def classify_files(self, paths: list[str] | None) -> tuple[pd.DataFrame, str]:
        """A row per file (unreadable files get their error in the ``error`` column) and the same as CSV."""
        import pandas as pd

        paths = [p for p in (paths or []) if p]
        if not paths:
            raise KernelLaughError("No files yet: choose one or more images first.")
        if len(paths) > MAX_BATCH_FILES:
            raise KernelLaughError(f"{len(paths)} files: at most {MAX_BATCH_FILES} per request, please.")
        good: list[tuple[int, Image.Image]] = []
        rows: list[dict[str, Any]] = []
        for i, path in enumerate(paths):
            rows.append({"file": Path(path).name, "label": "", "decision": "", **dict.fromkeys(self.labels, None), "error": ""})
            try:
                good.append((i, load_upload(path)))
            except KernelLaughError as err:
                rows[i]["error"] = str(err)
        for (i, _), preds in zip(good, self._predict([im for _, im in good])):
            rows[i]["label"] = preds[0]["label"]
            rows[i]["decision"] = self.predictor.decide(preds)
            rows[i].update({d["label"]: round(float(d["score"]), 6) for d in preds})
        table = pd.DataFrame(rows, columns=["file", "label", "decision", *self.labels, "error"])
        out = self._out_dir() / "predictions.csv"
        table.to_csv(out, index=False)
        return table, str(out)

    # -- Video tab
    def timeline(self, video: str | None, fps: float = 1.0, label: str | None = None,
                 ) -> tuple[str, pd.DataFrame, list[str], str]:
        """Probability timeline (PNG), the segments where ``label`` holds, CSV files, and a one-line summary."""
        import pandas as pd

        from kernel_laugh.video import find_segments, predict_timeline, probe, write_timeline

        try:
            import av  # noqa: F401  # PyAV decodes the video; say how to get it rather than fail deep inside
        except ImportError:
            raise KernelLaughError("the video tab needs PyAV: pip install 'kernel-laugh[video]'") from None
        if not video:
            raise KernelLaughError("No video yet: upload a clip first.")
        fps = float(fps)
        info = probe(video)  # header only: refuse long videos before decoding anything
        if info.duration and info.duration * fps > MAX_VIDEO_FRAMES:
            raise KernelLaughError(f"{Path(video).name}: {info.duration:.0f} s at {fps:g} frames/s is "
                                   f"{info.duration * fps:.0f} frames; the limit is {MAX_VIDEO_FRAMES}. "
                                   "Lower the sampling rate or trim the video.")
        label = label if label in self.labels else self.default_track_label()
        # Each forward pass takes the lock, so image requests interleave with a long video.
        rows = predict_timeline(_LockedPredictor(self.predictor, self.lock), video, fps=fps,  # type: ignore[arg-type]
                                batch_size=IMAGE_BATCH_SIZE, progress=False)
        if not rows:
            raise KernelLaughError(f"{Path(video).name}: no frames could be decoded from this video.")
        segments = find_segments(rows, label)
        paths = write_timeline(rows, segments, self._out_dir(), label=label)
        table = pd.DataFrame([{"start (s)": s["start"], "end (s)": s["end"],
                               "duration (s)": round(s["end"] - s["start"], 3),
                               "peak": round(s["peak"], 3), "mean": round(s["mean"], 3)} for s in segments],
                             columns=["start (s)", "end (s)", "duration (s)", "peak", "mean"])
        total = sum(s["end"] - s["start"] for s in segments)
        summary = (f"{len(rows)} frames sampled at {fps:g}/s; **{len(segments)} {label} segment(s)**, "
                   f"{total:.1f} s in all.")
        return str(paths["plot"]), table, [str(paths["timeline"]), str(paths["segments"])], summary

    def default_track_label(self) -> str:
        """The model's positive class (config.json's positive_label), else laughter / happy, else class 1."""
        if self.predictor.positive_label in self.labels:
            return str(self.predictor.positive_label)
        return next((lab for lab in LABEL_TO_TRACK if lab in self.labels),
                    self.labels[1] if len(self.labels) == 2 else self.labels[0])


# ---- wiring ----------------------------------------------------------------------------------------------

def _friendly(fn: Any) -> Any:
    """Turn the package's user-facing errors into ``gr.Error`` (shown in the page, sent to API clients)."""
    import functools

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
    from kernel_laugh.audio.predict import is_audio_model

    if not isinstance(model, DemoApp) and is_audio_model(model):  # an audio expert: sound and soundtrack tabs
        from kernel_laugh.audio.demo import build_audio_demo

        return build_audio_demo(model, device=device)
    app = model if isinstance(model, DemoApp) else DemoApp(model, device=device)
    examples = make_examples(examples_dir or app.workdir / "examples") if app.is_brain else Examples()
    title = "kernel-laugh: laughter from brain renders" if app.is_brain else "kernel-laugh image classifier"

    # Parameter names are the API's (gradio_client shows them); `image` holds raw upload payloads.
    def validate(image: list[Any], find_faces: list[bool] | None = None) -> list[list[dict[str, Any]]]:
        # A gradio validator: it runs for each request on its own, before the request joins a batch, so a
        # bad upload fails alone. Raising (not returning gr.validate) is deliberate: gradio 6.31 ignores
        # gr.validate() results of batched events (they arrive as a tuple). The message reaches the page
        # (an error toast) and API clients (HTTP 400 with the message as its detail).
        app.validate_images([upload_path(p, app.workdir) for p in image])
        # Batched shape: one list per input component, one entry per request.
        return [[gr.validate(True, "")] * len(image) for _ in range(1 if find_faces is None else 2)]

    def classify(image: list[Any], find_faces: list[bool] | None = None) -> tuple[list[Any], list[str]]:
        paths = []
        for p in image:
            try:
                paths.append(upload_path(p, app.workdir))
            except KernelLaughError:
                paths.append(None)  # classify_batch reports it for this request only
        return app.classify_batch(paths, find_faces)

    def explain(image: Any, find_faces: bool = False) -> Image.Image:
        return app.explain(upload_path(image, app.workdir), find_faces)

    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as demo:
        intro = BRAIN_INTRO if app.is_brain else GENERIC_INTRO.format(title=title, labels=" / ".join(app.labels))
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
                        image_inputs.append(gr.Checkbox(value=True, label="Find faces first (classify the largest face)"))
                    classify_button = gr.Button("Classify", variant="primary", elem_id="classify-button")
                with gr.Column():
                    label = gr.Label(label="Prediction", num_top_classes=min(5, len(app.labels)), elem_id="prediction")
                    decision = gr.Markdown(elem_id="decision")
                    overlay = gr.Image(label="Where the model looked (Grad-CAM: red = drove the decision)",
                                       interactive=False, elem_id="gradcam")
            if examples.images:
                gr.Examples([[str(p)] for p in examples.images], inputs=[image], cache_examples=False,
                            label="Examples (SYNTHETIC renders generated by kernel-laugh, not real recordings)",
                            example_labels=[p.stem for p in examples.images])
            event = classify_button.click(
                classify, image_inputs, [label, decision], api_name="classify", preprocess=False,
                batch=True, max_batch_size=IMAGE_BATCH_SIZE, concurrency_limit=1, validator=validate,
            )
            event.success(_friendly(explain), image_inputs, overlay, api_name="explain", preprocess=False)

        with gr.Tab("Video"):
            gr.Markdown("Upload a clip: frames are sampled over time, classified, and the stretches where the "
                        "chosen class holds are listed (probability rises above 0.6 and falls back below 0.4).")
            with gr.Row():
                with gr.Column():
                    video = gr.Video(label="Video", sources=["upload"], format=None, elem_id="video-input")
                    fps = gr.Slider(0.2, 5.0, value=1.0, step=0.1, label="Frames per second to sample")
                    track = gr.Dropdown(app.labels, value=app.default_track_label(), label="Class to track")
                    video_button = gr.Button("Make timeline", variant="primary")
                with gr.Column():
                    summary = gr.Markdown()
                    plot = gr.Image(label="Probability over time", interactive=False)
                    segments = gr.Dataframe(label="Segments", interactive=False)
                    video_files = gr.File(label="Download (timeline.csv, segments.csv)", file_count="multiple")
            if examples.video:
                gr.Examples([[str(examples.video)]], inputs=[video], cache_examples=False,
                            label="Example (a SYNTHETIC clip: laughter renders from 10 s to 20 s)")
            video_button.click(_friendly(app.timeline), [video, fps, track], [plot, segments, video_files, summary],
                               api_name="timeline")

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

    demo.queue(max_size=256, default_concurrency_limit=1)
    demo.kernel_laugh_app = app  # type: ignore[attr-defined]  # for tests and callers that want the logic
    return demo


def launch_kwargs() -> dict[str, Any]:
    """``launch()`` settings shared by the Space and ``kernel-laugh demo``."""
    return {"max_file_size": MAX_UPLOAD, "show_error": True}


def launch(model: str | Path, port: int | None = None, share: bool = False, host: str | None = None,
           device: str | int | None = None) -> None:
    """``kernel-laugh demo MODEL``: build the app and serve it until interrupted."""
    demo = build_demo(model, device=device)
    demo.launch(server_name=host, server_port=port, share=share, **launch_kwargs())


def model_from_space_readme(readme: str | Path) -> str | None:
    """The first entry of ``models:`` in a Space's README front matter (the model the Space serves)."""
    try:
        from huggingface_hub import metadata_load

        models = (metadata_load(readme) or {}).get("models") or []
    except (OSError, ValueError):
        return None
    return str(models[0]) if models else None


def resolve_model(cli_value: str | None, readme: str | Path | None = None) -> str:
    """``--model``, else ``$KERNEL_LAUGH_MODEL``, else the Space README's ``models:`` entry."""
    model = cli_value or os.environ.get("KERNEL_LAUGH_MODEL") or (model_from_space_readme(readme) if readme else None)
    if not model:
        raise KernelLaughError("no model given: pass --model DIR_OR_HUB_ID or set KERNEL_LAUGH_MODEL")
    return model


__all__ = ["DemoApp", "Examples", "build_demo", "launch", "launch_kwargs", "load_upload", "make_examples",
           "model_panel", "resolve_model"]

