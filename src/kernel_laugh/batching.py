"""Requests that arrive together share one call of a batched function (one forward pass), each getting its own
result or its own error.

Gradio can batch an event itself (``batch=True``), but then a request cannot fail alone: an exception fails the
whole batch, and gradio 6.31 drops a batched validator's ``gr.validate`` results, so a per-request check can
only refuse with an HTTP 400 whose reason ``gradio_client`` does not show. The Space's image event therefore
runs per request (each one checks its upload and raises its own one-line error, which reaches the page and
API callers alike) and meets the others here: while one batch runs, the requests that arrive queue up, and the
next caller to find the function idle runs them all at once (the "combining" pattern: no extra thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class _Call:
    args: tuple[Any, ...]
    done: bool = False
    result: tuple[Any, ...] = ()
    error: BaseException | None = None


class SharedBatches:
    """Call ``fn`` on several requests at once.

    ``fn`` has gradio's batched form: one list per argument (one entry per request) in, one list per output
    (one entry per request) out. ``shared(*args)`` is one request: it returns that request's outputs as a tuple,
    or raises what ``fn`` raised for its batch. At most ``max_size`` requests go into one call; callers block
    while theirs runs. Thread-safe (gradio runs each request in a worker thread).
    """

    def __init__(self, fn: Callable[..., Sequence[Sequence[Any]]], max_size: int = 16):
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1 (got {max_size})")
        self.fn, self.max_size = fn, max_size
        self._cond = threading.Condition()
        self._waiting: list[_Call] = []
        self._running = False

    def __call__(self, *args: Any) -> tuple[Any, ...]:
        call = _Call(args)
        with self._cond:
            self._waiting.append(call)
        while True:
            with self._cond:
                while self._running and not call.done:
                    self._cond.wait()  # a batch is running; the requests waiting meanwhile go in the next one
                if call.done:
                    break
                batch = self._waiting[: self.max_size]  # ours is in it unless more than max_size came first
                del self._waiting[: len(batch)]
                self._running = True
            self._run(batch)
        if call.error is not None:
            raise call.error
        return call.result

    def _run(self, batch: list[_Call]) -> None:
        try:
            columns = [list(col) for col in zip(*(c.args for c in batch), strict=True)]  # (n_args, batch)
            rows = list(zip(*self.fn(*columns), strict=True))  # (n_outputs, batch) -> (batch, n_outputs)
            if len(rows) != len(batch):
                raise ValueError(f"{self.fn!r} returned {len(rows)} results for {len(batch)} requests")
            for c, row in zip(batch, rows):
                c.result = tuple(row)
        except Exception as err:  # noqa: BLE001  # not swallowed: each request of this batch re-raises it
            for c in batch:
                c.error = err
        finally:
            with self._cond:
                for c in batch:
                    c.done = True
                self._running = False
                self._cond.notify_all()


__all__ = ["SharedBatches"]
