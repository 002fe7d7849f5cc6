"""The face-expression presets on small files in the public formats: FER2013's CSV and folders (fer2013,
emotion6) and UTKFace-named images (smile), from loading to training and evaluation."""

import json

import numpy as np
import pytest
from PIL import Image

from kernel_laugh.cli import main
from kernel_laugh.config import PRESETS, DataConfig
from kernel_laugh.data import FER2013_LABELS, prepare_data
from kernel_laugh.errors import KernelLaughError

USAGE = {"Training": 6, "PublicTest": 2, "PrivateTest": 2}  # rows per class and split


def _face(label: int, i: int, size: int = 48) -> np.ndarray:
    """A grey 48x48 'face' whose stripes depend on the class, so the labels are learnable."""
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(label * 100 + i)
    img = 128 + 90 * np.sin(xx * (label + 1) / 6.0 + i * 0.1) + rng.normal(0, 10, (size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    rows = ["emotion,pixels,Usage"]
    for usage, n in USAGE.items():
        for label in range(7):
            rows += [f"{label},{' '.join(map(str, _face(label, i).ravel()))},{usage}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_fer2013_csv_splits_labels_and_pixels(fer_csv):
    data = prepare_data(DataConfig(dataset=str(fer_csv)))
    assert data.label_names == FER2013_LABELS
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 42, "validation": 14, "test": 14}
    assert data.description == "splits provided by the dataset"
    row = data.splits["validation"][2]  # PublicTest rows come in file order: class 0 twice, then class 1...
    assert row["label"] == 1 and row["image"].size == (48, 48) and row["image"].mode == "L"
    assert np.array_equal(np.asarray(row["image"]), _face(1, 0))


@pytest.mark.parametrize("text, why", [("emotion,pixels,Usage\n3,1 2 3,Training\n", "line 2: 3 pixel values"),
                                       ("emotion,pixels,Usage\n3,1 2 x 4,Training\n", "line 2"),
                                       ("emotion,pixels,Usage\n9,1 2 3 4,Training\n", "not 0-6"),
                                       ("emotion,pixels,Usage\n3,1 2 3 4,Holdout\n", "Holdout")])
def test_fer2013_csv_errors_name_file_and_line(tmp_path, text, why):
    bad = tmp_path / "fer.csv"
    bad.write_text(text)
    with pytest.raises(KernelLaughError, match=why) as err:
        prepare_data(DataConfig(dataset=str(bad)))
    assert str(bad) in str(err.value)


def test_emotion6_drops_disgust_unless_kept(fer_csv):
    preset = {k: v for k, v in PRESETS["emotion6"].items() if k in DataConfig.__dataclass_fields__}
    data = prepare_data(DataConfig(**{**preset, "dataset": str(fer_csv)}))
    assert data.label_names == [n for n in FER2013_LABELS if n != "disgust"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 36, "validation": 12, "test": 12}
    assert np.array_equal(np.asarray(data.splits["validation"][2]["image"]), _face(2, 0))  # 'fear' is class 1 now
    assert data.splits["validation"][2]["label"] == 1
    kept = prepare_data(DataConfig(**{**preset, "dataset": str(fer_csv), "keep_disgust": True}))
    assert kept.label_names == FER2013_LABELS
    assert PRESETS["emotion6"]["class_balance"] == "loss"


def test_fer2013_folder_layout(tmp_path):
    for split, n in (("train", 5), ("test", 2)):
        for label, name in enumerate(FER2013_LABELS):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(_face(label, i), mode="L").save(tmp_path / split / name / f"im{i}.png")
    data = prepare_data(DataConfig(dataset=str(tmp_path), validation_fraction=0.2))
    assert sorted(data.label_names) == sorted(FER2013_LABELS)
    assert len(data.splits["test"]) == 14 and len(data.splits["train"]) + len(data.splits["validation"]) == 35


RACES = ["White", "Black", "Asian", "Indian", "Others"]


@pytest.fixture(scope="module")
def utkface_dir(tmp_path_factory):
    """happy/ and neutral/ of small colour images named age_gender_race_datetime.jpg.chip.jpg (UTKFace's crops)."""
    root = tmp_path_factory.mktemp("utk") / "smile"
    rng = np.random.default_rng(0)
    for label, folder in enumerate(("neutral", "happy")):
        (root / folder).mkdir(parents=True)
        for i in range(30):
            age, gender, race = int(rng.integers(1, 90)), i % 2, i % 5
            img = np.full((40, 40, 3), (150, 120, 100), np.uint8)
            img[26 + 4 * label: 30 + 4 * label, 10:30] = 40  # the 'mouth' sits lower when smiling
            img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / folder / f"{age}_{gender}_{race}_2017011{i:02d}.jpg.chip.jpg")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "happy" / "not_utkface_named.jpg")
    return root


