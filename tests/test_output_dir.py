"""A run owns its output folder: a second run is refused or replaces every file of the first; a killed run resumes
its own checkpoints only; published files never share an inode with training state and carry no temporary
leftovers; evaluate never edits checkpoints; push lists only the current model's files. Tiny sample, CPU, offline."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kernel_laugh.checkpoints import checkpoint_dirs
from kernel_laugh.cli import main
from test_training import CLI, ENV, TINY, _train, _train_until_paused

ONE_EPOCH = [*TINY, "--epochs", "1", "--checkpoint-steps", "3", "--keep-checkpoints", "2"]


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}


def _digests(folder: Path) -> dict[str, str]:
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in _files(folder).items()}


def _run_ids(out: Path) -> set[str]:
    return {json.loads((c / "progress.json").read_text())["run_id"] for c in checkpoint_dirs(out / "checkpoints")}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    """A finished 2-epoch run whose checkpoints (steps 20, 22) outrank any 1-epoch run's by step number, evaluated
    with Grad-CAM plots in eval/."""
    out = tmp_path_factory.mktemp("first") / "run"
    _train([*TINY, "--checkpoint-steps", "3", "--output-dir", str(out)], out.parent / "first.log")
    assert main(["evaluate", str(out), "--explain", "2", "--n-boot", "0"]) == 0
    return out


def test_a_second_run_is_refused_and_overwrite_leaves_no_file_of_the_first(first_run, tmp_path, capsys):
    out = tmp_path / "reuse"
    shutil.copytree(first_run, out)
    (out / "notes.txt").write_text("mine")  # the user's own file: not the run's
    before = _digests(out)
    assert main(["train", *ONE_EPOCH, "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a run" in err and "--overwrite-output-dir" in err
    assert _digests(out) == before  # refused before touching anything

    old_ids = _run_ids(out)
    started = time.time()  # copytree kept the first run's modification times, all earlier than this
    assert main(["train", *ONE_EPOCH, "--overwrite-output-dir", "--output-dir", str(out)]) == 0
    after = _files(out)
    assert "notes.txt" in after
    # Every file the first run (and its evaluation) wrote is gone or written anew by the second run.
    stale = [k for k, p in after.items() if k != "notes.txt" and p.stat().st_mtime < started]
    assert stale == []
    assert not (out / "eval" / "top_losses.png").exists() and not (out / "eval" / "gradcam_mean.png").exists()
    assert [c.name for c in checkpoint_dirs(out / "checkpoints")] == ["step-00000009", "step-00000011"]
    assert _run_ids(out).isdisjoint(old_ids) and len(_run_ids(out)) == 1
    assert len(json.loads((out / "eval_results.json").read_text())["history"]) == 1

    # push --dry-run: the current model's files only; a stale plot and the user's note are listed as left out.
    (out / "eval" / "gradcam_mean.png").write_bytes(b"a plot of an earlier model")
    assert main(["push", str(out), "--repo-id", "me/test", "--dry-run"]) == 0
    listing = capsys.readouterr().out
    listed = {line.split()[0] for line in listing.split("\n", 1)[1].split("left out", 1)[0].splitlines()
              if line.startswith("  ")}
    report_links = {f"eval/{name}" for name in ("confusion_matrix.png", "roc.png", "pr.png", "calibration.png")}
    assert listed == {"README.md", "config.json", "model.safetensors", "eval_results.json", "training_args.json",
                      "confusion_matrix.png", "roc_curve.png", "eval/report.md"} | report_links
    left_out = listing.split("left out", 1)[1].split("card metadata:", 1)[0]
    for name in ("eval/gradcam_mean.png", "notes.txt", "checkpoints/"):
        assert f"\n  {name}\n" in left_out


def test_a_killed_run_resumes_its_own_checkpoint_and_publishes_files_of_its_own(first_run, tmp_path, capsys):
    out = tmp_path / "killed"
    args = [*ONE_EPOCH, "--output-dir", str(out)]
    _train_until_paused(args, out, "step:7", tmp_path / "first.log")  # checkpoints at steps 3 and 6
    mine = _run_ids(out)
    # The other run's newer checkpoints land beside this run's (copied in by hand, say).
    for c in checkpoint_dirs(first_run / "checkpoints"):
        shutil.copytree(c, out / "checkpoints" / c.name)
    log = _train([*args, "--resume-from-checkpoint", "latest"], tmp_path / "resumed.log")
    assert "step-00000006 (epoch 1, batch 6, step 6" in log and "step-00000022" not in log
    assert {json.loads((c / "progress.json").read_text())["run_id"] for c in checkpoint_dirs(out / "checkpoints")
            if c.name in ("step-00000009", "step-00000011")} == mine

    # Evaluate with a threshold: the model folder's config.json changes, the checkpoints' do not.
    state = _digests(out / "checkpoints")
    assert main(["evaluate", str(out), "--target-recall", "0.9", "--n-boot", "0"]) == 0
    assert "decision_threshold" in json.loads((out / "config.json").read_text())
    assert _digests(out / "checkpoints") == state

    every = _files(out)
    assert [k for k in every if k.endswith((".part", ".tmp")) or "/.tmp" in k or k.startswith(".")] == []
    published = {(p.stat().st_dev, p.stat().st_ino) for k, p in every.items() if not k.startswith("checkpoints/")}
    training = {(p.stat().st_dev, p.stat().st_ino) for k, p in every.items() if k.startswith("checkpoints/")}
    assert published.isdisjoint(training)
    assert all(p.stat().st_nlink == 1 for p in every.values())
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("model.safetensors", "config.json", "README.md", "eval/report.md"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_resuming_with_other_settings_says_what_differs(first_run, tmp_path):
    out = tmp_path / "changed"
    shutil.copytree(first_run, out)
    done = subprocess.run([*CLI, *TINY, "--epochs", "3", "--learning-rate", "0.01", "--checkpoint-steps", "3",
                           "--output-dir", str(out), "--resume-from-checkpoint", "latest"],
                          env=ENV, capture_output=True, text=True)
    assert done.returncode == 1
    # One error line (warnings about the data, e.g. few groups per split, may come before it), no traceback.
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in done.stderr and len(errors) == 1
    assert "--epochs 2 -> 3" in errors[0] and "--learning-rate 0.002 -> 0.01" in errors[0]
