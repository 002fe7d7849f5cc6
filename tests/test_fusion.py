"""The gated fusion of experts (issue 21): the gate's guarantees, its training, its artefact, evaluation, timeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kernel_laugh.config import FuseTrainConfig
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.gate import GatedFusion
from kernel_laugh.fusion.steps import ExpertSteps
from kernel_laugh.fusion.training import drop_modalities, fit_gate, split_clips

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
    data = clips(30)
    cfg = FuseTrainConfig(output_dir=str(tmp_path_factory.mktemp("fusion")), epochs=40, seed=0)
    splits = split_clips(data, cfg)
    fit = fit_gate(splits["gate_train"], splits["validation"], cfg, progress=False)
    return fit, splits, cfg


def test_split_is_by_clip_and_covers_every_clip(trained):
    _, splits, _ = trained
    names = [{s.clip for s in part} for part in splits.values()]
    assert all(names)
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    assert len(set().union(*names)) == 30


def test_trained_gate_beats_the_best_single_expert(trained):
    """The acceptance criteria on per-step expert outputs with planted outages and unreliable experts (the
    SYNTHETIC video sample's end-to-end run is scripts/fusion_acceptance.py: its experts take too long to train here)."""
    from kernel_laugh.fusion.evaluation import assess

    fit, splits, _ = trained
    r = assess(fit.gate, splits["test"], fit.threshold)
    best = r["best_single_expert"]
    assert r["roc_auc"] > r["expert_alone_all_steps"][best]["roc_auc"]
    d = r["fused_minus_best_expert"]
    assert d["difference"] > 0 and d["ci_low"] > 0 and d["method"].startswith("paired Obuchowski")
    assert set(r["fused_without"]) == set(EXPERTS)
    for e, row in r["fused_without"].items():  # any one modality removed: still as good as the best remaining expert
        assert row["minus_best_remaining"]["ci_high"] >= 0, e
    assert {row["group"] for row in r["by_availability"]["fused"]} <= {"brain+face+audio", "brain+face", "brain+audio", "brain"}
    assert 0 <= r["segments"]["segment_f1"] <= 1
    assert 0 < r["expert_alone_covered"]["face"]["coverage"] < 1
    assert r["ece"] is not None


# ---- the artefact --------------------------------------------------------------------------------------------

SPECS = [{"modality": m, "model": f"runs/{m}", "revision": f"sha256:{i}" * 1, "positive_label": lab, "region": reg}
         for i, (m, lab, reg) in enumerate((("brain", "laughter", "brain"), ("face", "happy", "person"),
                                            ("audio", "laughter", None)))]


def saved_model(tmp_path, gate=None):
    from kernel_laugh.fusion.artefact import build_config, save_fusion

    gate = gate or random_gate()
    config = build_config(gate, SPECS, grid_hz=2.0, threshold=0.42, hysteresis={"on": 0.6, "off": 0.4,
                          "min_duration": 1.0, "smooth": 2.0}, synthetic=True)
    return save_fusion(tmp_path / "fusion", gate, config), gate


def test_save_load_gives_the_same_outputs_and_the_config_names_every_expert_and_revision(tmp_path):
    from kernel_laugh.fusion.artefact import load_fusion

    folder, gate = saved_model(tmp_path)
    model = load_fusion(folder)
    s = make_steps("a.mp4", 5)
    before, after = gate.fuse_steps(s), model.gate.fuse_steps(s)
    for key in before:
        assert np.array_equal(before[key], after[key]), key
    config = json.loads((folder / "config.json").read_text())
    assert [(e["modality"], e["model"], e["revision"]) for e in config["experts"]] == \
        [("brain", "runs/brain", "sha256:0"), ("face", "runs/face", "sha256:1"), ("audio", "runs/audio", "sha256:2")]
    assert config["modalities"] == list(EXPERTS) and config["time_grid"]["hz"] == 2.0
    assert config["threshold"] == 0.42 and config["temperature"] == pytest.approx(1.4)
    assert [q["name"] for q in config["quality_features"]] == list(QUALITY)
    assert model.synthetic


def test_revision_mismatch_warns_or_fails_under_strict(tmp_path, caplog):
    from kernel_laugh.fusion.artefact import check_revisions, load_fusion

    model = load_fusion(saved_model(tmp_path)[0])
    assert check_revisions(model, {"brain": "sha256:0", "face": "sha256:1"}) == []
    with caplog.at_level("WARNING"):
        problems = check_revisions(model, {"face": "sha256:other"})
    assert len(problems) == 1 and "face" in caplog.text and "sha256:other" in caplog.text
    with pytest.raises(KernelLaughError, match="face expert runs/face is at revision sha256:other.*--strict"):
        check_revisions(model, {"face": "sha256:other"}, strict=True)


def test_a_damaged_fusion_folder_is_one_line(tmp_path):
    from kernel_laugh.fusion.artefact import load_fusion

    folder, _ = saved_model(tmp_path)
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(KernelLaughError, match="model.safetensors: truncated or damaged"):
        load_fusion(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(KernelLaughError, match="config.json: cannot read"):
        load_fusion(folder)


def test_timeline_files_hold_per_expert_and_fused_columns_and_segments(tmp_path):
    from kernel_laugh.fusion.artefact import load_fusion
    from kernel_laugh.fusion.timeline import fuse_timeline, write_fusion_timeline
    from kernel_laugh.readers.tables import read_csv

    model = load_fusion(saved_model(tmp_path)[0])
    s = make_steps("a.mp4", 6)
    result = fuse_timeline(model, s)
    paths = write_fusion_timeline(model, result, tmp_path / "out")
    table = read_csv(paths["timeline"])
    assert table.columns == ["time", "brain.probability", "brain.available", "brain.weight", "face.probability",
                             "face.available", "face.weight", "audio.probability", "audio.available", "audio.weight",
                             "fused.probability", "no_evidence"]
    assert len(table.rows) == s.n_steps
    missing = [r for r in table.rows if r["face.available"] == "0"]
    assert len(missing) == 15 and all(r["face.probability"] == "" and float(r["face.weight"]) == 0.0 for r in missing)
    assert read_csv(paths["segments"]).columns == ["start", "end", "peak", "mean"]
    assert len(result.segments) >= 1 and paths["plot"].stat().st_size > 10_000


# ---- the commands, end to end on tiny experts ---------------------------------------------------------------

@pytest.fixture(scope="module")
def video_dataset(tmp_path_factory):
    """Six SYNTHETIC brain-render clips of 8 s at 2 fps, laughter in a different stretch of each, with labels.csv."""
    from kernel_laugh.video import write_sample_clip

    root = tmp_path_factory.mktemp("videos")
    rows = ["video,start,end,label"]
    for i in range(6):
        a = 1.0 + (i % 3)
        write_sample_clip(root / f"clip{i}.mp4", duration=8.0, fps=2.0, laughter=((a, a + 3.0),), size=48, seed=i)
        rows += [f"clip{i}.mp4,0,{a},non-laughter", f"clip{i}.mp4,{a},{a + 3.0},laughter",
                 f"clip{i}.mp4,{a + 3.0},8,non-laughter"]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def fused_dir(tmp_path_factory, tiny_model_dir, video_dataset):
    from kernel_laugh.cli import main

    out = tmp_path_factory.mktemp("fusion") / "fusion"
    assert main(["fuse-train", "--brain", str(tiny_model_dir), "--face", str(tiny_model_dir), "--face-label",
                 "laughter", "--dataset", str(video_dataset), "--output-dir", str(out), "--epochs", "3",
                 "--val-fraction", "0.3", "--test-fraction", "0.3"]) == 0
    return out


def test_fuse_train_writes_a_folder_naming_experts_and_revisions(fused_dir, tiny_model_dir):
    from kernel_laugh.fusion.experts import model_revision

    config = json.loads((fused_dir / "config.json").read_text())
    assert [(e["modality"], e["model"], e["revision"]) for e in config["experts"]] == \
        [("brain", str(tiny_model_dir), model_revision(tiny_model_dir)), ("face", str(tiny_model_dir), model_revision(tiny_model_dir))]
    assert set(config["splits"]) == {"seed", "dataset", "gate_train", "validation", "test"}
    results = json.loads((fused_dir / "eval_results.json").read_text())
    assert results["split"] == "test" and results["experts"] == ["brain", "face"]
    card = (fused_dir / "README.md").read_text()
    assert f"kernel-laugh timeline {fused_dir} video.mp4" in card and (fused_dir / "eval" / "report.md").is_file()
    assert f"| face | {tiny_model_dir} | {model_revision(tiny_model_dir)} | laughter | person |" in card


def test_timeline_and_evaluate_on_a_fusion_folder(fused_dir, video_dataset, tmp_path, capsys):
    from kernel_laugh.cli import main
    from kernel_laugh.readers.tables import read_csv

    assert main(["timeline", str(fused_dir), str(video_dataset / "clip0.mp4"), "--output", str(tmp_path / "tl")]) == 0
    table = read_csv(tmp_path / "tl" / "timeline.csv")
    assert len(table.rows) == 16 and "brain.weight" in table.columns and "fused.probability" in table.columns
    assert (tmp_path / "tl" / "timeline.png").is_file() and (tmp_path / "tl" / "segments.csv").is_file()
    assert main(["evaluate", str(fused_dir), "--dataset", str(video_dataset), "--output-dir", str(tmp_path / "ev")]) == 0
    r = json.loads((tmp_path / "ev" / "eval_results.json").read_text())
    config = json.loads((fused_dir / "config.json").read_text())
    assert r["split"] == "test" and r["num_clips"] == len(config["splits"]["test"])
    assert "fused ROC AUC" in capsys.readouterr().out


def test_push_dry_run_lists_the_fusion_files(fused_dir, capsys):
    from kernel_laugh.cli import main

    assert main(["push", str(fused_dir), "--repo-id", "me/fusion", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in ("README.md", "config.json", "model.safetensors", "eval_results.json", "eval/report.md"):
        assert f"  {name}  " in out


def test_fuse_train_bad_input_is_one_line(tiny_model_dir, video_dataset, tmp_path, capsys):
    from kernel_laugh.cli import main
    from kernel_laugh.sample import generate_sample
    from kernel_laugh.video import write_video

    args = ["fuse-train", "--brain", str(tiny_model_dir), "--face", str(tiny_model_dir), "--output-dir", str(tmp_path / "f")]
    assert main(args + ["--face-label", "happy", "--dataset", str(video_dataset)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "face expert" in errors[0] and "['non-laughter', 'laughter']" in errors[0]
    short = tmp_path / "short"
    short.mkdir()
    write_video(short / "blip.mp4", [generate_sample(1, 48, 0)[0]["image"]], fps=4.0)
    (short / "labels.csv").write_text("start,end,label\n0,1,laughter\n")
    assert main(args + ["--face-label", "laughter", "--dataset", str(short)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "blip.mp4" in errors[0] and "shorter than one" in errors[0]


def test_the_space_hook_returns_the_video_tab_outputs(fused_dir, video_dataset, tmp_path):
    from kernel_laugh.fusion.timeline import FusionSpace

    space = FusionSpace.load(fused_dir)
    plot, segments, files, summary = space.video_tab(video_dataset / "clip1.mp4", tmp_path)
    assert plot.endswith("timeline.png") and [f.rsplit("/", 1)[1] for f in files] == ["timeline.csv", "segments.csv"]
    assert isinstance(segments, list) and "clip1.mp4: 16 steps" in summary
    with pytest.raises(KernelLaughError, match="more than 10 steps"):
        space.video_tab(video_dataset / "clip1.mp4", tmp_path, max_steps=10)


def test_fusion_sample_preset_wires_sample_experts_and_gate_all_synthetic(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """--preset fusion-sample: D's sample (made small here) and its experts (tiny untrained stand-ins injected here:
    training real ones takes minutes) feed the gate; the folder says SYNTHETIC everywhere."""
    import functools

    from kernel_laugh.cli import main
    from kernel_laugh.fusion import sample
    from kernel_laugh.fusion.experts import ExpertSpec

    monkeypatch.setattr(sample, "write_fusion_sample",
                        functools.partial(sample.write_fusion_sample, n_videos=6, n_expert_videos=1, duration=8.0))
    monkeypatch.setattr(sample, "train_sample_experts", lambda s, out, progress=True: [
        ExpertSpec.for_model("brain", tiny_model_dir, "laughter"), ExpertSpec.for_model("face", tiny_model_dir, "laughter")])
    out = tmp_path / "fusion"
    assert main(["fuse-train", "--preset", "fusion-sample", "--output-dir", str(out), "--epochs", "2",
                 "--val-fraction", "0.3", "--test-fraction", "0.3"]) == 0
    assert "(SYNTHETIC)" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["synthetic"] and all(e["trained_on"]["synthetic"] for e in config["experts"])
    assert config["splits"]["dataset"] == str((out / "sample" / "fusion_videos").resolve())
    card = (out / "README.md").read_text()
    assert "SYNTHETIC" in card and "- synthetic" in card
    assert json.loads((out / "eval_results.json").read_text())["synthetic"] is True


def test_the_space_serves_a_fusion_folder_through_the_timeline_api(fused_dir, video_dataset):
    """`kernel-laugh demo runs/fusion` / the Space: build_demo hands a fusion folder to its own page, whose
    /timeline API returns the figure, the fused segments, both CSVs and the summary; no upload is one line."""
    import socket

    from gradio_client import Client, handle_file

    from kernel_laugh.demo import build_demo, launch_kwargs

    demo = build_demo(fused_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        plot, segments, files, summary = client.predict(handle_file(str(video_dataset / "clip1.mp4")),
                                                        api_name="/timeline")
        assert plot.endswith(".png") and sorted(Path(f).name for f in files) == ["segments.csv", "timeline.csv"]
        assert segments["headers"] == ["start (s)", "end (s)", "peak", "mean"] and "clip1.mp4: 16 steps" in summary
        timeline = (Path(files[0]) if files[0].endswith("timeline.csv") else Path(files[1])).read_text().splitlines()
        assert len(timeline) == 17  # header + one row per 0.5 s step of the 8 s clip
        with pytest.raises(Exception, match="No video yet"):
            client.predict(None, api_name="/timeline")
    finally:
        demo.close()
