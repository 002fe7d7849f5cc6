"""Coverage simulation for the interval methods of ``kernel_laugh.intervals``: how often does a reported 95%
interval hold the true value when frames come in a few correlated groups of unequal size?

SYNTHETIC clustered data with a known truth:

- accuracy: frame j of group g is right with probability p_g, p_g ~ Beta with mean ``p`` and intra-group
  correlation ``icc`` (a + b = (1 - icc) / icc); the truth is ``p``.
- ROC AUC: group g has prevalence pi_g ~ Beta(mean 0.5, icc) and a shift u_g ~ N(0, icc) shared by its frames;
  score = ``shift`` * label + u_g + e, e ~ N(0, 1 - icc). The truth is the AUC of a positive and a negative from
  different groups, Phi(shift / sqrt(2)).

Group sizes are unequal on purpose: from 6 to 60 frames, evenly spaced on a log scale. Everything is vectorised
over the simulated data sets. ``candidates`` measures the methods we compared (tests/test_intervals.py asserts
the chosen ones; ``python scripts/interval_coverage.py`` prints the whole table).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import stats

from kernel_laugh.intervals import (LEVEL, _t, auc_components, auc_interval, cr_proportion, effective_clopper_pearson,
                                    group_sums, obuchowski_variance, proportion_interval)

logger = logging.getLogger(__name__)

Intervals = tuple[np.ndarray, np.ndarray]  # (low (S,), high (S,)); NaN = no interval reported


def group_sizes(n_groups: int, smallest: int = 6, largest: int = 60) -> np.ndarray:
    """(G,) unequal group sizes from ``smallest`` to ``largest``, evenly spaced on a log scale."""
    return np.round(smallest * (largest / smallest) ** np.linspace(0, 1, n_groups)).astype(int)


def _beta_means(rng: np.random.Generator, mean: float, icc: float, shape: tuple[int, ...]) -> np.ndarray:
    if icc <= 0:
        return np.full(shape, mean)
    total = (1 - icc) / icc  # Beta(a, b) with a + b = (1 - icc) / icc has intra-class correlation icc
    return rng.beta(mean * total, (1 - mean) * total, shape)


def simulate_accuracy(n_groups: int, icc: float, n_sims: int, rng: np.random.Generator, p: float = 0.8,
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """(correct (S, N) bool, codes (N,), truth) for ``n_sims`` data sets."""
    codes = np.repeat(np.arange(n_groups), group_sizes(n_groups))
    p_g = _beta_means(rng, p, icc, (n_sims, n_groups))
    return rng.random((n_sims, len(codes))) < p_g[:, codes], codes, p


def simulate_auc(n_groups: int, icc: float, n_sims: int, rng: np.random.Generator, shift: float = 1.2,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(is_positive (S, N), scores (S, N), codes (N,), truth) for ``n_sims`` data sets."""
    codes = np.repeat(np.arange(n_groups), group_sizes(n_groups))
    prevalence = _beta_means(rng, 0.5, icc, (n_sims, n_groups))
    y = rng.random((n_sims, len(codes))) < prevalence[:, codes]
    u = rng.normal(0, np.sqrt(icc), (n_sims, n_groups))
    scores = shift * y + u[:, codes] + rng.normal(0, np.sqrt(1 - icc), y.shape)
    return y, scores, codes, float(stats.norm.cdf(shift / np.sqrt(2)))


# ---- candidate methods, vectorised over data sets ------------------------------------------------------

def _bootstrap_weights(rng: np.random.Generator, n_sims: int, n_groups: int, n_boot: int) -> np.ndarray:
    """(S, B, G) how often each group is drawn in each cluster-bootstrap resample."""
    return rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), (n_sims, n_boot)).astype(float)


def accuracy_candidates(correct: np.ndarray, codes: np.ndarray, rng: np.random.Generator, n_boot: int = 400,
                        ) -> dict[str, Intervals]:
    """Every compared accuracy interval for each data set."""
    g = int(codes.max() + 1)
    p, var, n, df = cr_proportion(correct, codes, g)
    groups = (group_sums(np.ones_like(correct), codes, g) > 0).sum(-1)
    y_g, n_g = group_sums(correct, codes, g), group_sums(np.ones_like(correct), codes, g)
    out: dict[str, Intervals] = {"Korn-Graubard CR2, BM df (chosen)": proportion_interval(correct, codes, g)}
    cr1 = groups / (groups - 1) * ((y_g - p[:, None] * n_g) ** 2).sum(-1) / n**2
    out["Korn-Graubard CR1, G-1 df"] = effective_clopper_pearson(p, cr1, n, groups - 1)
    half = _t(groups - 1) * np.sqrt(cr1)
    out["CR1 Wald, t G-1"] = (np.clip(p - half, 0, 1), np.clip(p + half, 0, 1))
    loo = (y_g.sum(-1, keepdims=True) - y_g) / (n_g.sum(-1, keepdims=True) - n_g)  # (S, G) leave one group out
    jk = np.sqrt((g - 1) / g * ((loo - loo.mean(-1, keepdims=True)) ** 2).sum(-1)) * _t(g - 1)
    out["grouped jackknife, t G-1"] = (np.clip(p - jk, 0, 1), np.clip(p + jk, 0, 1))
    z = stats.norm.ppf(0.5 + LEVEL / 2)  # Wilson score interval on frames, ignoring groups
    centre, spread = (p + z**2 / (2 * n)) / (1 + z**2 / n), z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    out["Wilson, frames independent"] = (centre - spread, centre + spread)
    w = _bootstrap_weights(rng, len(p), g, n_boot)
    boot = np.einsum("sbg,sg->sb", w, y_g) / np.einsum("sbg,sg->sb", w, n_g)
    out["cluster bootstrap percentile"] = tuple(np.percentile(boot, [2.5, 97.5], axis=-1))  # type: ignore[assignment]
    return out


