"""Speed of kernel-laugh, reported as ratios measured side by side in one run (never absolute claims).

    python scripts/benchmark.py            # ~5-10 minutes on 2 CPU cores
    python scripts/benchmark.py --quick    # ~1-2 minutes, smaller counts
    python scripts/benchmark.py --json runs/benchmark.json

First it records the machine (CPU flags, threads, versions) and a GEMM probe (fp32 and bf16 GFLOP/s of a
2048² matmul, measured the same way every run), then each comparison. Ratios, not seconds, are what is
comparable between runs and machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

RESNET18_GFLOP_224 = 3.64  # 1.82 GMACs per 224x224 image (timm's published figure), 2 FLOP per MAC


def timed(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> dict[str, Any]:
    flags = set()
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    import timm
    import transformers

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
            "transformers": transformers.__version__}


def gemm_gflops(dtype: torch.dtype, n: int = 2048, device: str = "cpu") -> float:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)

    def run():
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()

    return 2 * n**3 / timed(run, repeat=5) / 1e9


def make_model(out: Path, image_size: int = 224) -> Path:
    from kernel_laugh.config import ModelConfig
    from kernel_laugh.modeling import build_model, save_model

    model = build_model(ModelConfig(pretrained=False, image_size=image_size, crop_pct=1.0, crop_mode="squash"),
                        ["non-laughter", "laughter"])
    return save_model(model.eval(), out)


def make_images(out: Path, n: int, size: tuple[int, int], fmt: str = "png") -> list[Path]:
    """``n`` synthetic brain renders of ``size`` (w, h), upscaled from the sample generator."""
    from kernel_laugh.sample import generate_sample

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rec in enumerate(generate_sample(n, 96, seed=7)):
        p = out / f"img{i:03d}.{fmt}"
        rec["image"].resize(size).save(p, quality=90) if fmt == "jpg" else rec["image"].resize(size).save(p)
        paths.append(p)
    return paths


def bench_inference(model_dir: Path, files: list[Path], batch: int, gemm: dict[str, float]) -> dict[str, Any]:
    """The package's prediction path (files → labels) vs plain ``pipeline`` on the same files and model."""
    from transformers import pipeline

    from kernel_laugh.inference import Predictor

    pipe = pipeline("image-classification", model=str(model_dir))
    default_s = timed(lambda: pipe([str(f) for f in files], batch_size=batch), repeat=2)
    predictor = Predictor(model_dir)
    ours_s = timed(lambda: predictor.predict_files(files, batch_size=batch), repeat=2)
    dtype = getattr(predictor, "compute_dtype", torch.float32)
    ours_ips, default_ips = len(files) / ours_s, len(files) / default_s
    rate = gemm["bf16" if dtype == torch.bfloat16 else "fp32"]
    return {"batch": batch, "images": len(files), "dtype": str(dtype).replace("torch.", ""),
            "default_pipeline_img_s": default_ips, "package_img_s": ours_ips,
            "speedup_over_pipeline": ours_ips / default_ips,
            "inference_efficiency": ours_ips * RESNET18_GFLOP_224 / rate}


def bench_preprocessing(model_dir: Path, tmp: Path, batch: int) -> dict[str, Any]:
    """(decode + resize) time ÷ forward time, per image, for small, 1080p and 4K-crop-sized inputs."""
    from kernel_laugh.inference import Predictor

    predictor = Predictor(model_dir)
    x = torch.randn(batch, 3, 224, 224)
    forward_s = timed(lambda: predictor.forward(x), repeat=3) / batch
    out = {"forward_ms_per_image": forward_s * 1e3}
    for name, size, fmt in (("224px_png", (224, 224), "png"), ("1080p_jpg", (1920, 1080), "jpg"),
                            ("4k_crop_png", (1050, 800), "png")):
        files = make_images(tmp / name, 8, size, fmt)
        prep_s = timed(lambda: [predictor.preprocess_file(f) for f in files], repeat=2) / len(files)
        out[f"preprocessing_share_{name}"] = prep_s / forward_s
    return out


def bench_training(tmp: Path, quick: bool) -> dict[str, Any]:
    """``kernel-laugh train`` images/s ÷ a plain fp32 loop written like the original's, same data and batch."""
    from kernel_laugh.sample import write_image_folder

    data = write_image_folder(tmp / "train_data", n=64 if quick else 160, size=96, seed=3)
    n_train = sum(1 for _ in data.rglob("*.png"))
    args = ["--dataset", str(data), "--no-pretrained", "--image-size", "224", "--epochs", "1", "--batch-size", "32",
            "--validation-fraction", "0.1", "--test-fraction", "0.1", "--output-dir", str(tmp / "train_out")]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kernel_laugh.cli", "train", *args], check=True, capture_output=True)
    ours_s = time.perf_counter() - t0
    plain_s = _plain_loop(data)
    # Both include process start-up, data preparation and one epoch over ~80% of the images.
    return {"train_images": n_train, "package_train_s": ours_s, "plain_fp32_loop_s": plain_s,
            "training_speedup": plain_s / ours_s}


def _plain_loop(data: Path) -> float:
    code = f"""
import time, torch, torchvision
from torchvision import transforms as T
t0 = time.perf_counter()
ds = torchvision.datasets.ImageFolder({str(data)!r}, T.Compose([T.Resize((224, 224)), T.ToTensor()]))
n = int(len(ds) * 0.8)
loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size=32, shuffle=True)
model = torchvision.models.resnet18(num_classes=2)
opt = torch.optim.Adam(model.parameters(), 1e-3)
for x, y in loader:
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
print(time.perf_counter() - t0)
"""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def table(results: dict[str, Any]) -> str:
    rows = [("inference: package ÷ default pipeline", results["inference"]["speedup_over_pipeline"]),
            ("inference efficiency (of GEMM peak)", results["inference"]["inference_efficiency"])]
    rows += [(f"preprocessing ÷ forward ({k.split('share_')[1]})", v) for k, v in results["preprocessing"].items()
             if k.startswith("preprocessing_share")]
    if "training" in results:
        rows.append(("training: package ÷ plain fp32 loop", results["training"]["training_speedup"]))
    width = max(len(r[0]) for r in rows)
    return "\n".join([f"{'ratio'.ljust(width)} | value", "-" * width + "-|------"] +
                     [f"{name.ljust(width)} | {value:.2f}" for name, value in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts, about a minute")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    results: dict[str, Any] = {"machine": machine()}
    results["gemm_gflops"] = {"fp32": gemm_gflops(torch.float32), "bf16": gemm_gflops(torch.bfloat16)}
    print(json.dumps(results, indent=2), flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model_dir = make_model(tmp / "model")
        files = make_images(tmp / "images", 32 if args.quick else 96, (224, 224))
        results["inference"] = bench_inference(model_dir, files, args.batch_size, results["gemm_gflops"])
        results["preprocessing"] = bench_preprocessing(model_dir, tmp, args.batch_size)
        if not args.skip_training:
            results["training"] = bench_training(tmp, args.quick)
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
