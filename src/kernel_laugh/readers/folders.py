"""Walking dataset folders: the one place that decides which files of a folder are data.

- Hidden entries are never data: names starting with ``.`` (``.ipynb_checkpoints/``, ``.DS_Store``, macOS
  ``._*`` AppleDouble files) and ``__MACOSX/`` (what macOS zips add). A hidden folder is left out whole.
- Symlinked sub-folders and files are followed; a folder (or file) reached a second time, through a symlink cycle
  or a second link to it, is left out, so no file is counted twice (and so never lands in two splits).
- Everything left out is kept with its reason (``FolderScan.left_out``), so callers can say what they skipped.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

HIDDEN_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})

# Reasons a file is left out (the keys of FolderScan.counts()).
HIDDEN = "hidden"
REPEATED = "reached twice through links"
BROKEN_LINK = "broken link"


def is_hidden(name: str) -> bool:
    """``.anything`` (incl. ``._*`` AppleDouble files and ``.ipynb_checkpoints``), ``__MACOSX``, Thumbs.db."""
    return name.startswith(".") or name in HIDDEN_NAMES


@dataclass
class FolderScan:
    """The files kept (sorted, as given paths under the root) and those left out, each with its reason."""

    root: Path
    kept: list[Path] = field(default_factory=list)
    left_out: list[tuple[Path, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Files left out per reason, most frequent first."""
        return dict(Counter(reason for _, reason in self.left_out).most_common())


def subfolders(root: str | Path) -> list[Path]:
    """The visible sub-folders of ``root`` (symlinks to folders included), sorted by name."""
    r = Path(root)
    if not r.is_dir():
        raise KernelLaughError(f"{r}: no such folder")
    return sorted((p for p in r.iterdir() if not is_hidden(p.name) and p.is_dir()), key=lambda p: p.name)


def walk_files(folder: str | Path, keep: Callable[[Path], str | None],
               seen: set[tuple[int, int]] | None = None) -> FolderScan:
    """Every file under ``folder``, recursively, in sorted order, split into kept and left out.

    ``keep(path)`` returns None to keep a visible file, or the reason to leave it out (e.g. "not an image
    (.txt)"). ``seen``: (device, inode) of folders and files already walked, shared between calls so that the
    class folders of one dataset never yield the same file twice."""
    root = Path(folder)
    scan = FolderScan(root)
    seen = set() if seen is None else seen
    if not root.is_dir():
        raise KernelLaughError(f"{root}: no such folder")
    _walk(root, keep, scan, seen)
    counts = scan.counts()
    if counts:
        logger.info("%s: left out %s", root, ", ".join(f"{n} {reason}" for reason, n in counts.items()))
    return scan


def _walk(folder: Path, keep: Callable[[Path], str | None], scan: FolderScan, seen: set[tuple[int, int]]) -> None:
    st = folder.stat()
    if (st.st_dev, st.st_ino) in seen:  # a symlink cycle, or a second link to a folder already walked
        scan.left_out.append((folder, REPEATED))
        return
    seen.add((st.st_dev, st.st_ino))
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = folder / entry.name
        if is_hidden(entry.name):
            scan.left_out.append((path, HIDDEN))
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks
            is_file = entry.is_file()
        except OSError:
            is_dir = is_file = False
        if is_dir:
            _walk(path, keep, scan, seen)
        elif is_file:
            fst = path.stat()
            if (fst.st_dev, fst.st_ino) in seen:
                scan.left_out.append((path, REPEATED))
                continue
            seen.add((fst.st_dev, fst.st_ino))
            reason = keep(path)
            if reason is None:
                scan.kept.append(path)
            else:
                scan.left_out.append((path, reason))
        elif entry.is_symlink():
            scan.left_out.append((path, BROKEN_LINK))


def describe_left_out(counts: dict[str, int]) -> str:
    """``{"hidden": 3, "unreadable": 1}`` → "3 hidden, 1 unreadable" ("" when nothing was left out)."""
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


__all__ = ["FolderScan", "describe_left_out", "is_hidden", "subfolders", "walk_files"]
