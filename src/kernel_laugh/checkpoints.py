"""Resumable training state on disk: atomic checkpoints, the newest complete one, keeping the last K.

Layout of ``OUTPUT_DIR/checkpoints/`` (never uploaded)::

    run.json                 the identity of the run that owns the folder (run_id), written when it starts
    step-00000012/           one complete checkpoint, named by optimiser step
      model.safetensors, optimizer.bin, custom_checkpoint_0.pkl (scheduler), random_states_<rank>.pkl, ...
      best/                  the run's best weights so far (config.json + model.safetensors): copies, never links
      progress.json          run_id, settings, epoch, batch inside it, step, best metric, history: written last
    .tmp-step-00000014/      a checkpoint being written; renamed to step-00000014 only once complete

A crash (even SIGKILL) while saving leaves a ``.tmp-*`` folder that is never read, so resuming uses the previous
checkpoint. ``latest`` only picks checkpoints whose ``run_id`` is the folder's (a checkpoint copied in from another
run, or left by one, is never resumed by accident), and keeping the newest K only counts the same run's.
The Accelerator is passed in: this module never imports accelerate (training.py is its only user).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.outputs import copy_atomic, write_text_atomic

PROGRESS_NAME = "progress.json"
RUN_NAME = "run.json"
BEST_DIR = "best"
MODEL_FILES = ("config.json", "model.safetensors")
_NAME = re.compile(r"step-(\d{8})")
# A hook is called as hook(point, optimiser step, output folder) at "step" (after each optimiser step) and "save"
# (a checkpoint's files written, not yet declared complete). fit(..., hooks=[...]) takes them; the kill-and-resume
# tests pass one that stops there, so nothing in training looks for a test.
StepHook = Callable[[str, int, Path], None]


def checkpoint_dirs(root: Path, run_id: str | None = None) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first; with ``run_id``, only that run's."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _NAME.fullmatch(p.name) and (p / PROGRESS_NAME).is_file()]
    if run_id is not None:
        found = [p for p in found if checkpoint_run_id(p) == run_id]
    return sorted(found, key=lambda p: int(_NAME.fullmatch(p.name).group(1)))  # type: ignore[union-attr]


def checkpoint_run_id(checkpoint: Path) -> str | None:
    """The run a checkpoint belongs to (None for one written before checkpoints carried it)."""
    try:
        return json.loads((checkpoint / PROGRESS_NAME).read_text()).get("run_id")
    except (OSError, ValueError):
        return None


def folder_run_id(root: Path) -> str | None:
    """The run that owns ``root`` (OUTPUT_DIR/checkpoints), from its run.json; None when there is none."""
    try:
        return json.loads((root / RUN_NAME).read_text()).get("run_id")
    except (OSError, ValueError):
        return None


def write_run_id(root: Path, run_id: str) -> None:
    """Record that ``run_id`` owns ``root`` (main process only)."""
    root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(root / RUN_NAME, json.dumps({"run_id": run_id}) + "\n")


def resolve_checkpoint(spec: str, root: Path, run_id: str | None = None) -> Path:
    """``latest`` → the newest complete checkpoint under ``root`` of the run ``run_id`` (default: the run that owns
    ``root``); otherwise ``spec`` must be a complete checkpoint folder."""
    if spec == "latest":
        run_id = run_id or folder_run_id(root)
        if run_id is None and checkpoint_dirs(root):
            raise KernelLaughError(f"--resume-from-checkpoint latest: {root} has no {RUN_NAME} saying which run owns "
                                   "it; name the checkpoint folder to resume from")
        found = checkpoint_dirs(root, run_id)
        if not found:
            others = len(checkpoint_dirs(root))
            raise KernelLaughError(f"--resume-from-checkpoint latest: no complete checkpoint of this folder's run in {root}"
                                   + (f" ({others} of other runs, never resumed by 'latest')" if others else ""))
        return found[-1]
    path = Path(spec).expanduser()
    if not (path / PROGRESS_NAME).is_file():
        raise KernelLaughError(f"--resume-from-checkpoint {spec}: not a complete checkpoint folder (no {PROGRESS_NAME})")
    return path


def save_checkpoint(accelerator: Any, root: Path, step: int, progress: dict[str, Any], best_dir: Path | None,
                    keep: int, hooks: Sequence[StepHook] = ()) -> Path:
    """Write the full training state for ``step`` atomically, then delete all but the ``keep`` newest of the same
    run (``progress["run_id"]``)."""
    final, tmp = root / f"step-{step:08d}", root / f".tmp-step-{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()  # the folder exists before any process writes into it
    # save_state: model, optimiser, registered scheduler, GradScaler, and each process's RNG states (every
    # process writes its own random_states_<rank>.pkl; the rest comes from the main process).
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()  # every process's files are on disk before the folder is declared complete
    if accelerator.is_main_process:
        for hook in hooks:
            hook("save", step, root.parent)
        if best_dir is not None and (best_dir / MODEL_FILES[1]).is_file():
            _copy_model(best_dir, tmp / BEST_DIR)
        (tmp / PROGRESS_NAME).write_text(json.dumps(progress, indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)  # only when a resumed run re-saves the same step
        os.replace(tmp, final)  # atomic: the checkpoint appears complete, or not at all
        for old in checkpoint_dirs(root, progress.get("run_id"))[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def restore_best(checkpoint: Path, out: Path) -> None:
    """Put the checkpoint's best-so-far weights back as the output folder's model (main process only)."""
    if (checkpoint / BEST_DIR / MODEL_FILES[1]).is_file():
        _copy_model(checkpoint / BEST_DIR, out)


def remove_partial(root: Path) -> None:
    """Delete ``.tmp-*`` folders left by a crash during a save (main process only)."""
    for p in root.glob(".tmp-step-*") if root.is_dir() else []:
        shutil.rmtree(p, ignore_errors=True)


def _copy_model(src_dir: Path, dst_dir: Path) -> None:
    """config.json + model.safetensors from ``src_dir`` into ``dst_dir``, each a fresh copy replaced atomically.

    Copies, not hard links: a published file shared with training state would change with it (an edit in place,
    such as a decision threshold written into config.json, would reach both), and renaming a link over a link to
    the same file does nothing at all, leaving the temporary name behind.
    """
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        copy_atomic(src_dir / name, dst_dir / name)
