"""Resumable training state on disk: atomic checkpoints, the newest complete one, keeping the last K.

Layout of ``OUTPUT_DIR/checkpoints/`` (never uploaded)::

    step-00000012/           one complete checkpoint, named by optimiser step
      model.safetensors, optimizer.bin, custom_checkpoint_0.pkl (scheduler), random_states_<rank>.pkl, ...
      best/                  the run's best weights so far (config.json + model.safetensors)
      progress.json          epoch, batch inside it, step, best metric, history: written last
    .tmp-step-00000014/      a checkpoint being written; renamed to step-00000014 only once complete

A crash (even SIGKILL) while saving leaves a ``.tmp-*`` folder that is never read, so resuming uses the previous
checkpoint. The Accelerator is passed in: this module never imports accelerate (training.py is its only user).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from kernel_laugh.errors import KernelLaughError

PROGRESS_NAME = "progress.json"
BEST_DIR = "best"
MODEL_FILES = ("config.json", "model.safetensors")
_NAME = re.compile(r"step-(\d{8})")
# Test hook (tests/test_training.py): KERNEL_LAUGH_PAUSE_AT="step:7" stops after optimiser step 7,
# "save:8" in the middle of writing step 8's checkpoint; the main process then writes OUTPUT_DIR/.paused and
# sleeps, so a test can SIGKILL it at a known point. Unset, it costs one dictionary lookup per step.
PAUSE_ENV = "KERNEL_LAUGH_PAUSE_AT"


def checkpoint_dirs(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _NAME.fullmatch(p.name) and (p / PROGRESS_NAME).is_file()]
    return sorted(found, key=lambda p: int(_NAME.fullmatch(p.name).group(1)))  # type: ignore[union-attr]


def resolve_checkpoint(spec: str, root: Path) -> Path:
    """``latest`` → the newest complete checkpoint under ``root``; otherwise ``spec`` must be a complete one."""
    if spec == "latest":
        found = checkpoint_dirs(root)
        if not found:
            raise KernelLaughError(f"--resume-from-checkpoint latest: no complete checkpoint in {root}")
        return found[-1]
    path = Path(spec).expanduser()
    if not (path / PROGRESS_NAME).is_file():
        raise KernelLaughError(f"--resume-from-checkpoint {spec}: not a complete checkpoint folder (no {PROGRESS_NAME})")
    return path


def save_checkpoint(accelerator: Any, root: Path, step: int, progress: dict[str, Any], best_dir: Path | None,
                    keep: int) -> Path:
    """Write the full training state for ``step`` atomically, then delete all but the ``keep`` newest."""
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
        pause_if_requested("save", step, root.parent)
        if best_dir is not None and (best_dir / MODEL_FILES[1]).is_file():
            _link_or_copy(best_dir, tmp / BEST_DIR)
        (tmp / PROGRESS_NAME).write_text(json.dumps(progress, indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)  # only when a resumed run re-saves the same step
        os.replace(tmp, final)  # atomic: the checkpoint appears complete, or not at all
        for old in checkpoint_dirs(root)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def restore_best(checkpoint: Path, out: Path) -> None:
    """Put the checkpoint's best-so-far weights back as the output folder's model (main process only)."""
    if (checkpoint / BEST_DIR / MODEL_FILES[1]).is_file():
        _link_or_copy(checkpoint / BEST_DIR, out)


def remove_partial(root: Path) -> None:
    """Delete ``.tmp-*`` folders left by a crash during a save (main process only)."""
    for p in root.glob(".tmp-step-*") if root.is_dir() else []:
        shutil.rmtree(p, ignore_errors=True)


def _link_or_copy(src_dir: Path, dst_dir: Path) -> None:
    """config.json + model.safetensors from ``src_dir`` into ``dst_dir``, each replaced atomically.

    Hard links cost no space; they are safe because the output folder's model is only ever replaced (os.replace,
    a new file), never rewritten in place.
    """
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        part = dst_dir / f".{name}.part"
        part.unlink(missing_ok=True)
        try:
            os.link(src_dir / name, part)
        except OSError:  # another filesystem, or no hard links there
            shutil.copy2(src_dir / name, part)
        os.replace(part, dst_dir / name)


def pause_if_requested(point: str, step: int, out: Path) -> None:
    """The test hook described at PAUSE_ENV."""
    if os.environ.get(PAUSE_ENV) == f"{point}:{step}":
        (out / ".paused").write_text(f"{point}:{step}\n")
        time.sleep(3600)
