"""Training at full strength: 2 processes, exact resume after SIGKILL, atomic checkpoints, the fine-tuning recipe,
dataset normalisation, --init-from, config files. Tiny sample (120 images of 32 px), CPU, offline."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from kernel_laugh.checkpoints import checkpoint_dirs, resolve_checkpoint, save_checkpoint, write_run_id
from kernel_laugh.cli import main, parse_train_args
from kernel_laugh.config import CardConfig, DataConfig, HubConfig, ModelConfig, TrainConfig
from kernel_laugh.data import EpochSampler, group_values
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.transforms import channel_statistics, train_transform

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "kernel_laugh.cli", "train"]
PAUSE_AT = Path(__file__).with_name("pause_at.py")  # `train` with a hook that stops at a given step
# One thread per process: the CI machines have 2 cores, and 2 processes x 2 threads only contend.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
TINY = ["--preset", "sample", "--sample-size", "120", "--sample-image-size", "32", "--image-size", "32",
        "--epochs", "2", "--batch-size", "8"]
# The recipe under test in the resume runs: 11 batches an epoch, 6 optimiser steps (accumulating 2), a checkpoint
# every 2 steps (4 and 8 fall mid-epoch 2), head-only first epoch, clipping, smoothing, balanced sampling.
RECIPE = ["--gradient-accumulation-steps", "2", "--checkpoint-steps", "2", "--keep-checkpoints", "2",
          "--freeze-epochs", "1", "--max-grad-norm", "1.0", "--label-smoothing", "0.1", "--class-balance", "sampler"]
RECIPE_YAML = """\
preset: sample
sample_size: 120
sample_image_size: 32
image_size: 32
ModelConfig:
  pretrained: false
TrainConfig:
  epochs: 2
  batch_size: 8
  gradient_accumulation_steps: 2
  checkpoint_steps: 2
  keep_checkpoints: 2
  freeze_epochs: 1
  max_grad_norm: 1
  label_smoothing: 0.1
  class_balance: sampler
