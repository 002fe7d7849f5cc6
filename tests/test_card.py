"""The model card: Hub metadata that huggingface_hub parses back, runnable snippets, no empty sections.

Results dicts are built by hand (no training): a binary laughter model with subgroups and a decision
threshold, and a 7-class facial-expression model without them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard, ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from PIL import Image

from kernel_laugh.card import (SYNTHETIC_WARNING, base_model_id, metric_rows, render_card, render_dataset_card,
                               template_text)
from kernel_laugh.config import CardConfig

FER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
REPO_ROOT = Path(__file__).resolve().parents[1]


def binary_results(synthetic: bool = False) -> dict:
    return {
        "split": "test", "dataset": "frames/", "synthetic": synthetic,
        "split_method": "validation, test carved from train: seeded split (seed 42) grouped by 'clip' (no group on two sides)",
        "label_names": ["non-laughter", "laughter"], "best_epoch": 2, "best_metric": "roc_auc",
        "history": [{"epoch": 1, "train_loss": 0.69, "accuracy": 0.61, "f1": 0.55, "roc_auc": 0.70},
                    {"epoch": 2, "train_loss": 0.41, "accuracy": 0.78, "f1": 0.80, "roc_auc": 0.86}],
        "skipped_files": [], "split_sizes": {"train": 432, "validation": 93, "test": 93}, "num_samples": 93,
        "accuracy": 0.78191, "precision": 0.71428, "recall": 0.91634, "f1": 0.80279, "roc_auc": 0.78592,
        "pr_auc": 0.74123, "ece": 0.0812,
        "precision_macro": 0.80, "recall_macro": 0.79, "f1_macro": 0.78, "precision_weighted": 0.81,
        "recall_weighted": 0.78, "f1_weighted": 0.779,
        "per_class": [{"label": "non-laughter", "precision": 0.89, "recall": 0.66, "f1": 0.76, "support": 48},
                      {"label": "laughter", "precision": 0.71, "recall": 0.92, "f1": 0.80, "support": 45}],
        "confusion_matrix": [[32, 16], [4, 41]], "roc_curve": {"fpr": [0.0, 0.3, 1.0], "tpr": [0.0, 0.9, 1.0]},
        "positive_label": "laughter",
        "accuracy_ci_low": 0.69, "accuracy_ci_high": 0.86, "roc_auc_ci_low": 0.69, "roc_auc_ci_high": 0.87,
        "f1_ci_low": 0.72, "f1_ci_high": 0.87, "ci_method": "bootstrap over groups, 500 resamples",
        "subgroups": {"clip": [
            {"group": "c1", "support": 40, "accuracy": 0.825, "accuracy_ci_low": 0.7, "accuracy_ci_high": 0.93, "f1": 0.81},
            {"group": "c2", "support": 53, "accuracy": 0.7547, "accuracy_ci_low": 0.62, "accuracy_ci_high": 0.87, "f1": 0.79},
        ]},
    }


def seven_class_results() -> dict:
    per_class = [{"label": n, "precision": 0.5 + i / 20, "recall": 0.55, "f1": 0.52, "support": 10 + i}
                 for i, n in enumerate(FER)]
    return {
        "split": "test", "dataset": "fer2013.csv", "synthetic": False, "split_method": "splits provided by the dataset",
        "label_names": FER, "best_epoch": 8, "best_metric": "accuracy", "history": [], "skipped_files": ["bad.png"],
        "split_sizes": {"train": 28709, "validation": 3589, "test": 3589}, "num_samples": 3589,
        "accuracy": 0.6512, "precision": 0.6311, "recall": 0.6012, "f1": 0.6123, "roc_auc": 0.9012,
        "precision_macro": 0.6311, "recall_macro": 0.6012, "f1_macro": 0.6123, "f1_weighted": 0.6489,
        "per_class": per_class, "confusion_matrix": [[10 if i == j else 1 for j in range(7)] for i in range(7)],
    }


def training_args(output_dir: str, pretrained: bool = False, architecture: str = "resnet18") -> dict:
    return {
        "DataConfig": {"dataset": "frames/", "group_column": "clip", "validation_fraction": 0.15, "test_fraction": 0.15,
                       "split_seed": 42, "sample_size": 600},
        "ModelConfig": {"architecture": architecture, "pretrained": pretrained, "image_size": 32, "crop_pct": 1.0,
                        "crop_mode": None, "drop_rate": 0.0},
        "TrainConfig": {"output_dir": output_dir, "epochs": 2, "batch_size": 16, "learning_rate": 3e-4,
                        "best_metric": "roc_auc", "mixed_precision": "no", "seed": 42, "resume": False},
        "CardConfig": {"model_id": None, "dataset_id": None, "license": "apache-2.0"},
        "environment": {"python": "3.11", "torch": "2.5"},
    }


@pytest.fixture(scope="module")
def fer_model_dir(tmp_path_factory) -> Path:
    """An untrained 7-class model folder (a few seconds to build and save)."""
    from kernel_laugh.config import ModelConfig
    from kernel_laugh.modeling import build_model, save_model

    model = build_model(ModelConfig(pretrained=False, image_size=32, crop_pct=1.0), FER)
    return save_model(model.eval(), tmp_path_factory.mktemp("fer"))


def _config(model_dir: Path, **extra) -> dict:
    return json.loads((model_dir / "config.json").read_text()) | extra


@pytest.fixture
def binary_card(tiny_model_dir) -> tuple[str, dict]:
    res = binary_results()
    cfg = _config(tiny_model_dir, decision_threshold=0.37, positive_label="laughter")
    return render_card(res, training_args("runs/brain"), cfg, CardConfig(model_id="me/test")), res


@pytest.fixture
def fer_card(fer_model_dir) -> tuple[str, dict]:
    res = seven_class_results()
    return render_card(res, training_args("runs/fer"), _config(fer_model_dir), CardConfig(model_id="me/fer")), res


def _sections(text: str) -> list[tuple[int, str, str]]:
    """(level, heading, body up to the next heading) for every markdown heading outside code blocks."""
    body = re.sub(r"```.*?```", "CODE", text.split("\n---\n", 1)[1], flags=re.S)
    parts = re.split(r"^(#{1,6}) (.+)$", body, flags=re.M)
    return [(len(parts[i]), parts[i + 1], parts[i + 2]) for i in range(1, len(parts), 3)]


def _assert_complete(text: str, min_sections: int = 15) -> None:
    for marker in ("{{", "{%", "{#", "TODO", "[More Information Needed]"):
        assert marker not in text, marker
    assert not re.search(r"\b(None|nan|NaN)\b", text)  # a missing value printed as such
    sections = _sections(text)
    assert len(sections) >= min_sections
    for i, (level, heading, body) in enumerate(sections):
        # A heading needs text of its own, or a deeper heading right under it.
        nxt = sections[i + 1][0] if i + 1 < len(sections) else 0
        assert body.strip() or nxt > level, f"empty section {heading!r}"


@pytest.mark.parametrize("which", ["binary", "seven"])
def test_card_parses_and_model_index_round_trips(which, binary_card, fer_card):
    text, res = binary_card if which == "binary" else fer_card
    card = ModelCard(text)  # raises on malformed metadata or model-index
    data = card.data
    assert data.license == "apache-2.0" and data.library_name == "timm" and data.pipeline_tag == "image-classification"
    assert "image-classification" in data.tags and "timm" in data.tags
    assert set(data.metrics) >= {"accuracy", "f1", "roc_auc"}
    assert data.base_model is None  # trained from scratch: no base model claimed

    meta = yaml.safe_load(re.match(r"---\n(.*?)\n---\n", text, re.S).group(1))
    name, evals = model_index_to_eval_results(meta["model-index"])  # huggingface_hub's own parser
    assert name == ("me/test" if which == "binary" else "me/fer")
    got = {e.metric_name: e.metric_value for e in evals}
    want = {row.name: round(res[row.key], 4) for row in metric_rows(res)}
    assert got == want and len(got) == len(evals)
    assert {e.task_type for e in evals} == {"image-classification"}
    assert {e.dataset_split for e in evals} == {"test"}
    assert [(e.metric_type, e.metric_value) for e in data.eval_results] == [(e.metric_type, e.metric_value) for e in evals]
    if which == "binary":
        assert got["F1 (laughter)"] == 0.8028 and got["PR AUC (laughter)"] == 0.7412
        assert next(e for e in evals if e.metric_type == "f1").metric_args == {"average": "binary", "pos_label": "laughter"}
    else:
        assert got["F1 (macro)"] == 0.6123 and got["F1 (weighted)"] == 0.6489
        assert "pr_auc" not in data.metrics and "ece" not in data.metrics
    # the tables show the same numbers as the metadata
    for value in want.values():
        assert f"{value:.4f}" in text


@pytest.mark.parametrize("which", ["binary", "seven"])
def test_card_has_no_placeholder_or_empty_section(which, binary_card, fer_card):
    text, res = binary_card if which == "binary" else fer_card
    _assert_complete(text)
    headings = [h for _, h, _ in _sections(text)]
    for needed in ("Uses", "Out-of-Scope Use", "Bias, Risks, and Limitations", "How to Get Started with the Model",
                   "Training Data", "Split protocol", "Training Hyperparameters", "Results", "Per class",
                   "Confusion matrix", "Compute", "Citation"):
        assert needed in headings, needed
    assert "medical" in text and "Lie detection" in text  # out of scope, in so many words
    if which == "binary":
        assert "Subgroups" in headings and "By clip" in headings and "Decision threshold" in headings
        assert "Training history" in headings and "| **2** |" in text  # best epoch marked
        assert "| c2 | 53 | 0.7547 [0.620, 0.870] | 0.7900 |" in text
        assert "| Accuracy | 0.7819 | 0.690 – 0.860 |" in text and "![ROC curve](roc_curve.png)" in text
        assert "Every `clip` lies wholly in one split" in text
    else:
        for absent in ("Subgroups", "Factors", "Decision threshold", "Training history"):
            assert absent not in headings, absent
        assert "![ROC curve]" not in text and "| 95% interval" not in text  # no curve, no intervals: not shown
        assert "no intervals were computed" in text
        assert "The dataset's own splits were used" in text and "1 unreadable image(s)" in text
        assert "EU AI Act" in text and all(f"`{i}` {n}" in text for i, n in enumerate(FER))


def test_synthetic_warning_appears_exactly_when_synthetic(tiny_model_dir):
    args, cfg = training_args("runs/sample"), _config(tiny_model_dir)
    real = render_card(binary_results(synthetic=False), args, cfg)
    fake = render_card(binary_results(synthetic=True), args, cfg)
    assert SYNTHETIC_WARNING in fake and "synthetic-data" in ModelCard(fake).data.tags
    assert fake.split("\n---\n", 1)[1].lstrip().startswith("# ")  # the warning sits right under the title
    assert fake.index(SYNTHETIC_WARNING) < fake.index("## Model Details")
    assert "SYNTHETIC" not in real and "synthetic-data" not in ModelCard(real).data.tags
    _assert_complete(fake)


def test_base_model_and_dataset_metadata(tiny_model_dir):
    assert base_model_id("resnet18") == "timm/resnet18.a1_in1k"  # timm's default pretrained tag
    assert base_model_id("resnet18.tv_in1k") == "timm/resnet18.tv_in1k"
    text = render_card(binary_results(), training_args("runs/brain", pretrained=True), _config(tiny_model_dir),
                       CardConfig(model_id="me/test", dataset_id="evdev3/kernel-neural-data", license="mit"))
    data = ModelCard(text).data
    assert data.base_model == "timm/resnet18.a1_in1k" and data.license == "mit"
    assert data.datasets == ["evdev3/kernel-neural-data"]
    assert data.eval_results[0].dataset_type == "evdev3/kernel-neural-data"
    assert "[timm/resnet18.a1_in1k](https://huggingface.co/timm/resnet18.a1_in1k), pretrained on ImageNet-1k" in text


def test_random_split_is_called_out(tiny_model_dir):
    res = binary_results() | {"split_method": "validation, test carved from train: seeded split (seed 42) stratified by label"}
    args = training_args("runs/brain")
    args["DataConfig"]["group_column"] = None
    text = render_card(res, args, _config(tiny_model_dir))
    assert "not by clip or session" in text and "--group-column" in text


def _snippets(text: str) -> list[str]:
    section = text.split("## How to Get Started with the Model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _run_snippets(snippets: list[str], folder: Path, tmp_path: Path, monkeypatch, capsys, labels: list[str]) -> None:
    for name in ("frame.png", "face.png", "image.png"):
        Image.new("RGB", (40, 30), (120, 60, 200)).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for code in snippets:
        exec(compile(code, "<model card snippet>", "exec"), {"__name__": "__snippet__"})
        out = capsys.readouterr().out
        assert any(label in out for label in labels), out


def test_snippets_run_offline_against_the_hub_folder(binary_card, tiny_model_dir, tmp_path, monkeypatch, capsys):
    """The snippets name the Hub repo; with the repo id swapped for the folder they must run as written."""
    text, _ = binary_card
    snippets = _snippets(text)
    assert len(snippets) == 4  # pipeline, AutoModel, timm, threshold
    local = [s.replace('"hf-hub:me/test"', f'"local-dir:{tiny_model_dir}"').replace('"me/test"', f'"{tiny_model_dir}"')
             for s in snippets]
    assert all("me/test" not in s for s in local)
    _run_snippets(local, tiny_model_dir, tmp_path, monkeypatch, capsys, ["laughter"])


def test_snippets_of_a_local_card_run_unchanged_in_a_copy_of_the_folder(fer_model_dir, tmp_path, monkeypatch, capsys):
    """Without a Hub id, the card loads the folder it sits in ("."), never the training machine's absolute path:
    its snippets run verbatim from inside a copy of the folder made anywhere else."""
    text = render_card(seven_class_results(), training_args(str(fer_model_dir)), _config(fer_model_dir))
    assert str(fer_model_dir) not in text
    snippets = _snippets(text)
    assert len(snippets) == 3 and all('"."' in s or '"local-dir:."' in s for s in snippets)
    assert "face.png" in snippets[0] and "top_k=7" in snippets[0]
    copy = tmp_path / "elsewhere" / "copied-model"
    shutil.copytree(fer_model_dir, copy)
    _run_snippets(snippets, copy, copy, monkeypatch, capsys, FER)


def test_history_table_names_each_column_by_what_it_measured(tiny_model_dir):
    res = binary_results()
    res["history"] = [{"epoch": 1, "train_loss": 0.69, "train_images_per_second": 52.0, "val_loss": 0.6, "accuracy": 0.61}]
    text = render_card(res, training_args("runs/brain"), _config(tiny_model_dir))
    header = text.split("| epoch |", 1)[1].split("\n", 1)[0]
    assert header == " train loss | train images/s | validation loss | validation accuracy |"


def test_plots_and_report_follow_the_folder(tiny_model_dir):
    files = ["config.json", "confusion_matrix.png", "roc_curve.png", "eval/roc.png", "eval/pr.png",
             "eval/calibration.png", "eval/report.md", "checkpoints/x.png"]
    text = render_card(binary_results(), training_args("runs/brain"), _config(tiny_model_dir), files=files)
    assert "![Precision-recall curve](eval/pr.png)" in text and "![Reliability diagram (calibration)](eval/calibration.png)" in text
    assert "eval/roc.png" not in text and "checkpoints" not in text  # one ROC plot; never training state
    assert "[eval/report.md](eval/report.md)" in text


def test_template_ships_in_the_package():
    assert template_text() == (REPO_ROOT / "model_card.md").read_text()
    assert "{{ card_data }}" in template_text()


def test_dataset_card():
    summary = {"source": "sample", "synthetic": True, "label_names": ["non-laughter", "laughter"],
               "features": {"image": "Image", "label": "ClassLabel (2 classes)", "session": "string"},
               "splits": {"train": {"num_rows": 420, "label_counts": {"non-laughter": 200, "laughter": 220}, "num_groups": 28},
                          "test": {"num_rows": 90, "label_counts": {"non-laughter": 40, "laughter": 50}, "num_groups": 6}},
               "group_column": "session", "split_method": "test carved from train: grouped by 'session'", "skipped": 0}
    text = render_dataset_card(summary, "me/frames")
    card = DatasetCard(text)
    assert card.data.task_categories == ["image-classification"] and card.data.license == "apache-2.0"
    assert "synthetic-data" in card.data.tags and card.data.size_categories == ["n<1K"]
    assert "SYNTHETIC" in text and "| train | 420 | 200 | 220 | 28 |" in text and "| `session` | string |" in text
    assert 'load_dataset("me/frames")' in text and "--group-column session" in text
    _assert_complete(text, min_sections=8)
    real = render_dataset_card(summary | {"synthetic": False, "source": "frames/"}, "me/frames",
                               description="Frames at 1 fps from the podcast video, brain crop.")
    assert "SYNTHETIC" not in real and "Frames at 1 fps" in real


def test_minimal_results_still_give_a_complete_card(tiny_model_dir):
    """Only what any evaluation has: sections without data drop out instead of printing empty or 'None'."""
    results = {"split": "test", "accuracy": 0.9, "num_samples": 10}  # label names come from config.json
    text = render_card(results, {"ModelConfig": {"architecture": "resnet18", "pretrained": False}}, _config(tiny_model_dir))
    _assert_complete(text)
    headings = [h for _, h, _ in _sections(text)]
    assert "Per class" not in headings and "Confusion matrix" not in headings and "Training history" not in headings
    assert [e.metric_value for e in ModelCard(text).data.eval_results] == [0.9]
