"""Reading segment label files: ``labels.csv`` rows ``start,end,label[,video]`` (times as seconds or ``mm:ss``).

One set of labels serves every expert: ``frames`` (images from a video), the audio expert's windows, and the
timeline. Read through ``tables.read_csv``, so spreadsheet exports (byte-order mark, CRLF) are fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.tables import read_csv


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    label: str
    video: str | None = None  # file name or stem this row is for; None = every video
    line: int = 0  # line in the segments file and the file itself, for error messages
    source: str = ""


def parse_time(text: str) -> float:
    """``"75"``, ``"75.5"``, ``"1:15"``, ``"01:15.5"``, ``"0:01:15"`` → seconds."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or any(not re.fullmatch(r"\d+(\.\d*)?", p) for p in parts):
        raise ValueError(f"bad time {text!r} (use seconds or mm:ss)")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    return seconds


def load_segments(path: str | Path) -> list[Segment]:
    """Read a ``start,end,label[,video]`` CSV (times as seconds or ``mm:ss``)."""
    p = Path(path)
    if not p.is_file():
        raise KernelLaughError(f"{p}: no such segments file")
    table = read_csv(p)
    start_col, end_col, label_col, video_col = (table.column(c) for c in ("start", "end", "label", "video"))
    if not (start_col and end_col and label_col):
        raise KernelLaughError(f"{p}: needs columns start,end,label (found {', '.join(table.columns) or 'no header'})")
    out = []
    for index, row in enumerate(table.rows):
        line = table.line(index)
        try:
            start, end = parse_time(row[start_col] or ""), parse_time(row[end_col] or "")
        except ValueError as err:
            raise KernelLaughError(f"{p}, line {line}: {err}") from None
        label = (row[label_col] or "").strip()
        if not label or end <= start:
            raise KernelLaughError(f"{p}, line {line}: needs a label and end > start")
        video = ((row.get(video_col) or "").strip() or None) if video_col else None
        out.append(Segment(start, end, label, video, line, str(p)))
    if not out:
        raise KernelLaughError(f"{p}: no segments")
    return out


def segments_for(segments: list[Segment], video: str | Path) -> list[Segment]:
    """The rows that apply to ``video`` (matching file name or stem, or without a video), sorted; overlaps are errors."""
    v = Path(video)
    mine = sorted((s for s in segments if s.video in (None, v.name, v.stem)), key=lambda s: s.start)
    for a, b in zip(mine, mine[1:]):
        if b.start < a.end:
            raise KernelLaughError(f"{a.source or 'segments'}: the segments on lines {a.line} and {b.line} overlap (for {v.name})")
    return mine
