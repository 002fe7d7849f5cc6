"""The CLI contract: train writes the Hub-ready folder; predict prints JSON; bad input → one-line errors."""

import json
import subprocess
import sys

import pytest
import timm
import torch
from PIL import Image
from transformers import pipeline

from kernel_laugh.cli import main

CLI = [sys.executable, "-m", "kernel_laugh.cli"]


def test_train_sample_writes_hub_ready_folder(trained_dir):
    for name in ("config.json", "model.safetensors", "README.md", "eval_results.json", "training_args.json"):
        assert (trained_dir / name).is_file(), name
    assert (trained_dir / "checkpoints").is_dir() and any((trained_dir / "checkpoints").iterdir())
    res = json.loads((trained_dir / "eval_results.json").read_text())
    assert res["split"] == "test" and res["synthetic"] is True
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "num_samples"):
        assert key in res
    assert res["num_samples"] == 90  # 15% of the 600 sample images, whole sessions
    assert res["roc_auc"] >= 0.90, res["roc_auc"]
    assert res["roc_auc_ci_low"] <= res["roc_auc"] <= res["roc_auc_ci_high"]
    card = (trained_dir / "README.md").read_text()
    assert "SYNTHETIC" in card and "$" not in card.split("```")[0]
    args = json.loads((trained_dir / "training_args.json").read_text())
    assert args["ModelConfig"]["pretrained"] is False
    # "auto" settings are recorded as what ran, so the card and a --config rerun say bf16 / fp32, workers 0 / N.
    assert args["TrainConfig"]["mixed_precision"] in ("no", "bf16") and isinstance(args["TrainConfig"]["num_workers"], int)
    assert all(h["train_images_per_second"] > 0 for h in res["history"])
    assert not (trained_dir / ".cache").exists()  # the decoded-image cache lives only as long as the run


def test_sample_model_intervals_name_their_method_and_groups_and_have_width(trained_dir):
    res = json.loads((trained_dir / "eval_results.json").read_text())
    assert res["ci_groups"] >= 8 and "groups per split" in res["split_method"]  # the test split holds >= 8 sessions
    assert f"{res['ci_groups']} groups (clips/sessions)" in res["ci_method"]
    assert res["ci_methods"]["accuracy"].startswith("cluster-robust CR2") and "Obuchowski" in res["ci_methods"]["roc_auc"]
    for m in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ece"):
        low, high = res[f"{m}_ci_low"], res[f"{m}_ci_high"]
        if low is None:  # not estimable: then it says why, and shows no interval
            assert m in res["ci_not_estimable"], m
            continue
        assert low < high and low <= res[m] <= high, (m, low, res[m], high)
    for where in ("README.md", "eval/report.md"):
        text = (trained_dir / where).read_text()
        assert f"95% intervals over {res['ci_groups']} groups (clips/sessions)" in text, where
        assert "Korn-Graubard" in text and "Obuchowski" in text, where


def test_pipeline_and_timm_load_the_trained_folder(trained_dir, tmp_path):
    from kernel_laugh.sample import generate_sample

    png = tmp_path / "frame.png"
    generate_sample(1, 96, seed=123)[0]["image"].save(png)
    pipe = pipeline("image-classification", model=str(trained_dir))
    assert {d["label"] for d in pipe(str(png))} == {"non-laughter", "laughter"}
    x = pipe.image_processor(Image.open(png).convert("RGB"), return_tensors="pt")["pixel_values"]
    model = timm.create_model(f"local-dir:{trained_dir}", pretrained=True).eval()
    with torch.no_grad():
        assert torch.allclose(model(x), pipe.model(x).logits, atol=1e-5)


def test_predict_json_and_bad_files(trained_dir, tmp_path):
    good = tmp_path / "ok.png"
    Image.new("RGBA", (70, 50), (90, 90, 90, 255)).save(good)
    out = subprocess.run([*CLI, "predict", str(trained_dir), str(good), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result[0]["image"] == str(good)
    preds = result[0]["predictions"]
    assert {p["label"] for p in preds} == {"non-laughter", "laughter"}
    assert abs(sum(p["score"] for p in preds) - 1) < 1e-4

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:60])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for bad in (corrupt, tmp_path / "missing.png", text):
        out = subprocess.run([*CLI, "predict", str(trained_dir), str(good), str(bad)], capture_output=True, text=True)
        assert out.returncode != 0
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in out.stderr


def test_predict_missing_model(tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert main(["predict", str(tmp_path / "no-model"), str(tmp_path / "a.png")]) != 0
    assert "no-model" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["one-class", "empty", "corrupt"])
def test_train_rejects_bad_folders_before_training(tmp_path, case):
    root = tmp_path / "data"
    (root / "0_non-laughter").mkdir(parents=True)
    if case != "empty":
        (root / "1_laughter").mkdir()
        for i in range(4):
            Image.new("RGB", (16, 16), (i, 0, 0)).save(root / "1_laughter" / f"{i}.png")
    if case == "corrupt":
        for i in range(4):
            Image.new("RGB", (16, 16)).save(root / "0_non-laughter" / f"{i}.png")
        (root / "0_non-laughter" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    out = subprocess.run([*CLI, "train", "--dataset", str(root), "--no-pretrained", "--output-dir", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert str(root) in out.stderr
    assert not (tmp_path / "o" / "model.safetensors").exists()


def test_help_explains_presets_and_offline_flag():
    out = subprocess.run([*CLI, "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--no-pretrained" in out.stdout and "SYNTHETIC" in out.stdout


def test_quiet_leaves_results_and_drops_progress_bars(tiny_model_dir, tmp_path):
    """`kernel-laugh --quiet timeline ...`: the summary still prints, the frame progress bar does not."""
    from kernel_laugh.video import write_sample_clip

    clip = write_sample_clip(tmp_path / "clip.mp4", duration=6.0, fps=2.0, laughter=((2.0, 4.0),))
    runs = {}
    for flags in ([], ["--quiet"]):
        cmd = [sys.executable, "-m", "kernel_laugh.cli", *flags, "timeline", str(tiny_model_dir), str(clip),
               "--output", str(tmp_path / f"out{len(flags)}")]
        runs[bool(flags)] = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    for quiet, run in runs.items():
        assert run.returncode == 0, run.stderr
        assert "segment" in run.stdout  # the result is printed either way
    assert "frames clip.mp4" in runs[False].stderr  # the bar, without --quiet
    assert "frames clip.mp4" not in runs[True].stderr and "%|" not in runs[True].stderr
