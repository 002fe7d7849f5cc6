"""Speed of kernel-laugh, reported as ratios measured side by side in one run (never absolute claims).

    python scripts/benchmark.py --json runs/benchmark.json   # about 6-8 minutes on 2 idle CPU cores
    python scripts/benchmark.py --quick                      # about 3 minutes, smaller counts
    python scripts/benchmark.py --skip space --skip cold_start

First it records the machine (CPU flags, threads, versions) and a GEMM probe (fp32 and bf16 GFLOP/s of a
2048² matmul, measured the same way every run), then each section:

- inference: files → labels through ``Predictor.predict_files`` (default and ``--precision fp32``) ÷ plain
  ``pipeline("image-classification")`` on the same 224 px PNGs, model and batch; efficiency = images/s x 3.64
  GFLOP (ResNet-18 at 224²) ÷ the GEMM probe for the dtype used;
- without_bf16: the inference comparison again in child processes with oneDNN, ATen and MKL capped below bf16
  (``ONEDNN_MAX_CPU_ISA`` AVX512_CORE and AVX2), standing in for CPUs without native bf16;
- forward: the network alone, the package's form ÷ eager channels-last autocast and ÷ ``torch.compile`` with
  frozen weights (why prediction uses neither); decode + resize ÷ forward, per image, for 224 px, 1080p JPEG
  and 4K-crop-sized PNG inputs;
- training: ``kernel-laugh train`` images/s in epochs 2-4 ÷ a plain fp32 loop like the original project's
  (same files, model, image size and batch), and the data loader alone ÷ the training step alone;
- video, space, cold_start, audio (the audio timeline's seconds of audio per wall second, and decoding's share):
  see ``bench_serving.py``.

Ratios, not seconds, are what compare between runs and machines. Each section records
``other_processes_busy_cores``: above ~0.2 on a 2-core machine, rerun.
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

import torch
from bench_serving import (OthersCpu, bench_audio, bench_cold_start, bench_space, bench_video, make_model, median_time,
                           quiet, sample_images, table_rows)

RESNET18_GFLOP_224 = 3.64  # 1.82 GMACs per 224x224 image (timm's published figure), 2 FLOP per MAC


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


def gemm_gflops(dtype: torch.dtype, n: int = 2048, device: str = "cpu", repeat: int = 30) -> float:
    """The machine's matmul limit for ``dtype``: the best of ``repeat`` timed n x n products (a median of a few
    ~10 ms runs swung by 50% between runs on a shared host; the best is what the hardware can do)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    for i in range(repeat + 3):  # 3 untimed: thread pool start-up, AMX/AVX-512 frequency settling
        t0 = time.perf_counter()
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0) if i >= 3 else best
    return 2 * n**3 / best / 1e9


def bench_inference(model_dir: Path, files: list[Path], batch: int, gemm: dict[str, float],
                    variants: tuple[tuple[str, dict[str, str]], ...] = (("auto", {}), ("fp32", {"precision": "fp32"})),
                    ) -> dict[str, Any]:
    """The package's prediction path (files → labels) in its default and fp32 forms vs plain
    ``pipeline`` on the same files and model. Efficiency: delivered GFLOP/s ÷ the GEMM probe for the dtype."""
    from transformers import pipeline

    from kernel_laugh.inference import Predictor

    pipe = pipeline("image-classification", model=str(model_dir))
    default_ips = len(files) / median_time(lambda: pipe([str(f) for f in files], batch_size=batch), repeat=2, warmup=1)
    out: dict[str, Any] = {"batch": batch, "images": len(files), "default_pipeline_img_s": default_ips}
    for name, kwargs in variants:
        t0 = time.perf_counter()
        predictor = Predictor(model_dir, **kwargs)
        predictor.predict_files(files[:batch], batch_size=batch)  # first call: oneDNN creates its kernels
        ready_s = time.perf_counter() - t0
        ips = len(files) / median_time(lambda: predictor.predict_files(files, batch_size=batch), repeat=2, warmup=0)
        dtype = "bf16" if predictor.compute_dtype == torch.bfloat16 else "fp32"
        out[name] = {"dtype": dtype, "img_s": ips, "speedup_over_pipeline": ips / default_ips,
                     "efficiency": ips * RESNET18_GFLOP_224 / gemm[dtype], "load_and_first_batch_s": ready_s}
    return out


