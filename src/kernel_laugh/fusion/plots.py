"""The fusion timeline's figure: per-expert lines with missing stretches shaded, stacked gate weights, fused line."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kernel_laugh.plots import new_figure

logger = logging.getLogger(__name__)

COLOURS = {"brain": "tab:blue", "face": "tab:green", "audio": "tab:purple"}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in ``mask`` (T,)."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def fusion_timeline_figure(times: np.ndarray, experts: list[str], probabilities: np.ndarray, available: np.ndarray,
                           weights: np.ndarray, fused: np.ndarray, no_evidence: np.ndarray,
                           segments: list[dict[str, Any]], threshold: float | None = None, title: str = "") -> Figure:
    """Three panels over the clip's time (s): each expert's calibrated P(laughter) (a line where available, its
    missing stretches shaded in its colour), the gate weights stacked (they fill 1 where any expert is available),
    and the fused P(laughter) with its segments shaded (orange) and no-evidence stretches (grey).

    times (T,), probabilities / available / weights (T, E), fused / no_evidence (T,)."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    fig, axes = new_figure(3, 1, figsize=(10, 6.4), sharex=True, gridspec_kw={"height_ratios": [1.2, 0.8, 1.0]})
    ax = axes[0]
    for j, e in enumerate(experts):
        colour = COLOURS.get(e, f"C{j}")
        ax.plot(times, np.where(available[:, j], probabilities[:, j], np.nan), color=colour, lw=1.4, label=e)
        for a, b in _runs(~available[:, j]):
            ax.axvspan(times[a], times[b] + step, ymin=j / len(experts), ymax=(j + 1) / len(experts), color=colour,
                       alpha=0.18, lw=0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("P(laughter)")
    ax.set_title(title or "experts (shaded band: that expert missing)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax = axes[1]
    ax.stackplot(times, weights.T, colors=[COLOURS.get(e, f"C{j}") for j, e in enumerate(experts)], labels=experts,
                 alpha=0.8, step="post")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("gate weight")
    ax = axes[2]
    for s in segments:
        ax.axvspan(s["start"], s["end"], color="tab:orange", alpha=0.2, lw=0)
    for a, b in _runs(no_evidence):
        ax.axvspan(times[a], times[b] + step, color="0.6", alpha=0.3, lw=0)
    ax.plot(times, fused, color="tab:orange", lw=2, label="fused")
    if threshold is not None:
        ax.axhline(threshold, color="0.4", lw=0.8, ls="--", label=f"threshold {threshold:.2f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fused P(laughter)")
    ax.set_xlabel("time (s)")
    ax.set_title(f"fused: {len(segments)} segment(s) (orange); grey = no expert available", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_xlim(float(times.min(initial=0.0)), float(times.max(initial=1.0)) + step)
    fig.tight_layout()
    return fig
