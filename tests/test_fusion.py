"""The gated fusion of experts (issue 21): the gate's guarantees, its training, its artefact, evaluation, timeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.gate import GatedFusion
from kernel_laugh.fusion.steps import ExpertSteps
from kernel_laugh.fusion.training import FuseTrainConfig, drop_modalities, fit_gate, split_clips

EXPERTS = ("brain", "face", "audio")
QUALITY = ("face.box_area", "audio.loudness_db")


def make_steps(clip: str, seed: int, n: int = 60, noisy: str | None = None) -> ExpertSteps:
    """A clip at 2 Hz: laughter in two stretches; each expert's logit follows the label with noise, with outages
    (face gone for a stretch, audio muted for another); ``noisy``: that expert is pure noise in this clip, and its
    quality feature says so (low) when it has one."""
    rng = np.random.default_rng(seed)
    times = np.arange(n) / 2.0
    labels = np.zeros(n, dtype=np.int64)
    labels[10:22] = 1
    labels[38:50] = 1
    available = np.ones((n, 3), dtype=bool)
    available[25:40, 1] = False  # the face leaves the frame
    available[5:15, 2] = False  # the audio is muted
    signal = np.where(labels == 1, 1.5, -1.5)
    logits = np.stack([signal * 0.6 + rng.normal(0, 1.5, n), signal + rng.normal(0, 1.0, n),
                       signal + rng.normal(0, 1.2, n)], axis=1).astype(np.float32)
    quality = np.stack([rng.uniform(0.5, 1.0, n), rng.uniform(-30, -10, n)], axis=1).astype(np.float32)
    if noisy is not None:
        j = EXPERTS.index(noisy)
        logits[:, j] = rng.normal(0, 2.0, n)
        if noisy == "face":
            quality[:, 0] = rng.uniform(0.0, 0.1, n)
        if noisy == "audio":
            quality[:, 1] = rng.uniform(-70, -55, n)
    logits[~available] = 0.0
    quality[~available[:, 1], 0] = 0.0
    quality[~available[:, 2], 1] = 0.0
    return ExpertSteps(clip, times, EXPERTS, logits, available, quality, QUALITY, labels)


def clips(n: int = 18, seed: int = 0) -> list[ExpertSteps]:
    kinds = [None, "face", "audio"]
    return [make_steps(f"clip{i:02d}.mp4", seed + i, noisy=kinds[i % 3]) for i in range(n)]


def random_gate(seed: int = 0) -> GatedFusion:
    torch.manual_seed(seed)
    gate = GatedFusion(EXPERTS, QUALITY)
    with torch.no_grad():
        gate.scale.copy_(torch.tensor([0.7, 1.3, 0.9]))
        gate.bias.copy_(torch.tensor([0.2, -0.1, 0.05]))
        gate.temperature.fill_(1.4)
    gate.set_prior(0.3)
    return gate.eval()


# ---- the gate's guarantees ---------------------------------------------------------------------------------

def test_missing_expert_gets_exactly_zero_weight_and_weights_sum_to_one():
    s = make_steps("a.mp4", 1)
    out = random_gate().fuse_steps(s)
    w = out["weights"]
    assert np.all(w[~s.available] == 0.0)
    assert np.allclose(w.sum(1), 1.0, atol=1e-6)
    assert np.all(w[s.available] > 0)


def test_one_available_expert_gives_its_calibrated_probability():
    s = make_steps("a.mp4", 2)
    gate = random_gate()
    for j in range(3):
        only = np.zeros_like(s.available)
        only[:, j] = True
        out = gate.fuse_arrays(s.logits, only, s.quality)
        expected = 1 / (1 + np.exp(-(s.logits[:, j].astype(np.float64) * [0.7, 1.3, 0.9][j] + [0.2, -0.1, 0.05][j]) / 1.4))
        assert np.abs(out["fused_probability"] - expected).max() < 1e-6
        assert np.abs(out["fused_probability"] - out["calibrated_probability"][:, j]).max() < 1e-6
        assert np.all(out["weights"][:, j] == 1.0)


def test_no_expert_available_gives_the_prior_with_no_evidence():
    s = make_steps("a.mp4", 3)
    out = random_gate().fuse_arrays(s.logits, np.zeros_like(s.available), s.quality)
    assert out["no_evidence"].all()
    assert np.allclose(out["fused_probability"], 0.3, atol=1e-6)
    assert np.all(out["weights"] == 0.0)


def test_temperature_rescales_the_fused_logit_without_changing_the_weights():
    s = make_steps("a.mp4", 4)
    gate = random_gate()
    before = gate.fuse_steps(s)
    gate.temperature.fill_(2.8)
    after = gate.fuse_steps(s)
    assert np.allclose(after["weights"], before["weights"])
    has = ~before["no_evidence"]
    assert np.allclose(after["fused_logit"][has], before["fused_logit"][has] / 2.0, atol=1e-5)


def test_modality_dropout_never_empties_a_step_and_never_adds_an_expert():
    available = torch.rand(500, 3, generator=torch.Generator().manual_seed(0)) < 0.7
    seen = drop_modalities(available, 0.6, torch.Generator().manual_seed(1))
    assert not (seen & ~available).any()
    assert torch.equal(seen.any(1), available.any(1))
    assert (seen.sum() < available.sum())


# ---- training and evaluation -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = clips()
    cfg = FuseTrainConfig(output_dir=str(tmp_path_factory.mktemp("fusion")), epochs=40, seed=0)
    splits = split_clips(data, cfg)
    fit = fit_gate(splits["gate_train"], splits["validation"], cfg, progress=False)
    return fit, splits, cfg


def test_split_is_by_clip_and_covers_every_clip(trained):
    _, splits, _ = trained
    names = [{s.clip for s in part} for part in splits.values()]
    assert all(names)
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    assert len(set().union(*names)) == 18


def test_trained_gate_beats_the_best_single_expert(trained):
    from kernel_laugh.fusion.evaluation import assess

    fit, splits, _ = trained
    r = assess(fit.gate, splits["test"], fit.threshold)
    best = r["best_single_expert"]
    assert r["roc_auc"] > r["expert_alone_all_steps"][best]["roc_auc"]
    d = r["fused_minus_best_expert"]
    assert d["difference"] > 0 and d["method"].startswith("paired Obuchowski")
    assert set(r["fused_without"]) == set(EXPERTS)
    assert {row["group"] for row in r["by_availability"]["fused"]} <= {"brain+face+audio", "brain+face", "brain+audio", "brain"}
    assert 0 <= r["segments"]["segment_f1"] <= 1
    assert 0 < r["expert_alone_covered"]["face"]["coverage"] < 1
    assert r["ece"] is not None