# oneDNN ISA caps (with ATen's and MKL's matching levels) that stand in for CPUs without native bf16.
NO_BF16_ISAS = (("AVX512_CORE", "avx512", "AVX512"), ("AVX2", "avx2", "AVX2"))


def bench_without_bf16(model_dir: Path, files: list[Path], batch: int) -> dict[str, Any]:
    """The inference comparison again, in child processes whose oneDNN, ATen and MKL kernels are capped below bf16:
    AVX512_CORE (AVX-512 without bf16 or AMX, like Skylake / Cascade Lake servers) and AVX2 (most laptops). The
    package's "auto" precision sees the cap and runs fp32; the GEMM probe is measured under the same cap."""
    out: dict[str, Any] = {}
    for isa, aten, mkl in NO_BF16_ISAS:
        env = {**os.environ, "ONEDNN_MAX_CPU_ISA": isa, "ATEN_CPU_CAPABILITY": aten, "MKL_ENABLE_INSTRUCTIONS": mkl}
        done = subprocess.run([sys.executable, __file__, "--inference-child", str(model_dir), str(batch), *map(str, files)],
                              env=env, check=True, capture_output=True, text=True)
        out[isa] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def inference_child(model_dir: str, batch: str, *files: str) -> None:
    """The child of ``bench_without_bf16``: GEMM probe and the default path ÷ ``pipeline``, as JSON on stdout."""
    quiet()
    gemm = {"fp32": gemm_gflops(torch.float32, repeat=10)}  # emulated bf16 would take minutes, and is not used
    result = bench_inference(Path(model_dir), [Path(f) for f in files], int(batch), gemm, variants=(("auto", {}),))
    print(json.dumps({"gemm_gflops": gemm, "cpu_capability": torch.backends.cpu.get_cpu_capability(), **result}))


def bench_forward(model_dir: Path, tmp: Path, batch: int) -> dict[str, Any]:
    """The network alone: the package's forward ÷ the forms it could have used instead (same weights, dtype and
    batch); then (decode + resize) ÷ forward, per image, for small, 1080p and 4K-crop-sized inputs."""
    from kernel_laugh.fastpath import channels_last_network, cpu_chunk_size
    from kernel_laugh.inference import Predictor

    predictor = Predictor(model_dir)
    x = torch.randn(batch, 3, 224, 224)
    forward_s = median_time(lambda: predictor.forward(x), repeat=5, warmup=1) / batch
    model, device, dtype = predictor.pipe.model.timm_model, predictor.device, predictor.compute_dtype
    plain = channels_last_network(model, device, dtype)  # the package's form off x86 CPUs and its fallback
    # torch.compile with frozen weights: Inductor folds constants and pre-packs oneDNN weights (the compile itself,
    # ~20 s a shape here, is left out: only steady-state speed counts). Autocast stays outside, as it would be.
    compiled = channels_last_network(model, device, dtype)
    compiled.net = torch.compile(compiled.net, dynamic=False, options={"freezing": True})  # one graph per shape
    out: dict[str, Any] = {"forward_ms_per_image": forward_s * 1e3}
    for name, net in (("channels_last_autocast", plain), ("torch_compile", compiled)):
        def run(chunk: int, net: Callable[[torch.Tensor], torch.Tensor] = net) -> None:
            with torch.inference_mode():
                for part in x.split(chunk):
                    net(part)

        try:  # each form at its best: the whole batch at once, or in the package's chunks
            other_s = min(median_time(lambda c=c: run(c), repeat=5, warmup=2) for c in (batch, cpu_chunk_size())) / batch
        except Exception as err:  # noqa: BLE001 - torch.compile needs a C++ compiler on CPUs; record why and go on
            out[f"{name}_error"] = (str(err).strip().splitlines() or [type(err).__name__])[0]
            continue
        out[f"{name}_forward_ms_per_image"] = other_s * 1e3
        out[f"forward_speedup_over_{name}"] = other_s / forward_s
    for name, size, fmt in (("224px_png", (224, 224), "png"), ("1080p_jpg", (1920, 1080), "jpg"),
                            ("4k_crop_png", (1050, 800), "png")):
        files = sample_images(tmp / name, 8, size, fmt)
        prep_s = median_time(lambda: [predictor.prepare_file(f) for f in files], repeat=2, warmup=1) / len(files)
        out[f"preprocessing_share_{name}"] = prep_s / forward_s
    return out