def _pair_counts(is_positive: np.ndarray, scores: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    """(S, G, G): P[s, g, h] = positives of group g scored above negatives of group h (continuous scores: no ties)."""
    order = np.argsort(scores, axis=-1)
    pos = np.take_along_axis(is_positive, order, -1)  # (S, N) in increasing score
    onehot = np.eye(g, dtype=np.float32)[codes[order]]  # (S, N, G)
    negatives_below = np.cumsum(onehot * ~pos[..., None], axis=1) - onehot * ~pos[..., None]  # strictly below
    return np.einsum("sng,snh->sgh", onehot * pos[..., None], negatives_below)


def auc_candidates(is_positive: np.ndarray, scores: np.ndarray, codes: np.ndarray, rng: np.random.Generator,
                   n_boot: int = 400) -> dict[str, Intervals]:
    """Every compared ROC AUC interval for each data set."""
    g = int(codes.max() + 1)
    auc, low, high = auc_interval(is_positive, scores, codes, g)
    out: dict[str, Intervals] = {"Obuchowski, Korn-Graubard (chosen)": (low, high)}
    c = auc_components(is_positive, scores, codes, g)
    groups = ((c["m"] + c["n"]) > 0).sum(-1)
    half = _t(groups - 1) * np.sqrt(obuchowski_variance(c))
    out["Obuchowski Wald, t G-1"] = (np.clip(auc - half, 0, 1), np.clip(auc + half, 0, 1))
    n = len(codes)
    frames = auc_components(is_positive, scores, np.arange(n), n)
    half = stats.norm.ppf(0.5 + LEVEL / 2) * np.sqrt(obuchowski_variance(frames))
    out["DeLong, frames independent"] = (np.clip(auc - half, 0, 1), np.clip(auc + half, 0, 1))
    pairs = _pair_counts(is_positive, scores, codes, g)  # (S, G, G)
    m, nn = c["m"], c["n"]  # (S, G) positives / negatives per group
    with np.errstate(invalid="ignore", divide="ignore"):
        total = pairs.sum((1, 2))[:, None]
        loo = (total - pairs.sum(2) - pairs.sum(1) + np.einsum("sgg->sg", pairs)) / \
            ((m.sum(-1, keepdims=True) - m) * (nn.sum(-1, keepdims=True) - nn))  # (S, G)
        jk_var = (g - 1) / g * np.nansum((loo - np.nanmean(loo, -1, keepdims=True)) ** 2, -1)
        half = _t(np.isfinite(loo).sum(-1) - 1) * np.sqrt(jk_var)
        out["grouped jackknife, t G-1"] = (np.clip(auc - half, 0, 1), np.clip(auc + half, 0, 1))
        w = _bootstrap_weights(rng, len(auc), g, n_boot)
        boot = np.einsum("sbg,sgh,sbh->sb", w, pairs, w) / (np.einsum("sbg,sg->sb", w, m) * np.einsum("sbg,sg->sb", w, nn))
    boot = np.where(np.isfinite(boot), boot, np.nan)
    ok = np.isfinite(auc) & (np.isfinite(boot).sum(-1) > 0)
    pct = np.full((2, len(auc)), np.nan)
    pct[:, ok] = np.nanpercentile(boot[ok], [2.5, 97.5], axis=-1)
    out["cluster bootstrap percentile"] = (pct[0], pct[1])
    return out


def coverage(intervals: Intervals, truth: float) -> dict[str, float]:
    """Share of data sets whose interval holds ``truth`` (a data set with no interval counts as a miss), the
    share with an interval, and the mean width of those."""
    low, high = intervals
    has = np.isfinite(low) & np.isfinite(high)
    hit = has & (low <= truth) & (truth <= high)
    return {"coverage": float(hit.mean()), "estimable": float(has.mean()),
            "mean_width": float(np.mean(high[has] - low[has])) if has.any() else float("nan"),
            "min_width": float(np.min(high[has] - low[has])) if has.any() else float("nan")}


def coverage_table(groups: tuple[int, ...] = (3, 5, 10, 30), iccs: tuple[float, ...] = (0.0, 0.1, 0.3),
                   n_sims: int = 400, seed: int = 0, chosen_only: bool = False) -> list[dict]:
    """One row per (metric, G, ICC, method): coverage, estimable share, mean and minimum width."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in groups:
        for icc in iccs:
            correct, codes, truth = simulate_accuracy(g, icc, n_sims, rng)
            methods = ({"Korn-Graubard CR2, BM df (chosen)": proportion_interval(correct, codes, g)} if chosen_only
                       else accuracy_candidates(correct, codes, rng))
            rows += [{"metric": "accuracy", "groups": g, "icc": icc, "method": k, **coverage(v, truth)} for k, v in methods.items()]
            y, scores, codes, truth = simulate_auc(g, icc, n_sims, rng)
            auc_methods: dict[str, Intervals] = ({"Obuchowski, Korn-Graubard (chosen)": auc_interval(y, scores, codes, g)[1:]}
                                                 if chosen_only else auc_candidates(y, scores, codes, rng))
            rows += [{"metric": "roc_auc", "groups": g, "icc": icc, "method": k, **coverage(v, truth)} for k, v in auc_methods.items()]
    return rows

