"""Confidence intervals that stay honest when frames come in a few correlated groups, and paired tests of
two models on the same frames.

Frames of one clip or session are near-duplicates: a metric measured on 90 frames from 3 sessions carries
about as much information as 3 observations, not 90. Every function here takes the group of each frame
(``codes``: integers 0..G-1) and measures spread *between groups*; without groups each frame is its own group.

Methods (chosen by the coverage simulation in ``kernel_laugh.coverage``; numbers in tests/test_intervals.py):

- Proportions (accuracy; precision and recall of a binary model): the bias-reduced cluster-robust (CR2) variance
  with Bell & McCaffrey's degrees of freedom (Bell & McCaffrey 2002, Survey Methodology 28:169; the few-clusters
  advice of Cameron & Miller 2015, J. Human Resources 50:317), turned into an effective sample size and a
  Clopper-Pearson interval (Korn & Graubard 1998, "Confidence intervals for proportions with small expected
  number of positive counts estimated from survey data", Survey Methodology 24:193). It never has zero width,
  stays inside [0, 1], and with every frame right it still says how little three sessions can show.
- Binary ROC AUC: the clustered-data AUC variance of Obuchowski (1997, Biometrics 53:567, "Nonparametric analysis
  of clustered ROC curve data"), with the same effective-sample-size Clopper-Pearson interval and degrees of
  freedom. Without groups that variance is DeLong's (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837),
  computed from midranks as in Sun & Xu 2014 (IEEE Signal Processing Letters 21:1389).
- Any other metric (F1, PR AUC, ECE, multi-class macro averages): the grouped (delete-one-group) jackknife with
  t_{G-1} critical values (Efron & Stein 1981; with more than 100 groups, Kott's 2001 delete-a-group jackknife
  over 100 random sets of whole groups, J. Official Statistics 17:521).

An interval that cannot be estimated (fewer than 2 groups, a class missing, no spread between groups where the
method has no fallback) is ``None`` with a reason, never a zero-width interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

logger = logging.getLogger(__name__)

LEVEL = 0.95
KORN_GRAUBARD = "cluster-robust CR2 variance, Korn-Graubard effective-size Clopper-Pearson, Bell-McCaffrey df"
OBUCHOWSKI = "Obuchowski 1997 clustered AUC variance, Korn-Graubard effective-size Clopper-Pearson, Bell-McCaffrey df"
JACKKNIFE = "grouped jackknife, t with G-1 df"
MAX_JACKKNIFE_GROUPS = 100  # above this, Kott's delete-a-group jackknife over 100 random sets of whole groups
TOO_FEW_GROUPS = "fewer than 2 groups"


def group_codes(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """(codes (N,) ints in 0..G-1, G) for group ids (N,) of any type; without groups every frame is its own."""
    if groups is None:
        return np.arange(n), n
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return codes.reshape(-1), int(codes.max(initial=-1) + 1)


def group_sums(x: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum of ``x`` (..., N) over each group's frames → (..., G)."""
    x = np.asarray(x, dtype=float)
    flat = x.reshape(-1, x.shape[-1])
    out = np.zeros((flat.shape[0], n_groups))
    np.add.at(out, (slice(None), codes), flat)  # out[b, codes[j]] += flat[b, j]
    return out.reshape(*x.shape[:-1], n_groups)


def _t(df: np.ndarray | float) -> np.ndarray:
    """Two-sided 95% Student t critical value; NaN where df < 1."""
    df = np.asarray(df, dtype=float)
    return np.where(df >= 1, stats.t.ppf(0.5 + LEVEL / 2, np.maximum(df, 1)), np.nan)


# ---- proportions ---------------------------------------------------------------------------------------

