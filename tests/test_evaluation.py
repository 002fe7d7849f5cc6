"""`kernel-laugh evaluate`: the results file, the report with both tables, plots, thresholds, subgroups."""

import json
import shutil

import datasets
import numpy as np
import pytest
from PIL import Image

from kernel_laugh.cli import main
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.evaluation import parse_group_by, subgroup_values
from kernel_laugh.metrics import HEADLINE

PLOTS = ("confusion_matrix.png", "roc.png", "pr.png", "calibration.png")


def _copy_model(src, dst):
    """A private copy of a model folder: evaluate may write a threshold into config.json."""
    dst.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "training_args.json"):
        if (src / name).is_file():
            shutil.copy(src / name, dst / name)
    return dst


def _assert_non_trivial_png(path):
    with Image.open(path) as im:
        im.load()
        pixels = np.asarray(im.convert("RGB"), dtype=float)
    assert min(pixels.shape[:2]) >= 100, path
    assert pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, f"{path} looks blank"


@pytest.fixture(scope="module")
def evaluated(trained_dir, tmp_path_factory):
    """The sample model evaluated once with every option: threshold, calibration, subgroups, explanations."""
    model = _copy_model(trained_dir, tmp_path_factory.mktemp("evaluated") / "model")
    argv = ["evaluate", str(model), "--group-by", "session", "--target-recall", "0.9", "--calibrate", "--explain", "4",
            "--n-boot", "200"]
    assert main(argv) == 0
    return model, json.loads((model / "eval_results.json").read_text())


def test_evaluate_writes_results_report_and_plots(evaluated):
    model, res = evaluated
    assert res["split"] == "test" and res["synthetic"] is True and res["num_samples"] == 90
    for m in HEADLINE + ("ece",):
        assert res[f"{m}_ci_low"] <= res[m] <= res[f"{m}_ci_high"], m
    assert "9 groups" in res["ci_method"] and res["ci_groups"] == 9  # spread measured between the test sessions
    report = (model / "eval" / "report.md").read_text()
    assert "## Per class" in report and "macro avg" in report and "weighted avg" in report and "support" in report
    assert "## Summary" in report and "ROC AUC" in report and "PR AUC" in report and "95% interval" in report
    assert "SYNTHETIC" in report and "## Calibration" in report and "## Subgroups" in report
    for name in PLOTS + ("subgroups_session.png", "top_losses.png", "gradcam_mean.png"):
        if name == "top_losses.png" and not res["explanations"]["top_losses"]:
            continue  # a perfect model has no wrong images to show
        _assert_non_trivial_png(model / "eval" / name)
        assert f"({name})" in report, name


