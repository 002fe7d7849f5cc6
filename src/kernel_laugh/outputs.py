"""Output folders a user can trust: atomic writes with ordinary permissions, and one run per folder.

Every file kernel-laugh publishes (model, card, results, plots) is written to a temporary name beside its
target and renamed over it with ``os.replace``: a reader sees the old file or the new one, never half of
either, and a killed process leaves at most a ``.*.tmp`` file that the next run deletes. Files get the
permissions the user's umask gives any new file (0644 under the usual 022); libraries that create files
through ``mkstemp`` (safetensors does) would otherwise leave them at 0600, unreadable to other users.

Published files are never hard links to training state: a later in-place edit of one (say, a decision
threshold written into ``config.json``) could then silently change the other.

A run owns its output folder. ``claim_output_dir`` refuses a folder that holds another run's model or
checkpoints unless the user asks to overwrite it (``--overwrite-output-dir``, the transformers name) or resumes;
overwriting first deletes every file a run writes (``RUN_OUTPUTS``), so nothing of the old run survives.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"
# What `train`, `evaluate` and `lr-find` write into an output folder (names relative to it). Overwriting a run
# removes exactly these, so files the user put there themselves stay.
RUN_OUTPUTS = ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "eval_results.json", "training_args.json",
               "confusion_matrix.png", "roc_curve.png", "eval", "checkpoints", "runs", ".cache", ".best.tmp", ".paused")
# Not among them: lr-find's lr_find.png / lr_find.json, written before a run to choose its learning rate.
# Their presence means the folder already holds a run (a model, or the resumable state of one).
RUN_MARKERS = ("config.json", "model.safetensors", "training_args.json", "checkpoints")


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back (nothing else runs in between here).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_permissions(path: str | Path) -> None:
    """Give a file the mode a plain ``open(path, "w")`` would have given it (0666 minus the umask)."""
    os.chmod(path, 0o666 & ~_umask())


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to produce the file at a temporary name beside ``path``, then rename it over ``path``.

    Raises whatever ``write`` raises, after deleting the temporary file.
    """
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        write(tmp)
        ordinary_permissions(tmp)
        os.replace(tmp, path)  # atomic on one filesystem; replaces the old file, never edits it in place
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """``path.write_text(text)``, atomically, with ordinary permissions."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def copy_atomic(src: str | Path, dst: str | Path) -> Path:
    """A fresh copy of ``src`` at ``dst`` (never a hard link), replaced atomically."""
    return write_atomic(dst, lambda tmp: shutil.copyfile(src, tmp))


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete temporary files a killed writer left in ``folder`` and its ``eval/`` report (``.*.tmp``, and the
    ``.*.part`` files of older versions). Returns what was deleted."""
    folder = Path(folder)
    found: list[Path] = []
    for where in (folder, folder / "eval"):
        if where.is_dir():
            found += [p for p in where.iterdir() if p.name.startswith(".") and p.name.endswith((TMP_SUFFIX, ".part"))]
    for p in found:
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    return found


def holds_run(folder: str | Path) -> list[str]:
    """The run files ``folder`` already holds (empty when it holds none, or does not exist)."""
    folder = Path(folder)
    return [name for name in RUN_MARKERS if (folder / name).exists()]


def check_output_dir(folder: str | Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse, in one line, to train into a folder holding another run, unless overwriting or resuming."""
    if overwrite and resume:
        raise KernelLaughError("give --overwrite-output-dir (start afresh) or --resume-from-checkpoint (continue), "
                               "not both")
    found = holds_run(folder)
    if found and not (overwrite or resume):
        raise KernelLaughError(
            f"{folder} already holds a run ({', '.join(found)}): pass --overwrite-output-dir to delete it and train "
            "afresh, --resume-from-checkpoint latest to continue it, or choose another --output-dir")


def clear_run(folder: str | Path, names: Iterable[str] = RUN_OUTPUTS) -> list[str]:
    """Delete every file an earlier run wrote into ``folder`` (its model, card, results, plots, eval/ report,
    checkpoints, tracker logs, caches). Returns the names deleted; other files are left alone."""
    folder = Path(folder)
    gone = []
    for name in names:
        p = folder / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        else:
            continue
        gone.append(name)
    remove_leftovers(folder)
    if gone:
        logger.info("removed the previous run's %s from %s", ", ".join(gone), folder)
    return gone
