"""Benchmark: throughput of the fused timeline, in seconds of video per wall second, on the 2 Hz grid.

    python scripts/bench_fusion.py                          # SYNTHETIC clips, experts of the sample's sizes
    python scripts/bench_fusion.py --fusion runs/fusion     # the whole fused timeline of a trained fusion folder
    python scripts/bench_fusion.py --videos DIR --brain M1 --face M2 --audio M3   # your clips and experts

Without ``--fusion`` it times the expert runners alone (``fusion.experts.run_experts``: one decode pass, the brain
and face image models, the Haar face detector, the audio model); with it, ``fusion.timeline.fusion_timeline``
(the runners, the gate, and writing the CSVs and the plot). Throughput depends on the models' sizes, not their
weights, so by default the experts are *untrained* models of the SYNTHETIC sample's architectures (a ResNet-18 on
64-pixel crops for brain and face, the tiny AST on 1 s windows for audio), on ``--videos-count`` SYNTHETIC clips of
``--duration`` seconds (``kernel_laugh.fusion.sample``, with their planted outages). Reports the share of wall time
spent decoding frames, in each expert (the audio expert's includes reading the soundtrack), and in the rest.

The target is >= 10 s of video per wall second on 2 CPU cores. Timings on a shared machine vary with its load:
run it alone, and read the ratio, not the absolute numbers, when comparing two changes (run both side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kernel_laugh.audio.model import build_audio_model, save_audio_model
from kernel_laugh.config import ModelConfig
from kernel_laugh.fusion.experts import ExpertSpec, load_experts, run_experts
from kernel_laugh.fusion.sample import Plan, plan_video, render_pool, write_fusion_video
from kernel_laugh.modeling import build_model, save_model
from kernel_laugh.readers.frames import probe
from kernel_laugh.readers.segments import load_segments


def untrained_experts(root: Path) -> list[ExpertSpec]:
    """Brain, face and audio model folders of the SYNTHETIC sample's sizes, with random weights."""
    image = ModelConfig(pretrained=False, image_size=64, crop_pct=1.0, crop_mode="squash")
    save_model(build_model(image, ["non-laughter", "laughter"]).eval(), root / "brain")
    save_model(build_model(image, ["neutral", "smile"]).eval(), root / "face")
    model, fe = build_audio_model("ast-tiny", ["non-laughter", "laughter"], pretrained=False, window_s=1.0,
                                  sampling_rate=16000)
    save_audio_model(model.eval(), fe, root / "audio")
    return [ExpertSpec.for_model("brain", root / "brain", "laughter"),
            ExpertSpec.for_model("face", root / "face", "smile"),
            ExpertSpec.for_model("audio", root / "audio", "laughter")]


def synthetic_videos(root: Path, count: int, duration: float, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    renders = render_pool(int(count * duration * 2 * 2.2) + 16, seed)
    plans: list[Plan] = [plan_video(rng, duration, outages=True) for _ in range(count)]
    return [write_fusion_video(root / f"synthetic-bench-{i:02d}.mp4", p, seed + i, renders) for i, p in enumerate(plans)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fusion", help="a trained fusion folder: time the whole fused timeline (gate included)")
    parser.add_argument("--videos", help="a folder with labels.csv naming its videos (default: SYNTHETIC clips)")
    parser.add_argument("--brain", help="brain expert folder (default: untrained, the sample's size)")
    parser.add_argument("--face", help="face expert folder (positive label --face-label)")
    parser.add_argument("--face-label", default="smile")
    parser.add_argument("--audio", help="audio expert folder")
    parser.add_argument("--videos-count", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per SYNTHETIC clip")
    parser.add_argument("--grid-hz", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over all clips (after one warm-up clip)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-fusion-"))
    if args.videos:
        folder = Path(args.videos)
        videos = [folder / n for n in dict.fromkeys(s.video for s in load_segments(folder / "labels.csv") if s.video)]
    else:
        videos = synthetic_videos(work / "videos", args.videos_count, args.duration, seed=0)
    seconds = sum(probe(v).duration or 0.0 for v in videos)

    if args.fusion:
        from kernel_laugh.fusion.timeline import FusionSpace, fusion_timeline

        # Loaded once, as the Space holds it (the `timeline` command loads once per call): per video, the timing
        # covers decoding, the experts, the gate, and writing the CSVs and the plot.
        loaded = FusionSpace.load(args.fusion)
        what = f"fused timeline of {args.fusion} (experts, gate, CSVs and plot; models loaded once)"

        def one(video: Path, timings: dict[str, float]) -> None:
            fusion_timeline(loaded.model, video, work / "out" / video.stem, runners=loaded.runners, progress=False,
                            timings=timings)
    else:
        given = {"brain": args.brain, "face": args.face, "audio": args.audio}
        if any(given.values()):
            specs = [ExpertSpec.for_model(m, ref, args.face_label if m == "face" else "laughter")
                     for m, ref in given.items() if ref]
        else:
            specs = untrained_experts(work / "experts")
        runners = load_experts(specs)
        what = "expert runners alone (run_experts: " + ", ".join(r.spec.model for r in runners.values()) + "); no gate"

        def one(video: Path, timings: dict[str, float]) -> None:
            run_experts(video, runners, args.grid_hz, timings=timings)

    one(videos[0], {})  # warm-up: model loading, first-call allocations, the page cache
    timings: dict[str, float] = {}
    began = time.perf_counter()
    for _ in range(args.repeats):
        for v in videos:
            one(v, timings)
    wall = time.perf_counter() - began
    video_s = seconds * args.repeats
    parts = {k: v for k, v in timings.items()}
    parts["other (gate, writing, Python)"] = max(0.0, wall - sum(timings.values()))
    result = {"what": what, "videos": len(videos), "video_seconds": round(video_s, 1), "wall_seconds": round(wall, 2),
              "seconds_of_video_per_wall_second": round(video_s / wall, 2), "grid_hz": args.grid_hz,
              "share": {k: round(v / wall, 3) for k, v in parts.items()},
              "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "load_average_1min": round(os.getloadavg()[0], 2)}
    print(f"{what}\n{len(videos)} clips, {video_s:.0f} s of video at {args.grid_hz:g} Hz in {wall:.1f} s wall: "
          f"{video_s / wall:.1f} s of video per wall second (target >= 10)")
    for k, v in parts.items():
        print(f"  {k:32s} {v:7.2f} s  {100 * v / wall:5.1f}%")
    print(f"torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} "
          "(a shared machine: other work slows these numbers)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
