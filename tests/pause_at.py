"""`kernel-laugh train` that stops at a known point, for the tests that SIGKILL a run there and resume it.

    python tests/pause_at.py step:9 --preset sample ...   # after optimiser step 9
    python tests/pause_at.py save:10 ...                  # step 10's checkpoint written but not yet complete

At that point the main process writes OUTPUT_DIR/.paused and sleeps; the test kills it. The hook is handed to
``training.fit`` (its ``hooks``), so the product's training loop holds no test code.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kernel_laugh.cli import configure_logging, parse_train_args
from kernel_laugh.training import fit


def pause_at(target: str):
    def hook(point: str, step: int, out: Path) -> None:
        if f"{point}:{step}" == target:
            (out / ".paused").write_text(f"{target}\n")
            time.sleep(3600)
    return hook


if __name__ == "__main__":
    target, *argv = sys.argv[1:]
    configure_logging()
    fit(*parse_train_args(argv), hooks=[pause_at(target)])
