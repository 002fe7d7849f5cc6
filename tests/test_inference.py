"""The fast prediction path (bf16, oneDNN layout on CPUs, batched) gives the same decisions as fp32."""

import numpy as np
import pytest
from transformers import pipeline

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.inference import Predictor
from kernel_laugh.sample import generate_sample


def _positive(rows, label="laughter"):
    return np.array([{d["label"]: d["score"] for d in r}[label] for r in rows])


def test_bf16_fast_path_agrees_with_fp32_on_500_images(trained_dir):
    images = [r["image"] for r in generate_sample(500, 96, seed=11)]
    fp32 = _positive(Predictor(trained_dir, precision="fp32")(images))
    bf16 = _positive(Predictor(trained_dir, precision="bf16")(images))
    assert ((fp32 >= 0.5) == (bf16 >= 0.5)).mean() >= 0.99
    assert np.abs(fp32 - bf16).max() <= 0.02


def test_fp32_path_equals_plain_pipeline(trained_dir):
    images = [r["image"] for r in generate_sample(12, 96, seed=12)]
    ours = _positive(Predictor(trained_dir, precision="fp32")(images, batch_size=5))
    theirs = _positive(pipeline("image-classification", model=str(trained_dir))(images, top_k=2))
    assert np.abs(ours - theirs).max() < 1e-5


def test_bad_precision_is_refused(tiny_model_dir):
    with pytest.raises(KernelLaughError, match="precision"):
        Predictor(tiny_model_dir, precision="fp8")


def test_predict_files_matches_predicting_the_decoded_images(trained_dir, tmp_path):
    """The file path (JPEG draft decoding, arrays held instead of images) answers as the image path does."""
    records = generate_sample(6, 96, seed=14)
    paths = []
    for i, r in enumerate(records):
        paths.append(tmp_path / f"im{i}.png")
        r["image"].save(paths[-1])
    predictor = Predictor(trained_dir, precision="fp32")
    from_files = [{d["label"]: d["score"] for d in r["predictions"]}["laughter"] for r in predictor.predict_files(paths, batch_size=4)]
    assert np.allclose(from_files, _positive(predictor([r["image"] for r in records])), atol=1e-6)