def cr_proportion(successes: np.ndarray, codes: np.ndarray, n_groups: int, include: np.ndarray | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A proportion over frames (ratio estimator), its cluster-robust variance and that variance's degrees of freedom.

    successes (..., N) 0/1; include (..., N) bool selects the frames the proportion is over (e.g. the true
    positives for recall; default all). Returns (p, variance, frames counted, df), each (...,).

    Variance: CR2, the bias-reduced linearisation of Bell & McCaffrey (2002, Survey Methodology 28:169), which
    Cameron & Miller (2015, section VI) recommend with few clusters. For a mean, each group's residual sum
    e_g = y_g - p n_g is scaled by (1 - n_g/n)^(-1/2): V = sum_g e_g^2 / (1 - n_g/n) / n^2.
    Degrees of freedom: Bell & McCaffrey's Satterthwaite approximation under independent frames,
    df = tr(A)^2 / tr(A^2) for V = r'Ar, which is G-1 for equal groups and fewer when one group dominates.
    p, V and df are NaN where no frame is counted or fewer than 2 groups hold one.
    """
    successes = np.asarray(successes, dtype=float)
    include = np.ones_like(successes, dtype=bool) if include is None else np.asarray(include, dtype=bool)
    y_g = group_sums(successes * include, codes, n_groups)  # (..., G) successes per group
    n_g = group_sums(include, codes, n_groups)  # (..., G) counted frames per group
    n, g = n_g.sum(-1), (n_g > 0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = y_g.sum(-1) / n
        var = (_cr2_weights(n_g) * (y_g - p[..., None] * n_g) ** 2).sum(-1) / n**2
    ok = g >= 2
    return p, np.where(ok, var, np.nan), n, np.where(ok, bell_mccaffrey_df(n_g), np.nan)


def _cr2_weights(n_g: np.ndarray) -> np.ndarray:
    """(..., G) CR2 weights 1 / (1 - n_g/n) of the squared group residual sums of a mean (0 for empty groups)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = n_g / n_g.sum(-1, keepdims=True)
        return np.where((n_g > 0) & (share < 1), 1 / (1 - share), 0.0)


def bell_mccaffrey_df(n_g: np.ndarray) -> np.ndarray:
    """(...,) Bell & McCaffrey's (2002) degrees of freedom of the CR2 variance of a mean over groups of sizes
    n_g (..., G), under independent frames: tr(A)^2 / tr(A^2) for V = r'Ar, A = M B M, B = sum_g w_g 1_g 1_g',
    M = I - 11'/n, in group-space form. G-1 for equal groups; fewer when a few groups hold most frames."""
    n_g = np.asarray(n_g, dtype=float)
    w, n = _cr2_weights(n_g), n_g.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tr_a = (w * n_g).sum(-1) - (w * n_g**2).sum(-1) / n
        tr_a2 = (w**2 * n_g**2).sum(-1) - 2 * (w**2 * n_g**3).sum(-1) / n + ((w * n_g**2).sum(-1) / n) ** 2
        return np.where((n_g > 0).sum(-1) >= 2, tr_a**2 / tr_a2, np.nan)


def effective_clopper_pearson(estimate: np.ndarray, variance: np.ndarray, n_frames: np.ndarray, df: np.ndarray,
                              n_if_no_spread: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Korn & Graubard's (1998) interval for a proportion-like estimate from clustered data: the effective sample
    size n* = p(1-p)/V (capped at the frame count; where V = 0, e.g. every frame right, ``n_if_no_spread``,
    default the frame count), shrunk by (t_{n-1}/t_{df})^2 for the few degrees of freedom the variance has, then
    the exact Clopper-Pearson interval for p*n* successes in n* trials (beta quantiles, so non-integer counts are
    fine). All arrays (...,); NaN where df is missing or < 1. Never zero width, always inside [0, 1]."""
    p, v, n, df = (np.asarray(a, dtype=float) for a in (estimate, variance, n_frames, df))
    fallback = n if n_if_no_spread is None else np.asarray(n_if_no_spread, dtype=float)
    ok = np.isfinite(df) & (df >= 1) & np.isfinite(p) & np.isfinite(v) & (n >= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = np.where(v > 0, p * (1 - p) / v, fallback)
        n_eff = np.clip(np.where(ok, n_eff, 1.0), 1e-9, np.where(ok, n, 1.0))
        # Degrees-of-freedom adjustment: the variance rests on df degrees of freedom, not n-1.
        n_eff = n_eff * (_t(np.maximum(n - 1, 1)) / _t(np.where(ok, df, 1))) ** 2
        x = np.clip(np.where(ok, p, 0.5), 0, 1) * n_eff
        alpha = 1 - LEVEL
        low = np.where(x > 0, stats.beta.ppf(alpha / 2, np.maximum(x, 1e-12), n_eff - x + 1), 0.0)
        high = np.where(x < n_eff, stats.beta.ppf(1 - alpha / 2, x + 1, np.maximum(n_eff - x, 1e-12)), 1.0)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def proportion_interval(successes: np.ndarray, codes: np.ndarray, n_groups: int, include: np.ndarray | None = None,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """95% interval (low, high), each (...,), of a proportion over clustered frames: Korn-Graubard on the CR2
    variance and its Bell-McCaffrey degrees of freedom (see ``cr_proportion`` and ``effective_clopper_pearson``).
    NaN where not estimable."""
    p, var, n, df = cr_proportion(successes, codes, n_groups, include)
    return effective_clopper_pearson(p, var, n, df)


# ---- ROC AUC: DeLong / Obuchowski ----------------------------------------------------------------------

def auc_components(is_positive: np.ndarray, scores: np.ndarray, codes: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Placement values of the Mann-Whitney AUC, summed per group (DeLong et al. 1988; Obuchowski 1997).

    is_positive, scores: (..., N). For a positive frame V10 = share of negatives scored below it (ties count
    1/2); for a negative frame V01 = share of positives scored above it. Both come from midranks, in
    O(N log N) (Sun & Xu 2014): V10_i = (rank among all - rank among positives) / n_neg. Returns ``auc`` (...,),
    ``v10``/``v01`` (..., G) group sums of the placement values, ``m``/``n`` (..., G) positives / negatives per
    group, ``n_pos``/``n_neg`` (...,). AUC is NaN where a class is missing.
    """
    pos = np.asarray(is_positive, dtype=bool)
    s = np.asarray(scores, dtype=float)
    r_all = stats.rankdata(s, axis=-1)
    r_pos = stats.rankdata(np.where(pos, s, np.inf), axis=-1)  # ranks of positives among positives (negatives last)
    r_neg = stats.rankdata(np.where(pos, np.inf, s), axis=-1)
    n_pos, n_neg = pos.sum(-1).astype(float), (~pos).sum(-1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        v10 = np.where(pos, (r_all - r_pos) / n_neg[..., None], 0.0)  # (..., N)
        v01 = np.where(pos, 0.0, 1 - (r_all - r_neg) / n_pos[..., None])
        auc = np.where((n_pos > 0) & (n_neg > 0), v10.sum(-1) / n_pos, np.nan)
    return {"auc": auc, "v10": group_sums(v10, codes, n_groups), "v01": group_sums(v01, codes, n_groups),
            "m": group_sums(pos, codes, n_groups), "n": group_sums(~pos, codes, n_groups), "n_pos": n_pos, "n_neg": n_neg}


def obuchowski_variance(c: dict[str, np.ndarray], other: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Variance (...,) of the AUC in ``c`` (from ``auc_components``), or of AUC(c) - AUC(other) for two models
    scored on the same frames (the variance of a difference is the same bilinear form of the differences of the
    placement sums). Obuchowski 1997, eqs. 3-5:

        S10 = I10 / ((I10 - 1) M) * sum_g (V10_g - m_g A)^2     (I10 groups holding positives, M positives)
        S01 = I01 / ((I01 - 1) N) * sum_g (V01_g - n_g A)^2     (I01 groups holding negatives, N negatives)
        S11 = I / (I - 1) * sum_g (V10_g - m_g A)(V01_g - n_g A)
        var(A) = S10 / M + S01 / N + 2 S11 / (M N)

    With one frame per group this is DeLong's variance. NaN where a class lies in fewer than 2 groups.
    """
    a, v10, v01 = c["auc"], c["v10"], c["v01"]
    if other is not None:
        a, v10, v01 = a - other["auc"], v10 - other["v10"], v01 - other["v01"]
    m, n, big_m, big_n = c["m"], c["n"], c["n_pos"], c["n_neg"]
    i10, i01, i_all = (m > 0).sum(-1), (n > 0).sum(-1), ((m + n) > 0).sum(-1)
    d10 = v10 - m * a[..., None]  # (..., G)
    d01 = v01 - n * a[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        s10 = i10 / ((i10 - 1) * big_m) * (d10**2).sum(-1)
        s01 = i01 / ((i01 - 1) * big_n) * (d01**2).sum(-1)
        s11 = i_all / (i_all - 1) * (d10 * d01).sum(-1)
        var = s10 / big_m + s01 / big_n + 2 * s11 / (big_m * big_n)
    return np.where((i10 >= 2) & (i01 >= 2), np.maximum(var, 0.0), np.nan)


def auc_interval(is_positive: np.ndarray, scores: np.ndarray, codes: np.ndarray, n_groups: int,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(auc, low, high), each (...,): binary ROC AUC and its 95% interval over clustered frames: Obuchowski's
    variance, then Korn-Graubard's effective-sample-size Clopper-Pearson interval with G-1 degrees of freedom
    (G = groups holding frames; where the variance is 0, e.g. perfect separation, the effective size is the
    smaller class's frame count). NaN where a class is missing or lies in fewer than 2 groups."""
    c = auc_components(is_positive, scores, codes, n_groups)
    var = obuchowski_variance(c)
    # Degrees of freedom: Bell & McCaffrey's for a mean over these group sizes (G-1 for equal groups, fewer
    # when one group dominates), as for proportions.
    df = bell_mccaffrey_df(c["m"] + c["n"])
    low, high = effective_clopper_pearson(c["auc"], var, c["n_pos"] + c["n_neg"], df,
                                          n_if_no_spread=np.minimum(c["n_pos"], c["n_neg"]))
    return c["auc"], low, high


def delong_test(is_positive: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray,
                groups: np.ndarray | None = None) -> dict[str, Any]:
    """DeLong's test for two correlated ROC AUCs on the same frames (DeLong, DeLong & Clarke-Pearson 1988,
    Biometrics 44:837; midrank computation of Sun & Xu 2014). Frames are taken as independent: that is the
    published test, kept as a cross-check. With ``groups`` the same statistic is also given with Obuchowski's
    clustered variance and a t_{G-1} reference (``clustered_z``, ``clustered_p``).

    is_positive, scores_a, scores_b: (N,). Returns auc_a, auc_b, difference (b - a), its standard error, z and
    two-sided p; None values where a class is missing."""
    out: dict[str, Any] = {"method": "DeLong, DeLong & Clarke-Pearson 1988 (frames as independent)"}
    n = len(np.asarray(is_positive))
    codes, g = group_codes(None, n)
    ca, cb = (auc_components(is_positive, s, codes, g) for s in (scores_a, scores_b))
    var = float(obuchowski_variance(cb, ca))
    diff = float(cb["auc"] - ca["auc"])
    out |= {"auc_a": _num(ca["auc"]), "auc_b": _num(cb["auc"]), "difference": _num(diff), "se": _num(np.sqrt(var))}
    z = diff / np.sqrt(var) if np.isfinite(var) and var > 0 else np.nan
    out |= {"z": _num(z), "p_value": _num(2 * stats.norm.sf(abs(z)))}
    if groups is not None:
        codes, g = group_codes(groups, n)
        ca, cb = (auc_components(is_positive, s, codes, g) for s in (scores_a, scores_b))
        var_c = float(obuchowski_variance(cb, ca))
        groups_used = int(((ca["m"] + ca["n"]) > 0).sum())
        zc = diff / np.sqrt(var_c) if np.isfinite(var_c) and var_c > 0 else np.nan
        out |= {"clustered_se": _num(np.sqrt(var_c)), "clustered_z": _num(zc), "groups": groups_used,
                "clustered_p_value": _num(2 * stats.t.sf(abs(zc), groups_used - 1)) if groups_used >= 2 else None}
    return out


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """McNemar's test that two classifiers have the same accuracy on the same frames (McNemar 1947). b = frames
    only A gets right, c = frames only B gets right; exact two-sided binomial p (b of b + c at 1/2) when b + c < 25,
    else the chi-square statistic (|b - c| - 1)^2 / (b + c) with Edwards' continuity correction on 1 df. Frames are
    taken as independent (clustered frames make p too small: read it beside the paired interval)."""
    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a, only_b = int((a & ~b_).sum()), int((~a & b_).sum())
    k = only_a + only_b
    if k == 0:
        return {"only_a_right": 0, "only_b_right": 0, "method": "no discordant frames", "statistic": None, "p_value": 1.0}
    if k < 25:
        p = stats.binomtest(only_a, k, 0.5).pvalue
        return {"only_a_right": only_a, "only_b_right": only_b, "method": "exact binomial", "statistic": None,
                "p_value": float(p)}
    chi2 = (abs(only_a - only_b) - 1) ** 2 / k
    return {"only_a_right": only_a, "only_b_right": only_b, "method": "chi-square with continuity correction",
            "statistic": float(chi2), "p_value": float(stats.chi2.sf(chi2, 1))}


# ---- any statistic: grouped jackknife ------------------------------------------------------------------

def jackknife_units(codes: np.ndarray, n_groups: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """Deletion units: the groups themselves, or with more than ``MAX_JACKKNIFE_GROUPS`` groups, that many random
    sets of whole groups (Kott 2001). Returns (unit of each frame (N,), number of units)."""
    if n_groups <= MAX_JACKKNIFE_GROUPS:
        return codes, n_groups
    unit_of_group = np.random.default_rng(seed).permutation(n_groups) % MAX_JACKKNIFE_GROUPS
    return unit_of_group[codes], MAX_JACKKNIFE_GROUPS


def jackknife_keeps(codes: np.ndarray, n_groups: int, seed: int = 0) -> list[np.ndarray]:
    """Frame indices kept in each grouped-jackknife replicate: all frames but one deletion unit's."""
    units, u = jackknife_units(codes, n_groups, seed)
    order = np.argsort(units, kind="stable")
    bounds = np.searchsorted(units[order], np.arange(u + 1))
    return [np.sort(np.concatenate([order[: bounds[k]], order[bounds[k + 1]:]])) for k in range(u)]


def jackknife_from_replicates(replicates: list["float | None"], estimate: float | None,
                              bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float | None, float | None, str | None]:
    """95% grouped-jackknife interval from the leave-one-unit-out values: var = (U-1)/U * sum_u (theta_(-u) -
    mean)^2, estimate +- t_{U-1} sqrt(var), clipped to ``bounds`` (every metric here lives in [0, 1]; a difference
    of two in [-1, 1]). Returns (low, high,
    reason): None and a reason where fewer than 2 replicates are defined or all are equal (no measurable spread)."""
    if estimate is None:
        return None, None, "the metric is undefined on this split"
    if len(replicates) < 2:
        return None, None, TOO_FEW_GROUPS
    theta = np.asarray([v for v in replicates if v is not None], dtype=float)
    if len(theta) < 2:
        return None, None, "fewer than 2 groups leave the metric defined when one is removed"
    u = len(theta)
    var = (u - 1) / u * np.sum((theta - theta.mean()) ** 2)
    if not var > 1e-18:
        return None, None, "removing any one group leaves the value unchanged, so its spread cannot be measured"
    half = float(_t(u - 1) * np.sqrt(var))
    return max(bounds[0], estimate - half), min(bounds[1], estimate + half), None


# ---- paired differences of two models on the same frames -----------------------------------------------

PAIRED_MEAN = "paired cluster-robust CR2 t interval, Bell-McCaffrey df"
PAIRED_AUC = "paired Obuchowski 1997 clustered AUC variance, t with Bell-McCaffrey df"
PAIRED_JACKKNIFE = "paired grouped jackknife, t with G-1 df"
NO_DISAGREEMENT = "the two models agree on every frame this metric counts, so the difference has no measurable spread"


def paired_mean_difference(values_a: np.ndarray, values_b: np.ndarray, codes: np.ndarray, n_groups: int,
                           ) -> tuple[float | None, float | None, float | None, str | None]:
    """Mean of b - a over frames (e.g. correct_b - correct_a: the accuracy difference) with a 95% interval:
    the CR2 variance of the per-frame differences over groups (both models resampled on the same groups) and a
    t critical value on Bell-McCaffrey df. Returns (difference, low, high, reason when no interval)."""
    d = np.asarray(values_b, dtype=float) - np.asarray(values_a, dtype=float)  # (N,)
    mean, var, _, df = cr_proportion(d, codes, n_groups)
    mean, var, df = float(mean), float(var), float(df)
    if not np.isfinite(df):
        return _num(mean), None, None, TOO_FEW_GROUPS
    if not var > 0:
        return mean, None, None, NO_DISAGREEMENT
    half = float(_t(df) * np.sqrt(var))
    return mean, max(-1.0, mean - half), min(1.0, mean + half), None


def paired_auc_difference(is_positive: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, codes: np.ndarray,
                          n_groups: int) -> tuple[float | None, float | None, float | None, str | None]:
    """AUC(b) - AUC(a) on the same frames with a 95% interval from Obuchowski's clustered variance of the
    difference (correlation between the models included) and t on Bell-McCaffrey df. (diff, low, high, reason)."""
    ca, cb = (auc_components(is_positive, s, codes, n_groups) for s in (scores_a, scores_b))
    diff, var = float(cb["auc"] - ca["auc"]), float(obuchowski_variance(cb, ca))
    df = float(bell_mccaffrey_df(ca["m"] + ca["n"]))
    if not np.isfinite(var):
        return _num(diff), None, None, "a class is missing, or lies in fewer than 2 groups"
    if not var > 0:
        return diff, None, None, NO_DISAGREEMENT
    half = float(_t(df) * np.sqrt(var))
    return diff, max(-1.0, diff - half), min(1.0, diff + half), None


def jackknife_interval(statistic: Callable[[np.ndarray], "float | None"], codes: np.ndarray, n_groups: int,
                       estimate: float | None, seed: int = 0) -> tuple[float | None, float | None, str | None]:
    """95% grouped-jackknife interval of ``statistic(kept frame indices) -> value`` around ``estimate`` (see
    ``jackknife_from_replicates``)."""
    if estimate is None:
        return None, None, "the metric is undefined on this split"
    return jackknife_from_replicates([statistic(keep) for keep in jackknife_keeps(codes, n_groups, seed)], estimate)


def _num(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