"""


def _train(args: list[str], log: Path, extra_env: dict[str, str] | None = None) -> str:
    with log.open("w") as fh:
        rc = subprocess.run([*CLI, *args], env={**ENV, **(extra_env or {})}, stdout=fh, stderr=subprocess.STDOUT).returncode
    text = log.read_text()
    assert rc == 0, text[-3000:]
    return text


def _train_until_paused(args: list[str], out: Path, point: str, log: Path) -> None:
    """Start training with the pause hook at ``point``; SIGKILL it once it is there (no clean-up can run)."""
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, str(PAUSE_AT), point, *args], env=ENV, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not (out / ".paused").exists():
        assert proc.poll() is None, f"training ended before {point}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"never reached {point}"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (out / ".paused").unlink()


def _assert_same_run(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k].double() - wb[k].double()).abs().max()) for k in wa if wa[k].numel())
    assert worst <= 1e-6, worst
    ra, rb = (json.loads((d / "eval_results.json").read_text()) for d in (a, b))
    assert ra["confusion_matrix"] == rb["confusion_matrix"]
    for key in ("num_samples", "accuracy", "precision", "recall", "f1", "roc_auc", "best_epoch"):
        assert ra[key] == pytest.approx(rb[key], abs=1e-6), key
    for ha, hb in zip(ra["history"], rb["history"], strict=True):
        speeds = "train_images_per_second"  # wall-clock, differs between any two runs
        assert {k: v for k, v in ha.items() if k != speeds} == pytest.approx({k: v for k, v in hb.items() if k != speeds}, abs=1e-6)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "uninterrupted"
    _train([*TINY, *RECIPE, "--output-dir", str(out)], out.parent / "uninterrupted.log")
    return out


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(uninterrupted, tmp_path):
    # The same settings from a YAML file: a config file reproduces the flags' run exactly.
    config = tmp_path / "recipe.yaml"
    config.write_text(RECIPE_YAML)
    out = tmp_path / "killed"
    args = ["--config", str(config), "--output-dir", str(out)]
    _train_until_paused(args, out, "step:9", tmp_path / "first.log")  # epoch 2, batch 6 of 11
    assert [p.name for p in checkpoint_dirs(out / "checkpoints")] == ["step-00000006", "step-00000008"]  # keeps 2
    log = _train([*args, "--resume-from-checkpoint", "latest"], tmp_path / "resumed.log")
    assert "step-00000008 (epoch 2, batch 4, step 8" in log
    _assert_same_run(uninterrupted, out)


def test_sigkill_while_writing_a_checkpoint_resumes_from_the_previous_one(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    args = [*TINY, *RECIPE, "--output-dir", str(out)]
    _train_until_paused(args, out, "save:10", tmp_path / "first.log")  # step 10's files half written
    root = out / "checkpoints"
    assert (root / ".tmp-step-00000010").is_dir() and not (root / "step-00000010").exists()
    assert resolve_checkpoint("latest", root).name == "step-00000008"
    log = _train([*args, "--resume-from-checkpoint", "latest"], tmp_path / "resumed.log")
    assert "resuming from" in log and "step-00000008" in log
    assert not list(root.glob(".tmp-*"))
    _assert_same_run(uninterrupted, out)


def test_two_processes_write_one_folder_and_evaluate_exactly_the_saved_weights(tmp_path):
    from kernel_laugh.data import make_loader, prepare_data
    from kernel_laugh.metrics import compute_metrics
    from kernel_laugh.modeling import load_model
    from kernel_laugh.transforms import eval_transform

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "scripts/accelerate_2cpu.yaml"),
           str(ROOT / "scripts/train.py"), *TINY, "--freeze-epochs", "1", "--report-to", "tensorboard",
           "--output-dir", str(out)]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.count("test (SYNTHETIC") == 1  # printed by the main process only
    last = checkpoint_dirs(out / "checkpoints")[-1]
    assert {p.name for p in last.glob("random_states_*.pkl")} == {"random_states_0.pkl", "random_states_1.pkl"}
    assert list((out / "runs").rglob("events.out.tfevents.*"))  # --report-to tensorboard
    results = json.loads((out / "eval_results.json").read_text())
    assert results["num_samples"] == results["split_sizes"]["test"] == 18  # each held-out image exactly once

    # One process, no Accelerate: the saved folder on the same test split.
    model = load_model(out).eval()
    data = prepare_data(DataConfig(sample_size=120, sample_image_size=32, group_column="session"))
    loader = make_loader(data.splits["test"], eval_transform(model.pretrained_cfg), 5, False)
    with torch.no_grad():
        pairs = [(model(x).softmax(-1), y) for x, y in loader]
    probs, refs = torch.cat([p for p, _ in pairs]).numpy(), torch.cat([y for _, y in pairs]).numpy()
    single = compute_metrics(probs, refs, data.label_names, n_boot=0)
    assert results["confusion_matrix"] == single["confusion_matrix"]
    for key in ("num_samples", "accuracy", "precision", "recall", "f1", "roc_auc"):
        assert results[key] == pytest.approx(single[key], abs=1e-6), key


def test_lr_find_writes_a_plot_and_suggests_a_rate(tmp_path):
    args = ["lr-find", *TINY, "--num-steps", "25", "--output-dir", str(tmp_path)]
    done = subprocess.run([sys.executable, "-m", "kernel_laugh.cli", *args], env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(r"suggested learning rate: (\S+) ", done.stdout)
    assert found and 1e-7 <= float(found.group(1)) <= 10
    assert (tmp_path / "lr_find.png").stat().st_size > 1000
    assert json.loads((tmp_path / "lr_find.json").read_text())["suggested_lr"] == pytest.approx(float(found.group(1)), rel=1e-2)


def test_lr_find_never_suggests_a_rate_outside_its_range_and_warns_without_a_descent(tmp_path, capsys):
    from kernel_laugh.lr_find import suggest_lr

    lrs = list(np.geomspace(1e-7, 1e-6, 30))
    rng = np.random.default_rng(0)
    flat = list(0.7 + 0.002 * rng.standard_normal(30))  # rates too small to move the loss
    rising = list(np.linspace(0.7, 1.5, 30))  # lowest at the first rate: a tenth of it would leave the range
    for losses in (flat, rising):
        lr, clear = suggest_lr(lrs, losses)
        assert lrs[0] <= lr <= lrs[-1] and not clear
    wide = np.geomspace(1e-5, 1.0, 60)
    falling = 1.0 - 0.8 / (1 + np.exp(-3 * (np.log10(wide) + 3)))  # falls fastest at 1e-3, then levels off
    lr, clear = suggest_lr(list(wide), list(falling))
    assert clear and 3e-4 <= lr <= 3e-3

    # The command: a range too narrow to move the loss. Whatever the loss did, the suggestion is inside the
    # range, and the warning is printed exactly when the loss did not clearly fall.
    args = ["lr-find", *TINY, "--start-lr", "1e-7", "--end-lr", "1e-6", "--num-steps", "10", "--output-dir", str(tmp_path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    saved = json.loads((tmp_path / "lr_find.json").read_text())
    assert 1e-7 <= saved["suggested_lr"] <= 1e-6
    assert ("warning: no clear descent" in err) == (not saved["clear_descent"])
    assert ("NO clear descent" in out) == (not saved["clear_descent"])


def test_dataset_statistics_match_numpy_and_land_in_the_saved_config(tmp_path):
    from kernel_laugh.modeling import save_model
    from kernel_laugh.training import make_accelerator, setup

    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for c, name in enumerate(("0_non-laughter", "1_laughter")):
        (root / name).mkdir(parents=True)
        for i in range(8):  # uneven colours per image: a mean of per-image means would differ from the pixel mean
            pixels = rng.normal(60 + 20 * i + 30 * c, 10 + 5 * i, (24, 24, 3)).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    files = sorted(root.rglob("*.png"))
    pcfg = {"input_size": (3, 24, 24), "interpolation": "bicubic", "crop_pct": 1.0, "crop_mode": "squash",
            "mean": (0.5,) * 3, "std": (0.5,) * 3}
    every_pixel = np.stack([np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) / 255 for f in files])
    mean, std = channel_statistics((Image.open(f) for f in files), pcfg)
    np.testing.assert_allclose(mean, every_pixel.mean(axis=(0, 1, 2)), atol=1e-4)
    np.testing.assert_allclose(std, every_pixel.std(axis=(0, 1, 2)), atol=1e-4)

    train_cfg = TrainConfig(output_dir=str(tmp_path / "out"), batch_size=4)
    run = setup(DataConfig(dataset=str(root)), ModelConfig(pretrained=False, image_size=24, crop_pct=1.0, crop_mode="squash",
                                                            normalize="dataset"), train_cfg, make_accelerator(train_cfg, tmp_path))
    train_pixels = np.stack([np.asarray(r["image"].convert("RGB"), dtype=np.float64) / 255 for r in run.data.splits["train"]])
    saved = json.loads((save_model(run.accelerator.unwrap_model(run.model), tmp_path / "m") / "config.json").read_text())
    np.testing.assert_allclose(saved["pretrained_cfg"]["mean"], train_pixels.mean(axis=(0, 1, 2)), atol=1e-4)
    np.testing.assert_allclose(saved["pretrained_cfg"]["std"], train_pixels.std(axis=(0, 1, 2)), atol=1e-4)


def test_init_from_a_model_with_other_labels_rebuilds_the_head(tiny_model_dir, tmp_path):
    from transformers import AutoConfig

    from kernel_laugh.modeling import load_model, save_model
    from kernel_laugh.training import build_task_model

    emotions = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    old = load_model(tiny_model_dir)
    new = build_task_model(ModelConfig(init_from=str(tiny_model_dir), image_size=32), emotions)
    assert new.get_classifier().out_features == 7
    assert torch.equal(new.conv1.weight, old.conv1.weight)  # the backbone carries over
    saved = json.loads((save_model(new, tmp_path / "fer") / "config.json").read_text())
    assert saved["label_names"] == emotions and saved["num_classes"] == 7
    assert AutoConfig.from_pretrained(tmp_path / "fer").id2label == dict(enumerate(emotions))
    same = build_task_model(ModelConfig(init_from=str(tiny_model_dir)), ["non-laughter", "laughter"])
    assert torch.equal(same.get_classifier().weight, old.get_classifier().weight)  # same labels: head kept


def test_config_files_layer_under_flags(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("preset: sample\nlearning-rate: 0.01\nmixed_precision: no\nTrainConfig:\n  epochs: 3\n")
    data, model, train, _ = parse_train_args(["--config", str(yaml_file)])
    assert (data.dataset, model.pretrained, train.learning_rate, train.epochs, train.mixed_precision) == \
        ("sample", False, 0.01, 3, "no")
    assert parse_train_args(["--config", str(yaml_file), "--epochs", "5"])[2].epochs == 5  # flags win
    flags = ["--preset", "sample", "--learning-rate", "0.01", "--epochs", "3", "--output-dir", "x"]
    saved = tmp_path / "training_args.json"  # what a run writes; --config reads it back to the same settings
    saved.write_text(json.dumps({type(c).__name__: c.__dict__ for c in parse_train_args(flags)} | {"environment": {}}))
    assert parse_train_args(["--config", str(saved)]) == parse_train_args(flags)
    for bad, message in (("epochs: many\n", "epochs must be int"), ("learning_rat: 1\n", "unknown setting"),
                         ("class_balance: always\n", "not one of")):
        yaml_file.write_text(bad)
        with pytest.raises(KernelLaughError, match=message):
            parse_train_args(["--config", str(yaml_file)])


def test_train_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for cls in (DataConfig, ModelConfig, TrainConfig, CardConfig, HubConfig):
        for f in cls.__dataclass_fields__.values():
            assert f.metadata.get("help"), f.name
            assert "--" + f.name.replace("_", "-") in text, f.name
    assert "--model" in text and "--config" in text and "kernel-laughter" in text


def test_checkpoints_keep_the_newest_complete_ones(tmp_path):
    class OneProcess:  # what save_checkpoint needs of an Accelerator
        is_main_process = True

        def wait_for_everyone(self):
            pass

        def save_state(self, path, safe_serialization=True):
            (Path(path) / "model.safetensors").write_text("state")

    root = tmp_path / "checkpoints"
    # Another run's checkpoints, newer by step number (a folder copied over, or left by an earlier run).
    for step in (12, 14):
        save_checkpoint(OneProcess(), root, step, {"global_step": step, "run_id": "old"}, None, keep=2)
    write_run_id(root, "mine")
    for step in (2, 4, 6):
        save_checkpoint(OneProcess(), root, step, {"global_step": step, "run_id": "mine"}, None, keep=2)
    (root / ".tmp-step-00000008").mkdir()  # a save that was killed
    (root / "step-00000010").mkdir()  # no progress.json: never complete
    # Keeping the newest 2 counts this run's only: its new checkpoints are never deleted for the old run's.
    assert [p.name for p in checkpoint_dirs(root, "mine")] == ["step-00000004", "step-00000006"]
    assert [p.name for p in checkpoint_dirs(root, "old")] == ["step-00000012", "step-00000014"]
    assert resolve_checkpoint("latest", root).name == "step-00000006"  # never the other run's step 14
    with pytest.raises(KernelLaughError, match="no complete checkpoint"):
        resolve_checkpoint("latest", tmp_path / "none")
    write_run_id(root, "third")
    with pytest.raises(KernelLaughError, match=r"4 of other runs, never resumed"):
        resolve_checkpoint("latest", root)


def test_recipe_pieces():
    from kernel_laugh.modeling import build_model
    from kernel_laugh.training import class_weights, param_groups, sample_weights, set_backbone_trainable

    labels = [0, 0, 0, 1]
    assert class_weights(labels, 2).tolist() == pytest.approx([4 / 6, 2.0])
    draws = list(EpochSampler(4, seed=1, weights=sample_weights(labels, 2)))
    assert draws == list(EpochSampler(4, seed=1, weights=sample_weights(labels, 2)))  # a function of (seed, epoch)
    many = EpochSampler(4000, seed=0, weights=sample_weights([0] * 3000 + [1] * 1000, 2))
    assert 0.45 < np.mean([i >= 3000 for i, _ in many]) < 0.55  # classes drawn equally often
    shuffle = EpochSampler(10, seed=3)
    first = list(shuffle)  # (index, augmentation seed) pairs
    shuffle.set_epoch(1)
    assert sorted(i for i, _ in first) == list(range(10)) and list(shuffle) != first
    assert len({seed for _, seed in first}) == 10

    model = build_model(ModelConfig(pretrained=False, image_size=32), ["a", "b"])
    groups = param_groups(model, 1e-3, 0.1)
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-3])
    set_backbone_trainable(model, False)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    set_backbone_trainable(model, True)
    assert all(p.requires_grad for p in model.parameters())

    pcfg = {"input_size": (3, 32, 32), "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "squash",
            "mean": (0.5,) * 3, "std": (0.5,) * 3}
    names = lambda policy: {type(t).__name__ for t in train_transform(pcfg, policy).transforms}  # noqa: E731
    assert "RandomHorizontalFlip" not in names("brain")  # a flipped left-lateral render swaps hemispheres
    assert "RandomHorizontalFlip" in names("faces")

    ds = __import__("datasets").Dataset.from_dict({"label": [0] * 5 + [1] * 3})
    assert group_values(ds, "block:2").tolist() == ["0-0", "0-0", "0-1", "0-1", "0-2", "1-0", "1-0", "1-1"]
