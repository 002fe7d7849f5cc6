"""`kernel-laugh compare`: paired differences on the same images, against a retrained model (different seed), a
damaged copy, and a model with other labels and preprocessing."""

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from kernel_laugh.cli import main


def _copy(src, dst):
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture(scope="module")
def other_seed_dir(tmp_path_factory):
    """The same recipe as `trained_dir` (the full sample preset) with another seed."""
    out = tmp_path_factory.mktemp("seed7") / "sample-seed7"
    assert main(["train", "--preset", "sample", "--seed", "7", "--output-dir", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def damaged_dir(trained_dir, tmp_path_factory):
    """A copy of the sample model whose classifier weights are shuffled (seeded)."""
    out = _copy(trained_dir, tmp_path_factory.mktemp("damaged") / "damaged")
    weights = load_file(str(out / "model.safetensors"))
    rng = np.random.default_rng(0)
    for key in ("fc.weight", "fc.bias"):
        weights[key] = rng.permutation(weights[key].ravel()).reshape(weights[key].shape)
    save_file(weights, str(out / "model.safetensors"))
    return out


def _compare(capsys, tmp_path, *models, extra=()):
    out = tmp_path / "compare"
    code = main(["compare", *map(str, models), "--output-dir", str(out), *extra])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    return json.loads((out / "compare.json").read_text()), out, printed.out


def test_two_seeds_of_the_same_recipe_are_not_told_apart(trained_dir, other_seed_dir, tmp_path, capsys):
    res, out, printed = _compare(capsys, tmp_path, trained_dir, other_seed_dir)
    assert res["split"] == "test" and res["synthetic"] and res["num_samples"] == 90 and res["groups"] == 9
    diffs = res["comparisons"][0]["differences"]
    for m in ("accuracy", "roc_auc"):
        d = diffs[m]
        assert d["ci_low"] < d["ci_high"], (m, d)
        assert d["ci_low"] <= 0 <= d["ci_high"], (m, d)
    for m in ("accuracy", "roc_auc"):  # each model's own value matches what `evaluate` would report
        assert res["metrics"][0][m] == pytest.approx(json.loads((trained_dir / "eval_results.json").read_text())[m])
    report = (out / "compare.md").read_text()
    assert "Obuchowski" in report and "McNemar" in report and "DeLong" in report and "SYNTHETIC" in report
    assert (out / "compare.png").stat().st_size > 10_000 and "over 9 groups" in printed


def test_a_damaged_copy_is_worse_with_the_interval_on_one_side(trained_dir, damaged_dir, tmp_path, capsys):
    res, _, _ = _compare(capsys, tmp_path, trained_dir, damaged_dir)
    pair = res["comparisons"][0]
    for m in ("accuracy", "roc_auc"):
        d = pair["differences"][m]
        assert d["ci_low"] < d["ci_high"] < 0, (m, d)  # damaged minus trained: wholly below 0
    assert pair["delong"]["p_value"] < 0.001 and pair["delong"]["difference"] < 0
    assert pair["mcnemar"]["only_a_right"] > pair["mcnemar"]["only_b_right"]


def test_models_with_other_labels_need_a_shared_task(trained_dir, tiny_model_dir, tmp_path, capsys):
    other = _copy(tiny_model_dir, tmp_path / "calm-vs-laughter")  # 32 px input: other preprocessing too
    config = json.loads((other / "config.json").read_text())
    config["label_names"] = ["calm", "laughter"]
    (other / "config.json").write_text(json.dumps(config))
    assert main(["compare", str(trained_dir), str(other), "--output-dir", str(tmp_path / "refused")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "different labels" in err and "--positive-label" in err
    res, _, _ = _compare(capsys, tmp_path, trained_dir, other, extra=["--positive-label", "laughter"])
    assert res["label_names"] == ["not laughter", "laughter"] and res["positive_label"] == "laughter"
    assert res["preprocessing"][0]["input_size"] != res["preprocessing"][1]["input_size"]
    assert main(["compare", str(trained_dir), str(other), "--positive-label", "giggle"]) == 1
    assert "'giggle' is not among the labels of model 1" in capsys.readouterr().err