def bench_training(tmp: Path, quick: bool, batch: int = 32) -> dict[str, Any]:
    """Steady-state training images/s (epochs 2-4: no warm-up, no one-off image cache) of `kernel-laugh
    train` ÷ a plain fp32 loop written like the original project's (torchvision ImageFolder, Resize + ToTensor,
    decode every epoch, NCHW fp32), on the same files, model size, image size and batch size."""
    data = write_frames(tmp / "train_data", n=96 if quick else 320, size=FRAME_SIZE)
    out = tmp / "train_out"
    args = ["--dataset", str(data), "--no-pretrained", "--image-size", "224", "--epochs", "4", "--batch-size", str(batch),
            "--validation-fraction", "0.1", "--test-fraction", "0.1", "--output-dir", str(out)]
    subprocess.run([sys.executable, "-m", "kernel_laugh.cli", "train", *args], check=True, capture_output=True)
    history = json.loads((out / "eval_results.json").read_text())["history"]
    ours = statistics.median(h["train_images_per_second"] for h in history[1:])
    plain = _plain_loop(data, batch)
    settings = json.loads((out / "training_args.json").read_text())["TrainConfig"]
    return {"frame_size": list(FRAME_SIZE), "train_images": int(len(list(data.rglob("*.png"))) * 0.8),
            "mixed_precision": settings["mixed_precision"], "channels_last": settings["channels_last"],
            "num_workers": settings["num_workers"], "package_img_s": ours, "plain_fp32_loop_img_s": plain,
            "training_speedup": ours / plain, **bench_loader_vs_step(data, batch, quick)}


FRAME_SIZE = (1050, 800)  # the original project's brain crop of a 4K podcast frame


def write_frames(out: Path, n: int, size: tuple[int, int]) -> Path:
    """An ImageFolder of ``n`` synthetic renders upscaled to ``size``, like crops of real 4K frames."""
    from kernel_laugh.sample import LABEL_NAMES, generate_sample

    for i, rec in enumerate(generate_sample(n, 96, seed=3)):
        path = out / f"{rec['label']}_{LABEL_NAMES[rec['label']]}" / f"frame{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        rec["image"].resize(size).save(path, compress_level=1)
    return out


def _plain_loop(data: Path, batch: int) -> float:
    """Images/s (median of epochs 2-4) of the original project's style of loop, in a fresh process."""
    code = f"""
import time, torch, torchvision
from torchvision import transforms as T
ds = torchvision.datasets.ImageFolder({str(data)!r}, T.Compose([T.Resize((224, 224)), T.ToTensor()]))
n = int(len(ds) * 0.8)
loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size={batch}, shuffle=True)
model = torchvision.models.resnet18(num_classes=2)
opt = torch.optim.Adam(model.parameters(), 1e-3)
for epoch in range(4):
    t0 = time.perf_counter()
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    print(n / (time.perf_counter() - t0))
"""
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return statistics.median(float(v) for v in done.stdout.split()[1:])  # epochs 2-4, as for the package


def bench_loader_vs_step(data: Path, batch: int, quick: bool) -> dict[str, Any]:
    """The package's training data loader alone (after its one-off cache) ÷ its training step alone (forward,
    backward, optimiser step on a batch already in memory), both in images/s, set up exactly as `train` does."""
    from kernel_laugh.config import DataConfig, ModelConfig, TrainConfig
    from kernel_laugh.training import make_accelerator, resolve_auto, setup

    with tempfile.TemporaryDirectory() as d:
        train_cfg = resolve_auto(TrainConfig(output_dir=d, batch_size=batch))
        acc = make_accelerator(train_cfg, Path(d))
        run = setup(DataConfig(dataset=str(data), validation_fraction=0.1, test_fraction=0.1),
                    ModelConfig(pretrained=False, image_size=224), train_cfg, acc)
        run.train_dl.set_epoch(0)
        t0 = time.perf_counter()
        n = sum(len(y) for _, y in run.train_dl)
        loader_ips = n / (time.perf_counter() - t0)
        x, y = next(iter(run.train_dl))
        x = x.contiguous(memory_format=torch.channels_last) if train_cfg.channels_last else x
        run.model.train()

        def step() -> None:  # what train_one_epoch does per batch, minus the loader
            with acc.autocast():
                loss = run.loss_fn(run.model(x), y)
            acc.backward(loss)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)

        step_ips = len(y) / median_time(step, repeat=3 if quick else 6, warmup=1)
    return {"loader_img_s": loader_ips, "train_step_img_s": step_ips, "loader_over_step": loader_ips / step_ips}