def test_utkface_names_become_metadata(utkface_dir):
    data = prepare_data(DataConfig(dataset=str(utkface_dir)))
    assert data.label_names == ["happy", "neutral"]
    rows = [r for split in data.splits.values() for r in split.select_columns(["file_name", "age", "gender", "race"])]
    assert len(rows) == 61
    for r in rows:
        name = r["file_name"].split("/")[-1]
        if name.startswith("not_"):
            assert r["age"] is None and r["race"] is None
            continue
        age, gender, race = (int(v) for v in name.split("_")[:3])
        assert (r["age"], r["gender"], r["race"]) == (age, ["male", "female"][gender], RACES[race])


def _train(argv):
    assert main(["train", *argv, "--no-pretrained", "--image-size", "32", "--epochs", "1", "--batch-size", "16"]) == 0


def test_fer2013_preset_trains_and_reports_seven_classes(fer_csv, tmp_path):
    out = tmp_path / "fer"
    _train(["--preset", "fer2013", "--dataset", str(fer_csv), "--output-dir", str(out)])
    res = json.loads((out / "eval_results.json").read_text())
    assert res["label_names"] == FER2013_LABELS and res["num_samples"] == 14
    assert len(res["per_class"]) == 7 and np.asarray(res["confusion_matrix"]).shape == (7, 7)
    config = json.loads((out / "config.json").read_text())
    assert config["num_classes"] == 7 and config["pretrained_cfg"]["input_size"] == [3, 32, 32]


def test_smile_preset_trains_and_breaks_down_by_race(utkface_dir, tmp_path):
    """The smile project's subgroup table: accuracy by race and by age group, from the UTKFace names."""
    out = tmp_path / "smile"
    _train(["--preset", "smile", "--dataset", str(utkface_dir), "--output-dir", str(out)])
    res = json.loads((out / "eval_results.json").read_text())
    assert res["label_names"] == ["happy", "neutral"] and res["num_samples"] == 9
    # The positive class is happy (a smile), though it sorts first: metrics, config.json and card all say so.
    assert res["positive_label"] == "happy"
    happy = res["per_class"][0]
    assert (res["precision"], res["recall"], res["f1"]) == (happy["precision"], happy["recall"], happy["f1"])
    assert json.loads((out / "config.json").read_text())["positive_label"] == "happy"
    card = (out / "README.md").read_text()
    assert "Precision, recall and F1 of the positive class, `happy`." in card and "Recall (happy)" in card
    report = tmp_path / "report"  # the data options default to the folder's training_args.json
    assert main(["evaluate", str(out), "--group-by", "race,age:0-12,13-59,60+", "--n-boot", "50",
                 "--output-dir", str(report)]) == 0
    sub = json.loads((report / "eval_results.json").read_text())["subgroups"]
    assert {r["group"] for r in sub["race"]} <= {*RACES, "missing"} and sum(r["support"] for r in sub["race"]) == 9
    assert all("accuracy" in r for r in sub["race"]) and sub["age"]
    assert "By race" in (report / "eval" / "report.md").read_text()
    assert json.loads((report / "eval_results.json").read_text())["positive_label"] == "happy"


@pytest.mark.parametrize("names, flag, expected", [
    (["happy", "neutral"], None, "happy"),  # the one name that is not negative-like
    (["laughter", "non-laughter"], None, "laughter"),
    (["cat", "dog"], None, "dog"),  # nothing singles one out: the second in label order
    (["cat", "dog"], "cat", "cat"),
])
def test_positive_class_rule(names, flag, expected):
    from kernel_laugh.config import positive_label_index

    index, why = positive_label_index(names, flag)
    assert names[index] == expected and why


def test_positive_label_errors_name_the_value():
    from kernel_laugh.config import positive_label_index

    with pytest.raises(KernelLaughError, match=r"--positive-label 'smile' is not one of the dataset's labels"):
        positive_label_index(["happy", "neutral"], "smile")
    with pytest.raises(KernelLaughError, match="only binary datasets"):
        positive_label_index(FER2013_LABELS, "happy")
    assert positive_label_index(FER2013_LABELS)[0] is None


def test_every_binary_preset_names_its_positive_class():
    assert {name: PRESETS[name].get("positive_label") for name in PRESETS} == {
        "sample": "laughter", "brain": "laughter", "kernel-laughter": "laughter", "smile": "happy",
        "audio": "laughter", "audio-sample": "laughter",
        "fer2013": None, "emotion6": None}  # multi-class: no positive class
