"""Serving benchmarks: the video timeline, the Space under load, and cold start. Imported by ``benchmark.py``;
also runs on its own::

    HF_HUB_OFFLINE=1 python scripts/bench_serving.py            # ~3 minutes on 2 idle CPU cores
    HF_HUB_OFFLINE=1 python scripts/bench_serving.py --quick    # ~1 minute (one cold start of each)

Every function returns plain JSON numbers. Ratios of two things measured side by side in the same run are what
compare between runs and machines; the seconds behind them are recorded too. Timing is wall clock
(``time.perf_counter``), medians over repeats. Nothing here touches the network: models are local folders, the
servers listen on 127.0.0.1, and gradio's and the Hub's telemetry are switched off.

``bench_video``
    A SYNTHETIC podcast-like clip (1280x720, 25 fps, H.264 from the package's own ``write_video`` at its default
    crf 18, about 1 Mbit/s, a keyframe every 250 frames = 10 s, x264's default interval) is read two ways.
    ``full_decode_s``: every frame decoded with PyAV and dropped (``for frame in container.decode(stream):
    pass``, no colour conversion), the faster of PyAV's default (slice) threading and the frame+slice
    threading ``iter_frames`` sets: the least any reader of every frame spends. ``timeline_s``:
    ``predict_timeline`` at 1 fps with a loaded, warmed-up ``Predictor`` (load time recorded apart, as
    ``predictor_load_s``). ``timeline_over_full_decode`` near 1 means the timeline costs about one decode of
    the file; it can only go below 1 by seeking, which pays only when samples are further apart than
    keyframes (here 1 s against 10 s: every frame has to be decoded). ``iter_frames_s`` (sampling alone:
    decode + RGB conversion) and ``inference_s`` (the model on the sampled frames alone) say where the rest
    goes. ``video_seconds_per_wall_second`` is the timeline's speed. The keyframe interval is measured from
    the file (packets flagged as keyframes), not assumed. The clip is a 10 s base clip (one GOP) repeated by
    stream copy, no re-encode: x264 at 720p encodes about 30 frames/s on 2 cores, and a copy decodes exactly
    like a longer encode of the same content.

``bench_audio``
    ``kernel-laugh timeline`` with an audio model (the audio-sample preset's tiny AST, 1 s windows every 0.5 s) over
    the AAC soundtrack of a SYNTHETIC 10-minute video (2 minutes with ``--quick``). ``audio_seconds_per_wall_second``
    is its speed (target: at least 100 on 2 CPU cores); ``decode_share_of_timeline`` is ``read_audio`` (decode,
    downmix, resample) alone ÷ the whole timeline, timed interleaved. ``audio_seconds_per_cpu_second_one_thread``
    divides by the CPU time of one thread doing the same: busy neighbours stretch wall time, hardly this.

``bench_space``
    The Space's app (``build_demo``) served on a local port. ``client_over_direct_latency``: median seconds of
    one ``gradio_client`` ``/classify`` call (upload, queue, event stream) ÷ median seconds of the same work
    called in-process (``DemoApp.validate_images`` + ``classify_batch`` for one 224 px image: the validator and
    the function the served event runs): what HTTP and gradio add per request. ``batched_over_unbatched``:
    images/s with 16 concurrent clients (each its own ``Client``, sending its images one after another, all
    in one child process: real clients are never inside the server's process) against a minimal app with one
    Image → Label event, batched (``batch=True``, ``max_batch_size=IMAGE_BATCH_SIZE``) ÷ the same app
    unbatched. Both use one predictor, the Space's upload handling and its queue settings
    (``concurrency_limit=1``), so the ratio is batching alone. The real app (its ``/classify`` is always
    batched) is loaded the same way: ``space_images_per_s``, with the batch sizes its queue formed.
    ``predict_speedup_batch16`` (the model alone, batch 1 ÷ batch 16 per image) bounds what batching can save.

``bench_cold_start``
    Seconds from process start to the first prediction, medians of ``repeats`` (3) fresh processes each, run
    round robin: ``kernel-laugh predict MODEL IMAGE``; a bare script doing the same with
    ``transformers.pipeline``; and the Space (``space/app.py``, started as a Space starts it: ``python app.py``,
    the model from ``KERNEL_LAUGH_MODEL``) until its first ``/classify`` answer through a new ``gradio_client``.
    ``python -c "import torch"`` is the yardstick: ratios to it say what the package adds over the one import
    nobody can avoid, and compare across machines with slower or faster disks.

``other_processes_busy_cores`` is recorded with each: how many cores other processes kept busy, on average,
while it ran. On a 2-core machine anything above ~0.2 skews the numbers, and torch's OpenMP threads suffer most
(a batch-1 forward pass was seen to take 50x longer while another process held the cores): rerun then.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Before gradio / huggingface_hub are imported (they read these at import): no telemetry, no version checks.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
SPACE_APP = ROOT / "space" / "app.py"

VIDEO_SIZE = (1280, 720)  # a 720p podcast recording
VIDEO_FPS = 25
VIDEO_GOP = 250  # frames between keyframes: x264's default keyint, 10 s at 25 fps
VIDEO_CRF = 18  # write_video's default
TIMELINE_FPS = 1.0
TIMELINE_BATCH = 16  # `kernel-laugh timeline --batch-size` default
CLIENTS = 16
REQUEST_TIMEOUT_S = 120.0
START_TIMEOUT_S = 180.0


# ---- helpers -----------------------------------------------------------------------------------------------

def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 0) -> float:
    """Median wall seconds of ``fn()`` over ``repeat`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def wall(fn: Callable[[], Any]) -> float:
    """Wall seconds of one ``fn()``."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet() -> None:
    """Keep the benchmark's output to its numbers: no transformers / gradio / httpx chatter."""
    warnings.filterwarnings("ignore")
    for name in ("httpx", "gradio", "gradio_client", "uvicorn", "uvicorn.error", "uvicorn.access", "PIL"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:
        pass


class OthersCpu:
    """Cores that other processes kept busy from construction until ``cores()``: the whole machine's busy time
    (/proc/stat, hypervisor steal included) minus this process's and its waited-for children's CPU time. On a
    small machine any other busy process skews every number, so each result records it."""

    def __init__(self) -> None:
        self.start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, float, float] | None:
        import resource

        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        busy = (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter(), busy, time.process_time() + children.ru_utime + children.ru_stime

    def cores(self) -> float | None:
        end = self._snapshot()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        (w0, b0, own0), (w1, b1, own1) = self.start, end
        return round(max(0.0, (b1 - b0) - (own1 - own0)) / (w1 - w0), 2)


@contextlib.contextmanager
def env_set(**values: str) -> Iterator[None]:
    """Environment variables set for the duration of the block, then restored."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def child_env(**extra: str) -> dict[str, str]:
    """The environment for the benchmark's subprocesses: offline, quiet, no telemetry."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
            "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore", **extra}


def sample_images(out: Path, n: int, size: tuple[int, int] = (224, 224), fmt: str = "png") -> list[Path]:
    """``n`` SYNTHETIC brain renders upscaled to ``size`` (w, h), as PNG or JPEG files (224 px: the model's input
    size, no resize cost)."""
    from kernel_laugh.sample import generate_sample

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rec in enumerate(generate_sample(n, 96, seed=5)):
        paths.append(out / f"render{i:03d}.{fmt}")
        rec["image"].resize(size).save(paths[-1], **({"quality": 90} if fmt == "jpg" else {}))
    return paths


def make_model(out: Path) -> Path:
    """An untrained 224-px 2-class model folder: speed does not depend on the weights."""
    from kernel_laugh.config import ModelConfig
    from kernel_laugh.modeling import build_model, save_model

    config = ModelConfig(pretrained=False, image_size=224, crop_pct=1.0, crop_mode="squash")
    return save_model(build_model(config, ["non-laughter", "laughter"]).eval(), out)


# ---- video -------------------------------------------------------------------------------------------------

def podcast_frames(seconds: float) -> Iterator[Any]:
    """SYNTHETIC 720p frames laid out like the podcast: a person on the left, the live brain render in the
    ``brain`` region. A static textured background (most of a real frame does not change), a head that sways
    (motion to predict) and a render that cross-fades to a new one every 5 frames (the live display). Tuned to
    an ordinary bitrate (about 1 Mbit/s at crf 18): per-frame noise would make every frame a scene cut."""
    import numpy as np

    from kernel_laugh.sample import generate_sample
    from kernel_laugh.video import region_box

    w, h = VIDEO_SIZE
    bx, by, bw, bh = region_box("brain", w, h)
    px, _, pw, _ = region_box("person", w, h)
    renders = [np.asarray(r["image"].resize((bw, bh)), np.float32) for r in generate_sample(24, size=bh, seed=11)]
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([20 + 30 * yy / h, 18 + 20 * xx / w, 30 + 10 * yy / h], -1) + rng.normal(0, 8, (h, w, 1))
    face = rng.normal(0, 16, (240, 180, 1)) + np.array([190, 150, 120])
    fy, fx = np.mgrid[0:240, 0:180].astype(np.float32)
    for k in range(round(seconds * VIDEO_FPS)):
        t = k / VIDEO_FPS
        img = background.copy()
        cx, cy = px + pw / 2 + 40 * np.sin(2 * np.pi * t / 7), h * 0.35 + 15 * np.sin(2 * np.pi * t / 3.1)
        x0, y0 = int(cx - 90), int(cy - 120)
        inside = ((fx + x0 - cx) / 90) ** 2 + ((fy + y0 - cy) / 120) ** 2 < 1
        img[y0:y0 + 240, x0:x0 + 180][inside] = face[inside]
        img[int(cy + 130):, px:px + pw] = (60, 70, 110)  # shoulders
        a, i = (k % 5) / 5, k // 5
        img[by:by + bh, bx:bx + bw] = (1 - a) * renders[i % len(renders)] + a * renders[(i + 1) % len(renders)]
        yield np.clip(img, 0, 255).astype(np.uint8)


def repeat_clip(src: Path, dst: Path, times: int) -> Path:
    """``src`` played ``times`` times in a row, by stream copy: packets re-timed, nothing re-encoded. Valid
    because the base clip starts on a keyframe and its length is a whole number of frames."""
    import av

    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        frames = sum(1 for p in inp.demux(stream) if p.size)  # the last packet demux yields is an empty flush
        span = round(frames / stream.average_rate / stream.time_base)  # the clip's length in time-base units
    with av.open(str(dst), "w") as out:
        with av.open(str(src)) as template:
            ostream = out.add_stream_from_template(template.streams.video[0])
        for i in range(times):
            with av.open(str(src)) as inp:  # a fresh demux per copy: muxing takes the packets
                for packet in inp.demux(video=0):
                    if not packet.size:
                        continue
                    packet.pts += i * span
                    packet.dts += i * span
                    packet.stream = ostream
                    out.mux(packet)
    return dst


def make_clip(tmp: Path, seconds: float, base_seconds: float) -> Path:
    from kernel_laugh.video import write_video

    base = write_video(tmp / "base.mp4", podcast_frames(base_seconds), VIDEO_FPS, gop=VIDEO_GOP, crf=VIDEO_CRF)
    times = max(1, round(seconds / base_seconds))
    return base if times == 1 else repeat_clip(base, tmp / "podcast.mp4", times)


def keyframe_times(path: Path) -> list[float]:
    """Presentation times of the packets the container flags as keyframes (demuxed, not decoded)."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return sorted(float(p.pts * stream.time_base) for p in c.demux(stream) if p.is_keyframe and p.pts is not None)


def full_decode(path: Path, thread_type: str = "AUTO") -> int:
    """Decode every frame and drop it; the number of frames. ``AUTO`` = frame + slice threads, as iter_frames."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = thread_type
        return sum(1 for _ in c.decode(stream))


def bench_video(model_dir: Path, tmp: Path, quick: bool) -> dict:
    """``predict_timeline`` at 1 fps ÷ a full decode of the same 720p file; seconds of video per wall second."""
    import av

    from kernel_laugh.inference import Predictor
    from kernel_laugh.video import iter_frames, predict_timeline, probe

    quiet()
    tmp.mkdir(parents=True, exist_ok=True)
    others = OthersCpu()
    seconds, base_seconds, repeat = (20.0, 10.0, 2) if quick else (60.0, 10.0, 3)
    t0 = time.perf_counter()
    clip = make_clip(tmp, seconds, base_seconds)
    make_s = time.perf_counter() - t0
    info = probe(clip)
    keys = keyframe_times(clip)
    gaps = [b - a for a, b in zip(keys, keys[1:])]
    with av.open(str(clip)) as c:
        codec = c.streams.video[0].codec_context.name
    frames = full_decode(clip)  # also pulls the file into the page cache for both timings

    t0 = time.perf_counter()
    predictor = Predictor(model_dir)
    load_s = time.perf_counter() - t0
    # The first forward pass builds the CPU kernels for its batch shape; a long video pays that once.
    warm = first_frames(clip, TIMELINE_BATCH)
    warmup_s = wall(lambda: predictor(warm, batch_size=TIMELINE_BATCH))

    rows: list[dict[str, float]] = []
    images: list[Any] = []

    def sample() -> None:
        images[:] = [im for _, im in iter_frames(clip, TIMELINE_FPS)]

    def timeline() -> None:
        rows[:] = predict_timeline(predictor, clip, fps=TIMELINE_FPS, batch_size=TIMELINE_BATCH, progress=False)

    t: dict[str, list[float]] = {k: [] for k in ("decode_default", "decode_auto", "iter_frames", "timeline")}
    for _ in range(repeat):  # interleaved, so a slow moment of the machine hits every side alike
        t["decode_default"].append(wall(lambda: full_decode(clip, "SLICE")))  # PyAV's default threading
        t["decode_auto"].append(wall(lambda: full_decode(clip, "AUTO")))  # what iter_frames sets
        t["iter_frames"].append(wall(sample))
        t["timeline"].append(wall(timeline))
    med = {k: statistics.median(v) for k, v in t.items()}
    inference_s = median_time(lambda: predictor(images, batch_size=TIMELINE_BATCH), repeat)
    # The baseline is the faster of the two threadings: the least a reader of every frame has to spend.
    decode_s = min(med["decode_default"], med["decode_auto"])
    timeline_s = med["timeline"]
    duration = info.duration or frames / VIDEO_FPS
    interval = statistics.median(gaps) if gaps else duration
    return {
        "width": info.width, "height": info.height, "fps": info.fps, "codec": codec, "duration_s": duration,
        "bitrate_mbit_s": clip.stat().st_size * 8 / duration / 1e6, "gop_frames_requested": VIDEO_GOP,
        "crf": VIDEO_CRF, "keyframe_interval_s": interval,
        "keyframe_interval_frames": round(interval * (info.fps or VIDEO_FPS)),
        "keyframes": len(keys), "frames": frames, "timeline_fps": TIMELINE_FPS, "timeline_frames": len(rows),
        "timeline_batch_size": TIMELINE_BATCH, "repeats": repeat,
        "full_decode_s": decode_s, "full_decode_default_threads_s": med["decode_default"],
        "full_decode_frame_slice_threads_s": med["decode_auto"], "full_decode_frames_per_s": frames / decode_s,
        "timeline_s": timeline_s, "timeline_over_full_decode": timeline_s / decode_s,
        "video_seconds_per_wall_second": duration / timeline_s,
        # Where the timeline's time goes: sampling (decode, seek decisions, RGB conversion) and the model.
        "iter_frames_s": med["iter_frames"], "inference_s": inference_s,
        "iter_frames_over_full_decode": med["iter_frames"] / decode_s,
        "predictor_load_s": load_s, "predictor_warmup_s": warmup_s, "make_clip_s": make_s,
        "other_processes_busy_cores": others.cores(),
    }


def first_frames(clip: Path, n: int) -> list[Any]:
    """The first ``n`` frames as RGB images."""
    import av

    images = []
    with av.open(str(clip)) as c:
        for frame in c.decode(video=0):
            images.append(frame.to_image())
            if len(images) == n:
                break
    return images


# ---- the Space ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def serving(demo: Any) -> Iterator[str]:
    """Launch a gradio app on a free local port in this process; its URL; closed afterwards."""
    for attempt in range(3):  # the port was free a moment ago; another process may take it in between
        port = free_port()
        try:
            demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        show_error=True, ssr_mode=False)
            break
        except OSError:
            if attempt == 2:
                raise
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        with contextlib.redirect_stdout(io.StringIO()):  # "Closing server running on port ..."
            demo.close()


def minimal_app(predictor: Any, batched: bool, workdir: Path, sizes: list[int]) -> Any:
    """One Image → Label event calling ``predictor`` as the Space does (raw upload → ``load_upload`` → forward),
    batched or one image per call; the same queue settings as ``build_demo``. ``sizes`` collects batch sizes."""
    import gradio as gr

    from kernel_laugh.demo_service import IMAGE_BATCH_SIZE
    from kernel_laugh.uploads import load_upload, upload_path

    def label(preds: list[dict[str, Any]]) -> dict[str, float]:
        return {d["label"]: float(d["score"]) for d in preds}

    def classify_one(image: Any) -> dict[str, float]:
        sizes.append(1)
        return label(predictor([load_upload(upload_path(image, workdir))], batch_size=1)[0])

    def classify_many(image: list[Any]) -> list[list[dict[str, float]]]:
        sizes.append(len(image))
        images = [load_upload(upload_path(p, workdir)) for p in image]
        return [[label(p) for p in predictor(images, batch_size=IMAGE_BATCH_SIZE)]]

    with gr.Blocks() as demo:
        image = gr.Image(type="filepath")
        out = gr.Label()
        button = gr.Button("Classify")
        button.click(classify_many if batched else classify_one, image, out, api_name="classify", preprocess=False,
                     batch=batched, max_batch_size=IMAGE_BATCH_SIZE, concurrency_limit=1)
    demo.queue(max_size=256, default_concurrency_limit=1)
    return demo


def load_test(url: str, images: list[Path], clients: int, per_client: int, log: Path,
              on_start: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Images/s served to ``clients`` concurrent clients, each sending ``per_client`` images one after another
    (a closed loop: a client sends its next image when its last answer is back), and the CPU seconds per
    image spent by the server (this process, all threads) and by the clients.

    The clients run in a child process (``run_clients``): real clients are never inside the server's
    process, and in-process ones would hold its GIL while they upload and parse event streams. ``on_start``
    runs after the child's untimed warm-up requests, just before the timed ones."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--load-generator", url, str(clients), str(per_client),
           *map(str, images)]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                env=child_env(), start_new_session=True)
    timer = threading.Timer(START_TIMEOUT_S + REQUEST_TIMEOUT_S * per_client, stop, args=(proc,))
    timer.start()  # a hung server or client ends in an error, not a hung benchmark
    try:
        assert proc.stdin is not None and proc.stdout is not None
        ready = proc.stdout.readline().strip() == "ready"
        if ready:
            on_start()
            cpu0 = time.process_time()
            proc.stdin.write("go\n")
            proc.stdin.flush()
        line = proc.stdout.readline() if ready else ""
        server_cpu = time.process_time() - cpu0 if ready else 0.0
        result = json.loads(line) if line.startswith("{") else {"error": "no result"}
    finally:
        timer.cancel()
        stop(proc)
    if result.get("error"):
        raise RuntimeError(f"load test against {url} failed: {result['error']}\n{log.read_text()[-1500:]}")
    n = clients * per_client
    return {"images_per_s": n / result["elapsed_s"], "server_cpu_ms_per_image": server_cpu / n * 1e3,
            "client_cpu_ms_per_image": result["cpu_s"] / n * 1e3}


def run_clients(url: str, clients: int, per_client: int, images: list[str]) -> None:
    """The child side of ``load_test``: connect, warm up, say "ready", wait for "go", print the timing as JSON."""
    from gradio_client import Client, handle_file

    quiet()
    conns = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(clients)]
    for c in conns:  # connection set-up and one round trip each, outside the timing (and one at a time)
        c.predict(handle_file(images[0]), api_name="/classify")
    print("ready", flush=True)
    sys.stdin.readline()
    start = threading.Barrier(clients + 1)
    errors: list[str] = []

    def run(i: int, client: Any) -> None:
        start.wait()
        try:
            for j in range(per_client):
                client.predict(handle_file(images[(i + j) % len(images)]), api_name="/classify")
        except Exception as err:  # noqa: BLE001  # reported in the result, not lost in a thread
            errors.append(repr(err))

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    start.wait()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({"elapsed_s": elapsed, "cpu_s": cpu, "error": errors[0] if errors else None}), flush=True)
    for c in conns:
        c.close()


def bench_space(model_dir: Path, tmp: Path, quick: bool) -> dict:
    """``gradio_client`` latency ÷ direct call; 16-client throughput batched ÷ unbatched."""
    with env_set(GRADIO_TEMP_DIR=str(tmp / "gradio")):  # uploads land in tmp, not the shared /tmp/gradio
        return _bench_space(model_dir, tmp, quick)


def _bench_space(model_dir: Path, tmp: Path, quick: bool) -> dict:
    from gradio_client import Client, handle_file

    from kernel_laugh.demo import build_demo
    from kernel_laugh.demo_service import IMAGE_BATCH_SIZE, DemoApp

    quiet()  # after gradio's import, which sets up its own warnings and loggers
    tmp.mkdir(parents=True, exist_ok=True)
    others = OthersCpu()
    n_latency, per_client, rounds = (8, 3, 1) if quick else (20, 5, 2)
    images = sample_images(tmp / "requests", 8)
    app = DemoApp(model_dir, workdir=tmp / "space")
    # Each batch size the queue can form builds its CPU kernels once: pay that before any timing.
    warm = [open_rgb(images[0])] * IMAGE_BATCH_SIZE
    for b in range(1, IMAGE_BATCH_SIZE + 1):
        app.predictor(warm[:b], batch_size=IMAGE_BATCH_SIZE)

    def direct() -> None:  # what the served /classify event runs for one request: its validator, then classify
        app.validate_images([str(images[0])])
        app.classify_batch([str(images[0])])

    out: dict[str, Any] = {"clients": CLIENTS, "images_per_client": per_client, "rounds": rounds,
                           "latency_requests": n_latency, "max_batch_size": IMAGE_BATCH_SIZE, "image_px": 224,
                           "direct_s": median_time(direct, n_latency, warmup=2)}
    recorded = getattr(app, "batch_sizes", None)  # DemoApp keeps its recent batch sizes (a deque)
    runs: dict[str, list[dict[str, float]]] = {"space": [], "unbatched": [], "batched": []}
    with serving(build_demo(app)) as url:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        request = lambda: client.submit(handle_file(str(images[0])),  # noqa: E731
                                        api_name="/classify").result(timeout=REQUEST_TIMEOUT_S)
        out["client_s"] = median_time(request, n_latency, warmup=2)
        client.close()
        for _ in range(rounds):
            runs["space"].append(load_test(url, images, CLIENTS, per_client, tmp / "space-load.log",
                                           recorded.clear if recorded is not None else lambda: None))
        sizes = list(recorded or [])  # the last round's batches
    out["client_over_direct_latency"] = out["client_s"] / out["direct_s"]
    out["space_mean_batch"] = statistics.fmean(sizes) if sizes else None
    out["space_max_batch"] = max(sizes, default=None)

    for _ in range(rounds):  # alternated, so a slow moment of the machine hits both alike
        for name in ("unbatched", "batched"):
            sizes = []
            with serving(minimal_app(app.predictor, name == "batched", tmp / name, sizes)) as url:
                runs[name].append(load_test(url, images, CLIENTS, per_client, tmp / f"{name}-load.log", sizes.clear))
            out[f"{name}_mean_batch"] = statistics.fmean(sizes) if sizes else None
    for name, results in runs.items():
        for key in results[0]:
            out[f"{name}_{key}"] = statistics.median(r[key] for r in results)
    out["batched_over_unbatched"] = out["batched_images_per_s"] / out["unbatched_images_per_s"]
    out["space_over_unbatched"] = out["space_images_per_s"] / out["unbatched_images_per_s"]
    # The server's own capacity: its CPU per image, which the clients sharing this machine do not blur.
    out["server_cpu_unbatched_over_batched"] = (out["unbatched_server_cpu_ms_per_image"]
                                                / out["batched_server_cpu_ms_per_image"])
    # The model alone, one image vs a full batch: the most batching could ever save per image.
    one = median_time(lambda: app.predictor(warm[:1], batch_size=1), 5, warmup=1)
    full = median_time(lambda: app.predictor(warm, batch_size=IMAGE_BATCH_SIZE), 3, warmup=1) / IMAGE_BATCH_SIZE
    out.update({"predict_ms_batch1": one * 1e3, "predict_ms_per_image_batch16": full * 1e3,
                "predict_speedup_batch16": one / full, "other_processes_busy_cores": others.cores()})
    return out


def open_rgb(path: Path) -> Any:
    """An image file as an RGB PIL image, loaded (the file closed)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


# ---- cold start --------------------------------------------------------------------------------------------

def run_timed(cmd: list[str], timeout: float = START_TIMEOUT_S, **kwargs: Any) -> float:
    """Wall seconds from spawning ``cmd`` until it exits (successfully: a failed run would time nothing real)."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), **kwargs)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited {done.returncode}: {done.stderr[-1500:]}")
    return elapsed


def stop(proc: subprocess.Popen) -> None:
    """Terminate the process group we started (the server and anything it spawned); kill if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def space_first_prediction(model_dir: Path, image: Path, log: Path) -> tuple[float, float]:
    """(seconds until ``space/app.py`` listens, seconds until its first ``/classify`` answer), from spawning
    it as the Space runs it (``python app.py`` in its folder, the model from ``KERNEL_LAUGH_MODEL``)."""
    from gradio_client import Client, handle_file

    port = free_port()
    env = child_env(KERNEL_LAUGH_MODEL=str(model_dir), GRADIO_SERVER_NAME="127.0.0.1", PYTHONUNBUFFERED="1",
                    GRADIO_TEMP_DIR=str(log.parent / "gradio"))
    with log.open("w") as out:  # a file, not a pipe: a pipe nobody reads would block a chatty server
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(SPACE_APP), "--port", str(port)], cwd=SPACE_APP.parent,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while True:  # poll the port: connect() succeeds as soon as the server listens
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.perf_counter() - t0 > START_TIMEOUT_S:
                raise RuntimeError(f"space/app.py did not start:\n{log.read_text()[-1500:]}")
            time.sleep(0.05)
        listen_s = time.perf_counter() - t0
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False, download_files=False)
        client.submit(handle_file(str(image)), api_name="/classify").result(timeout=REQUEST_TIMEOUT_S)
        first_s = time.perf_counter() - t0
        client.close()
        return listen_s, first_s
    finally:
        stop(proc)


def bench_cold_start(model_dir: Path, tmp: Path, *, repeats: int = 3) -> dict:
    """Process start → first prediction: ``predict``, bare ``pipeline``, the Space; each ÷ ``import torch``.
    Medians of ``repeats`` fresh processes of each (3 by default: about a minute on 2 cores; 1 is a rough
    number, fine for ``--quick``)."""
    quiet()
    tmp.mkdir(parents=True, exist_ok=True)
    others = OthersCpu()
    image = sample_images(tmp / "cold", 1)[0]
    pipeline_script = ("import sys; from transformers import pipeline; "
                       "print(pipeline('image-classification', model=sys.argv[1])(sys.argv[2]))")
    cmds = {
        "python": [sys.executable, "-c", "pass"],
        "import_torch": [sys.executable, "-c", "import torch"],
        "predict": [sys.executable, "-m", "kernel_laugh.cli", "predict", str(model_dir), str(image)],
        "pipeline_script": [sys.executable, "-c", pipeline_script, str(model_dir), str(image)],
    }
    times: dict[str, list[float]] = {name: [] for name in cmds}
    space_listen, space_first = [], []
    # No untimed warm-up run: the round robin and the median put a first run from a cold file cache aside.
    for _ in range(repeats):  # round robin: a slow moment of the machine hits every command alike
        for name, cmd in cmds.items():
            times[name].append(run_timed(cmd))
        listen_s, first_s = space_first_prediction(model_dir, image, tmp / "space.log")
        space_listen.append(listen_s)
        space_first.append(first_s)
    out: dict[str, Any] = {f"{name}_s": statistics.median(ts) for name, ts in times.items()}
    out["space_listening_s"] = statistics.median(space_listen)
    out["space_first_prediction_s"] = statistics.median(space_first)
    out["repeats"] = repeats
    out["other_processes_busy_cores"] = others.cores()
    torch_s = out["import_torch_s"]
    out["predict_over_import_torch"] = out["predict_s"] / torch_s
    out["pipeline_script_over_import_torch"] = out["pipeline_script_s"] / torch_s
    out["predict_over_pipeline_script"] = out["predict_s"] / out["pipeline_script_s"]
    out["space_over_import_torch"] = out["space_first_prediction_s"] / torch_s
    return out


# ---- the ratio table ---------------------------------------------------------------------------------------

def bench_audio(tmp: Path, quick: bool) -> dict:
    """``kernel-laugh timeline`` with an audio model over a video's AAC soundtrack (decode and resample to 16 kHz,
    log-mel frames, an AST on 1 s windows every 0.5 s): seconds of audio per wall second (target: at least 100 on 2
    CPU cores), and the share of that wall time spent decoding (``read_audio`` alone, timed interleaved). The model
    is the audio-sample preset's tiny AST, untrained: a trained one does the same arithmetic."""
    import torch

    from kernel_laugh.audio.model import build_audio_model, save_audio_model
    from kernel_laugh.audio.predict import AudioPredictor
    from kernel_laugh.audio.sample import planted_soundtrack, write_soundtrack_video
    from kernel_laugh.readers.audio import read_audio

    quiet()
    tmp.mkdir(parents=True, exist_ok=True)
    others = OthersCpu()
    seconds, repeat = (120.0, 2) if quick else (600.0, 3)
    clip = write_soundtrack_video(tmp / "talk.mp4", planted_soundtrack(seconds, seconds / 3, seconds / 3 + 8.0))
    model, fe = build_audio_model("ast-tiny", ["non-laughter", "laughter"], pretrained=False, window_s=1.0,
                                  sampling_rate=16000)
    model.config.kernel_laugh_audio = {"window_seconds": 1.0, "hop_seconds": 0.5}
    predictor = AudioPredictor(save_audio_model(model.eval(), fe, tmp / "model"))
    predictor.timeline(clip)  # warm-up: the model's kernels for its batch shape, the file in the page cache
    t: dict[str, list[float]] = {"decode": [], "timeline": []}
    for _ in range(repeat):  # interleaved, so a slow moment of the machine hits both alike
        t["decode"].append(wall(lambda: read_audio(clip, 16000)))
        t["timeline"].append(wall(lambda: predictor.timeline(clip)))
    timeline_s, decode_s = statistics.median(t["timeline"]), statistics.median(t["decode"])
    # CPU seconds of one thread for the same work: other processes on a small machine stretch wall time but
    # hardly this, so it bounds what an idle machine does (2 idle cores do at least this many audio s per wall s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cpu = []
        for _ in range(repeat):
            c0 = time.process_time()
            predictor.timeline(clip)
            cpu.append(time.process_time() - c0)
    finally:
        torch.set_num_threads(threads)
    cpu_s = statistics.median(cpu)
    return {"audio_seconds": seconds, "torch_threads": threads, "timeline_s": timeline_s,
            "timeline_cpu_s_one_thread": cpu_s, "audio_seconds_per_cpu_second_one_thread": seconds / cpu_s,
            "decode_s": decode_s, "audio_seconds_per_wall_second": seconds / timeline_s,
            "decode_share_of_timeline": decode_s / timeline_s, "target_audio_seconds_per_wall_second": 100.0,
            "other_processes_busy_cores": others.cores()}


def table_rows(results: dict) -> list[tuple[str, float]]:
    """(description, ratio) rows for ``results["video"]``, ``["space"]`` and ``["cold_start"]`` (any may be absent)."""
    wanted = [
        ("video", "timeline_over_full_decode", "video: timeline 1 fps ÷ full decode (wall)"),
        ("video", "video_seconds_per_wall_second", "video: seconds of video per wall second (timeline 1 fps)"),
        ("space", "client_over_direct_latency", "Space: gradio_client latency ÷ direct call"),
        ("space", "batched_over_unbatched", "Space: 16 clients, batched ÷ unbatched throughput"),
        ("space", "space_over_unbatched", "Space: 16 clients, the Space's app ÷ unbatched throughput"),
        ("space", "server_cpu_unbatched_over_batched", "Space: server CPU per image, unbatched ÷ batched"),
        ("cold_start", "predict_over_import_torch", "cold start: predict ÷ `import torch`"),
        ("cold_start", "predict_over_pipeline_script", "cold start: predict ÷ bare pipeline script"),
        ("cold_start", "space_over_import_torch", "cold start: Space first answer ÷ `import torch`"),
        ("audio", "audio_seconds_per_wall_second", "audio: seconds of audio per wall second (timeline, target ≥ 100)"),
        ("audio", "decode_share_of_timeline", "audio: decoding ÷ whole timeline (wall)"),
        ("audio", "audio_seconds_per_cpu_second_one_thread", "audio: seconds of audio per CPU second (1 thread)"),
    ]
    return [(text, float(results[part][key])) for part, key, text in wanted
            if isinstance(results.get(part), dict) and results[part].get(key) is not None]


def main() -> None:
    if sys.argv[1:2] == ["--load-generator"]:  # the child process of load_test
        url, clients, per_client, *images = sys.argv[2:]
        run_clients(url, int(clients), int(per_client), images)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter clip and fewer requests (about a minute)")
    parser.add_argument("--only", choices=["video", "space", "cold_start", "audio"], action="append",
                        help="run only this part (repeatable)")
    args = parser.parse_args()
    quiet()
    parts = args.only or ["video", "space", "cold_start", "audio"]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as d:
        tmp = Path(d)
        model_dir = make_model(tmp / "model")
        runs: dict[str, Callable[[], dict]] = {
            "video": lambda: bench_video(model_dir, tmp / "video", args.quick),
            "space": lambda: bench_space(model_dir, tmp / "space", args.quick),
            "cold_start": lambda: bench_cold_start(model_dir, tmp / "cold", repeats=1 if args.quick else 3),
            "audio": lambda: bench_audio(tmp / "audio", args.quick),
        }
        for name in parts:
            t0 = time.perf_counter()
            results[name] = runs[name]()
            results[name]["bench_s"] = time.perf_counter() - t0
            print(f"{name}: {results[name]['bench_s']:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))
    rows = table_rows(results)
    width = max((len(r[0]) for r in rows), default=10)
    print("\n".join(f"{name.ljust(width)} | {value:.2f}" for name, value in rows))


if __name__ == "__main__":
    main()