def table(results: dict[str, Any]) -> str:
    inf = results["inference"]
    rows: list[tuple[str, float]] = []
    for name, label in (("auto", "default"), ("fp32", "--precision fp32")):
        rows += [(f"inference, {label} ({inf[name]['dtype']}): package ÷ default pipeline", inf[name]["speedup_over_pipeline"]),
                 (f"inference, {label} ({inf[name]['dtype']}): efficiency (÷ GEMM probe)", inf[name]["efficiency"])]
    for isa, *_ in NO_BF16_ISAS:
        if isa in results.get("without_bf16", {}):
            res = results["without_bf16"][isa]["auto"]
            rows += [(f"inference, no bf16 (oneDNN ≤ {isa}), default ({res['dtype']}): package ÷ default pipeline",
                      res["speedup_over_pipeline"]),
                     (f"inference, no bf16 (oneDNN ≤ {isa}), default ({res['dtype']}): efficiency (÷ GEMM probe)",
                      res["efficiency"])]
    fwd = results["forward"]
    rows += [(f"forward: package ÷ {label} (same dtype, at its best)", fwd[f"forward_speedup_over_{key}"])
             for key, label in (("channels_last_autocast", "eager channels-last autocast"),
                                ("torch_compile", "torch.compile, frozen weights")) if f"forward_speedup_over_{key}" in fwd]
    rows += [(f"preprocessing ÷ forward ({k.split('share_')[1]})", v) for k, v in fwd.items()
             if k.startswith("preprocessing_share")]
    if "training" in results:
        rows += [("training: package ÷ plain fp32 loop (img/s, epochs 2-4)", results["training"]["training_speedup"]),
                 ("training: data loader alone ÷ training step", results["training"]["loader_over_step"])]
    rows += table_rows(results)
    width = max(len(r[0]) for r in rows)
    return "\n".join([f"| {'ratio'.ljust(width)} | value |", f"|{'-' * (width + 2)}|------:|"] +
                      [f"| {name.ljust(width)} | {value:5.2f} |" for name, value in rows])


SECTIONS = ("inference", "without_bf16", "forward", "training", "video", "space", "cold_start", "audio")


def main() -> None:
    if sys.argv[1:2] == ["--inference-child"]:  # a child of bench_without_bf16
        inference_child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts, about 3 minutes")
    parser.add_argument("--batch-size", type=int, default=32, help="inference and training batch (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip", choices=[s for s in SECTIONS if s not in ("inference", "forward")], action="append", default=[], help="leave a section out (repeatable)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quiet()

    results: dict[str, Any] = {"machine": machine()}
    results["gemm_gflops"] = {"fp32": gemm_gflops(torch.float32), "bf16": gemm_gflops(torch.bfloat16)}
    print(json.dumps(results, indent=2), flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model_dir = make_model(tmp / "model")
        files = sample_images(tmp / "images", 32 if args.quick else 96, (224, 224))
        runs: dict[str, Callable[[], dict[str, Any]]] = {
            "inference": lambda: bench_inference(model_dir, files, args.batch_size, results["gemm_gflops"]),
            "without_bf16": lambda: bench_without_bf16(model_dir, files, args.batch_size),
            "forward": lambda: bench_forward(model_dir, tmp, args.batch_size),
            "training": lambda: bench_training(tmp, args.quick, args.batch_size),
            "video": lambda: bench_video(model_dir, tmp / "video", args.quick),
            "space": lambda: bench_space(model_dir, tmp / "space", args.quick),
            "cold_start": lambda: bench_cold_start(model_dir, tmp / "cold", repeats=1 if args.quick else 3),
            "audio": lambda: bench_audio(tmp / "audio", args.quick),
        }
        for name in SECTIONS:
            if name in args.skip:
                continue
            t0, others = time.perf_counter(), OthersCpu()
            results[name] = runs[name]()
            # Other processes' load skews every number on a small machine: recorded, to judge a run by.
            results[name].setdefault("other_processes_busy_cores", others.cores())
            results[name]["bench_s"] = time.perf_counter() - t0
            print(f"{name}: {results[name]['bench_s']:.0f} s", file=sys.stderr, flush=True)
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
