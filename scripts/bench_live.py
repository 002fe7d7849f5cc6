"""Live-tab benchmark: frames per second and per-frame latency of the Space's live path at 640x480.

    HF_HUB_OFFLINE=1 python scripts/bench_live.py               # ~1 minute
    HF_HUB_OFFLINE=1 python scripts/bench_live.py --seconds 10

What is timed is the server's work for one webcam frame, as the live tab's stream event does it: a
``LiveSession`` per visitor runs ``FaceService.live.annotate`` (OpenCV's Haar cascade over the frame shrunk to
``LIVE_MAX_SIDE``, every face's crop through the model in one forward pass, the boxes drawn), adds the main face
to the rolling history, and the annotated frame is encoded as JPEG (what goes back to the browser). The model is a face-
expression classifier of the ``fer2013`` preset's shape (resnet18, 224x224 input, 7 emotions; random weights:
speed does not depend on them). The frame is two real faces (scikit-image's astronaut photo and its mirror
image; the dev extra has scikit-image).

Each visitor sends its next frame as soon as the previous answer is back (a closed loop: the most frames the
server can turn round), for ``--seconds`` each, with 1 visitor and then with 4 at once (one thread each, one
shared model behind the app's lock, as in the Space). Reported per setting: frames per second per visitor,
the median and 90th-percentile latency per frame (seconds from handing the frame over to holding the JPEG),
the CPU seconds this process spent per frame (all threads; on a crowded machine wall time stretches, this
hardly), and ``other_processes_busy_cores`` (see ``bench_serving.py``: on a shared 2-core machine anything above
~0.2 skews the numbers). Browser capture, upload and display are not included: on one machine they add the
transfer of about 30-60 kB each way per frame. Targets (issue 19): at least 5 frames/s for one visitor and
2 each for 4, on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_serving import OthersCpu
from PIL import Image, ImageOps

from kernel_laugh.config import ModelConfig
from kernel_laugh.face_expressions import ExpressionReader
from kernel_laugh.face_service import FaceService
from kernel_laugh.inference import Predictor
from kernel_laugh.live_stream import LiveSession
from kernel_laugh.modeling import build_model, save_model

EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def two_faces() -> Image.Image:
    from skimage import data  # dev extra: real face photos

    face = Image.fromarray(data.astronaut()).crop((110, 10, 350, 250)).resize((200, 200))
    frame = Image.new("RGB", (640, 480), (128, 128, 128))
    frame.paste(face, (40, 140))
    frame.paste(ImageOps.mirror(face), (400, 140))
    return frame


def run(reader: ExpressionReader, frame: Image.Image, visitors: int, seconds: float) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(visitors)]
    faces_seen: list[int] = [0] * visitors
    stop = time.perf_counter() + seconds
    others = OthersCpu()
    cpu = time.process_time()

    def visitor(i: int) -> None:
        session = LiveSession(reader.labels)
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            out = session.process(frame, reader.annotate)
            assert out is not None  # one frame in flight per visitor: never dropped here
            buf = io.BytesIO()
            out.image.save(buf, format="JPEG", quality=85)
            latencies[i].append(time.perf_counter() - t0)
            faces_seen[i] = len(out.faces)

    start = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    every = sorted(x for lat in latencies for x in lat)
    return {
        "visitors": visitors,
        "frames_per_s_per_visitor": [round(len(lat) / wall, 2) for lat in latencies],
        "min_frames_per_s_per_visitor": round(min(len(lat) for lat in latencies) / wall, 2),
        "latency_median_s": round(statistics.median(every), 4),
        "latency_p90_s": round(every[int(0.9 * (len(every) - 1))], 4),
        "cpu_s_per_frame": round(cpu / len(every), 4),
        "faces_per_frame": faces_seen[0],
        "other_processes_busy_cores": others.cores(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each setting runs (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_model(build_model(ModelConfig(pretrained=False, image_size=224, crop_pct=1.0,
                                                    crop_mode="squash"), EMOTIONS).eval(), Path(tmp) / "fer")
        predictor = Predictor(folder)
        lock = threading.Lock()

        def classify(crops: list[Image.Image]) -> list[list[dict[str, Any]]]:
            with lock:  # the Space's one model lock
                return predictor(crops, batch_size=16)

        reader = FaceService(classify, EMOTIONS).live  # the live tab's reader: its faster detector setting
        frame = two_faces()
        reader.annotate(frame)  # warm up (first forward pass, cascade caches)
        results = {"frame": "640x480, two faces", "model": "resnet18 224 px, 7 classes (random weights)",
                   "one_visitor": run(reader, frame, 1, args.seconds),
                   "four_visitors": run(reader, frame, 4, args.seconds)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
