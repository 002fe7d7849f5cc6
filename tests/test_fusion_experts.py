"""The fusion experts on SYNTHETIC podcast-like clips: availability on planted outages, quality features that
reveal planted corruption, bad input, the steps CSV and model revisions. The experts are small untrained models
(the outputs' values do not matter here, only where they are available and that they are finite)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kernel_laugh.config import ModelConfig
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.experts import (
    ExpertSpec,
    load_experts,
    model_revision,
    read_steps_csv,
    run_experts,
    steps_to_rows,
)
from kernel_laugh.fusion.sample import Plan, write_fusion_video
from kernel_laugh.modeling import build_model, save_model
from kernel_laugh.readers.segments import Segment

DURATION = 6.0  # seconds: 12 steps on the 2 Hz grid
CALM_THEN_LAUGH = ((0.0, 3.0, "non-laughter"), (3.0, 6.0, "laughter"))


def _image_model(folder: Path, labels: list[str]) -> Path:
    return save_model(build_model(ModelConfig(pretrained=False, image_size=32, crop_pct=1.0), labels).eval(), folder)


def _audio_model(folder: Path) -> Path:
    from kernel_laugh.audio.model import build_audio_model, save_audio_model

    model, fe = build_audio_model("ast-tiny", ["non-laughter", "laughter"], pretrained=False, window_s=1.0,
                                  sampling_rate=16000)
    return save_audio_model(model.eval(), fe, folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("experts")
    return {"brain": _image_model(root / "brain", ["non-laughter", "laughter"]),
            "face": _image_model(root / "face", ["neutral", "smile"]),
            "audio": _audio_model(root / "audio")}


@pytest.fixture(scope="module")
def runners(folders):
    return load_experts([ExpertSpec.for_model("audio", folders["audio"], "laughter"),
                         ExpertSpec.for_model("brain", folders["brain"], "laughter"),
                         ExpertSpec.for_model("face", folders["face"], "smile")])


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """One clip per planted condition (outages over 2-4.5 s, corruption over the whole clip)."""
    root = tmp_path_factory.mktemp("clips")
    plans = {
        "clean": Plan(DURATION, CALM_THEN_LAUGH),
        "face-out": Plan(DURATION, CALM_THEN_LAUGH, outage=("face", 2.0, 4.5)),
        "muted": Plan(DURATION, CALM_THEN_LAUGH, outage=("audio", 2.0, 4.5)),
        "hidden": Plan(DURATION, CALM_THEN_LAUGH, outage=("brain", 2.0, 4.5)),
        "no-face": Plan(DURATION, CALM_THEN_LAUGH, outage=("face", 0.0, DURATION)),
        "no-audio": Plan(DURATION, CALM_THEN_LAUGH, with_audio=False),
        "bad-brain": Plan(DURATION, CALM_THEN_LAUGH, corruption="brain"),
        "bad-face": Plan(DURATION, CALM_THEN_LAUGH, corruption="face"),
        "bad-audio": Plan(DURATION, CALM_THEN_LAUGH, corruption="audio"),
    }
    return {name: write_fusion_video(root / f"synthetic-{name}.mp4", plan, seed=3) for name, plan in plans.items()}


def _column(steps, expert: str) -> np.ndarray:
    return steps.available[:, steps.experts.index(expert)]


def _quality(steps, name: str) -> np.ndarray:
    return steps.quality[:, steps.quality_names.index(name)]


def test_a_clean_clip_has_every_expert_on_one_grid_with_labels(runners, clips):
    rows = [Segment(a, b, lab, "synthetic-clean.mp4") for a, b, lab in CALM_THEN_LAUGH]
    steps = run_experts(clips["clean"], runners, segments=rows)
    assert steps.experts == ("brain", "face", "audio")
    np.testing.assert_allclose(steps.times, np.arange(12) / 2.0, atol=1e-3)
    assert steps.available[:, [0, 2]].all() and _column(steps, "face").mean() >= 0.9, steps.available.sum(axis=0)
    assert steps.labels.tolist() == [0] * 6 + [1] * 6
    assert np.isfinite(steps.logits).all() and np.isfinite(steps.quality).all()
    assert 0.05 < _quality(steps, "face.box_area").min() and _quality(steps, "face.box_area").max() < 0.5
    assert (_quality(steps, "audio.loudness_db") > -40).all()


@pytest.mark.parametrize("clip, expert, inside", [
    ("face-out", "face", [2.0, 4.0]),
    ("hidden", "brain", [2.0, 4.0]),
    # a window centred on t spans t +- 0.5 s: only windows wholly inside the muted 2-4.5 s are silent
    ("muted", "audio", [2.5, 3.5]),
])
def test_planted_outages_make_only_their_expert_unavailable(runners, clips, clip, expert, inside):
    steps = run_experts(clips[clip], runners)
    t = steps.times
    gone = _column(steps, expert)
    assert not gone[(t >= inside[0] - 1e-3) & (t <= inside[1] + 1e-3)].any()
    assert gone[(t < 1.0) | (t >= 5.5)].all()  # well away from the outage it is back
    for other in set(steps.experts) - {expert}:  # the cascade may miss the face in a frame now and then
        assert _column(steps, other).mean() >= (0.9 if other == "face" else 1.0), other
    # missing = a mask with zeros, never a NaN
    j = steps.experts.index(expert)
    assert (steps.logits[~gone, j] == 0).all()
    names = [i for i, n in enumerate(steps.quality_names) if n.startswith(expert + ".")]
    assert (steps.quality[~gone][:, names] == 0).all()
    assert np.isfinite(steps.logits).all() and np.isfinite(steps.quality).all()


def test_a_clip_without_audio_or_without_a_face_is_not_an_error(runners, clips):
    silent = run_experts(clips["no-audio"], runners)
    assert not _column(silent, "audio").any() and _column(silent, "brain").all() and _column(silent, "face").mean() >= 0.9
    faceless = run_experts(clips["no-face"], runners)
    assert not _column(faceless, "face").any() and _column(faceless, "audio").all()


def test_quality_features_reveal_planted_corruption(runners, clips):
    clean = run_experts(clips["clean"], runners)
    brain = run_experts(clips["bad-brain"], runners)
    face = run_experts(clips["bad-face"], runners)
    audio = run_experts(clips["bad-audio"], runners)
    # random blobs colour much more of the panel; a blurred face loses its fine detail; overdriven sound clips
    assert _quality(brain, "brain.colour").mean() > 2 * _quality(clean, "brain.colour").mean()
    assert _quality(face, "face.sharpness").max() < _quality(clean, "face.sharpness").min()
    assert _quality(audio, "audio.clipping").min() > 0.01 and _quality(clean, "audio.clipping").max() == 0
    # unreliable, not missing (the cascade misses a blurred face in some frames, as it would in a real video)
    assert brain.available.all() and audio.available.all() and _column(face, "face").mean() >= 0.5


def test_a_clip_shorter_than_one_grid_step_is_a_one_line_error(runners, tmp_path):
    clip = write_fusion_video(tmp_path / "synthetic-short.mp4", Plan(0.5, ((0.0, 0.5, "laughter"),)))
    with pytest.raises(KernelLaughError, match=r"synthetic-short\.mp4.*shorter than one 1 s step") as err:
        run_experts(clip, runners, grid_hz=1.0)
    assert "\n" not in str(err.value)


def test_labels_that_cannot_be_mapped_to_laughter_name_the_expert_and_its_labels(folders):
    with pytest.raises(KernelLaughError, match=r"face expert .*face.*\['neutral', 'smile'\].*'happy'"):
        load_experts([ExpertSpec.for_model("face", folders["face"], "happy")])
    with pytest.raises(KernelLaughError, match="audio expert .*is an image model"):
        load_experts([ExpertSpec.for_model("audio", folders["brain"], "laughter")])
    # the positive label is matched without regard to case
    runner = load_experts([ExpertSpec.for_model("face", folders["face"], "Smile")])["face"]
    assert runner.label_names[runner.positive] == "smile"


def test_steps_csv_round_trip(runners, clips, tmp_path):
    steps = run_experts(clips["muted"], runners, segments=[Segment(a, b, lab) for a, b, lab in CALM_THEN_LAUGH])
    rows = steps_to_rows(steps)
    assert rows[0]["clip"] == "synthetic-muted.mp4" and {"audio.logit", "audio.available", "face.box_area"} <= set(rows[0])
    path = tmp_path / "steps.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    back = read_steps_csv(path)
    assert (back.clip, back.experts, back.quality_names) == (steps.clip, steps.experts, steps.quality_names)
    np.testing.assert_allclose(back.times, steps.times, atol=1e-3)
    np.testing.assert_array_equal(back.logits, steps.logits)
    np.testing.assert_array_equal(back.available, steps.available)
    np.testing.assert_array_equal(back.quality, steps.quality)
    np.testing.assert_array_equal(back.labels, steps.labels)


def test_steps_csv_with_a_nan_is_refused(tmp_path):
    path = tmp_path / "steps.csv"
    path.write_text("clip,time,brain.logit,brain.available,label\nc.mp4,0.0,nan,1,0\n")
    with pytest.raises(KernelLaughError, match=r"steps\.csv, line 2: brain\.logit is NaN"):
        read_steps_csv(path)


def test_spec_round_trip_and_revision_of_a_local_folder(tmp_path):
    folder = _image_model(tmp_path / "m", ["non-laughter", "laughter"])
    spec = ExpertSpec.for_model("brain", folder, "laughter", region=(10, 20, 30, 40))
    assert ExpertSpec.from_dict(spec.to_dict()) == spec
    first = model_revision(folder)
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 16 and first == spec.revision
    assert model_revision(folder) == first  # the same weights, the same revision
    _image_model(folder, ["non-laughter", "laughter"])  # new random weights in the same folder
    assert model_revision(folder) != first
    with pytest.raises(KernelLaughError, match="no such model folder"):
        model_revision(tmp_path / "nothere")
