"""Reading CSV tables: the one CSV reader of the package.

Spreadsheet programs save CSVs as UTF-8 with a byte-order mark and CRLF line ends; both are accepted here, so
a header reads ``start`` and not ``'\\ufeffstart'``. Header names are stripped of surrounding blanks.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Table:
    """A CSV file read whole: its path, its header (stripped) and its rows (header → cell text).

    ``line(i)`` gives the file's line number of row ``i`` (the header is line 1), for error messages."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]

    def line(self, index: int) -> int:
        return index + 2

    def column(self, *names: str) -> str | None:
        """The first header among ``names`` present, compared case-insensitively; None if none is."""
        lower = {c.lower(): c for c in self.columns}
        return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def read_csv(path: str | Path, required: tuple[str, ...] = ()) -> Table:
    """Read a whole CSV file as text cells.

    ``required``: column names that must be in the header (compared case-insensitively).

    Raises ``KernelLaughError`` (one line naming the file) when the file is missing, is not UTF-8 text,
    is not CSV, or lacks a required column."""
    p = Path(path)
    if not p.is_file():
        raise KernelLaughError(f"{p}: no such CSV file")
    try:
        # utf-8-sig drops a byte-order mark; newline="" lets the csv module handle CRLF and quoted newlines.
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            raw = list(reader.fieldnames or [])
            # Cells past the header (key None) are dropped; missing trailing cells read as "".
            rows = [{k.strip(): v or "" for k, v in r.items() if k is not None} for r in reader]
    except UnicodeDecodeError as err:
        raise KernelLaughError(f"{p}: not UTF-8 text (byte {err.start}); save it as CSV UTF-8") from None
    except csv.Error as err:
        raise KernelLaughError(f"{p}: not a readable CSV file ({err})") from None
    table = Table(p, [c.strip() for c in raw], rows)
    missing = [c for c in required if table.column(c) is None]
    if missing:
        raise KernelLaughError(f"{p}: needs column(s) {', '.join(missing)} (found {', '.join(table.columns) or 'no header'})")
    return table