def test_threshold_is_fitted_on_validation_stored_and_used_by_predict(evaluated, tmp_path, capsys):
    from kernel_laugh.inference import Predictor

    model, res = evaluated
    sel = res["threshold_selection"]
    assert sel["fitted_on"] == "validation" and sel["validation_recall"] >= 0.9
    assert res["decision_threshold"] == sel["threshold"]
    config = json.loads((model / "config.json").read_text())
    assert config["decision_threshold"] == sel["threshold"] and config["positive_label"] == "laughter"
    predictor = Predictor(model)  # the pipeline still loads the folder with the extra keys
    t = predictor.threshold
    assert t == sel["threshold"] and predictor.positive_label == "laughter"
    just_above = [{"label": "laughter", "score": t + 1e-6}, {"label": "non-laughter", "score": 1 - t - 1e-6}]
    just_below = [{"label": "non-laughter", "score": 1 - t + 1e-6}, {"label": "laughter", "score": t - 1e-6}]
    assert predictor.decide(just_above) == "laughter" and predictor.decide(just_below) == "non-laughter"
    png = tmp_path / "frame.png"
    Image.new("RGB", (40, 30), (120, 100, 90)).save(png)
    capsys.readouterr()
    assert main(["predict", str(model), str(png), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["decision"] == predictor.decide(out[0]["predictions"])


def test_calibration_and_subgroups_in_results(evaluated):
    _, res = evaluated
    ts = res["temperature_scaling"]
    assert ts["temperature"] > 0 and ts["fitted_on"] == "validation"
    assert len(res["calibration"]["bins"]) == 10 and sum(b["count"] for b in res["calibration"]["bins"]) == 90
    rows = res["subgroups"]["session"]
    assert sum(r["support"] for r in rows) == 90 and len(rows) >= 2
    assert all("accuracy" in r and "accuracy_ci_low" in r for r in rows)
    # One session per row: no interval (not a zero-width one), and the row is flagged as too small.
    assert all(r["groups"] == 1 and r["too_small"] and r["accuracy_ci_low"] is None for r in rows)
    report = (evaluated[0] / "eval" / "report.md").read_text()
    assert "too small to say anything about" in report and "⚠" in report


def test_training_writes_the_same_report(trained_dir):
    report = (trained_dir / "eval" / "report.md").read_text()
    assert "## Per class" in report and "## Summary" in report
    for name in PLOTS:
        _assert_non_trivial_png(trained_dir / "eval" / name)
    assert "pr_auc" in json.loads((trained_dir / "eval_results.json").read_text())


def test_multiclass_evaluate_on_a_folder(tmp_path):
    from kernel_laugh.config import ModelConfig
    from kernel_laugh.modeling import build_model, save_model

    names = ["happy", "neutral", "sad"]
    root = tmp_path / "faces"
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for j in range(14):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / name / f"{j}.png")
    model_dir = save_model(build_model(ModelConfig(pretrained=False, image_size=32, crop_pct=1.0), names).eval(), tmp_path / "m")
    out = tmp_path / "eval-out"
    assert main(["evaluate", str(model_dir), "--dataset", str(root), "--split", "all", "--n-boot", "50",
                 "--output-dir", str(out)]) == 0
    res = json.loads((out / "eval_results.json").read_text())
    assert res["num_samples"] == 42 and np.asarray(res["confusion_matrix"]).shape == (3, 3)
    assert len(res["roc_curves"]) == 3 and res["roc_auc_ci_low"] is not None
    report = (out / "eval" / "report.md").read_text()
    assert "precision (macro)" in report and "ROC AUC (one-vs-rest macro)" in report
    for name in PLOTS:
        assert (out / "eval" / name).is_file()
    assert main(["evaluate", str(model_dir), "--dataset", str(root), "--target-recall", "0.9"]) == 1  # binary only


def test_group_by_parsing_and_numeric_buckets():
    specs = parse_group_by("race, age:0-2,3-12,13-59,60+ ,gender")
    assert [s.column for s in specs] == ["race", "age", "gender"]
    assert specs[0].buckets is None and [b[0] for b in specs[1].buckets] == ["0-2", "3-12", "13-59", "60+"]
    ds = datasets.Dataset.from_dict({"age": ["1", "7", "35", "80", "", "2.5"], "race": ["0", "1", "0", "2", "1", "0"]})
    assert subgroup_values(ds, specs[1]).tolist() == ["0-2", "3-12", "13-59", "60+", "missing", "other"]
    assert subgroup_values(ds, specs[0]).tolist() == ["0", "1", "0", "2", "1", "0"]
    with pytest.raises(KernelLaughError, match="unknown --group-by column 'gender'"):
        subgroup_values(ds, specs[2])
    with pytest.raises(KernelLaughError, match="not a number"):
        subgroup_values(datasets.Dataset.from_dict({"age": ["old"]}), specs[1])
    with pytest.raises(KernelLaughError, match="bucket"):
        parse_group_by("age:young")


def test_evaluate_bad_input_gives_one_line_errors(trained_dir, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "no-model")]) == 1
    assert "no-model" in capsys.readouterr().err
    model = _copy_model(trained_dir, tmp_path / "m")
    assert main(["evaluate", str(model), "--group-by", "subject", "--n-boot", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown --group-by column 'subject'" in err and "session" in err
    assert main(["evaluate", str(model), "--target-recall", "1.5"]) == 1
    assert "--target-recall" in capsys.readouterr().err
