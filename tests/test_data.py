"""Sources → standard splits; bad folders fail clearly before any training."""

import numpy as np
import pytest
from PIL import Image

from kernel_laugh.config import DataConfig
from kernel_laugh.data import clean_label, prepare_data, split_indices
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.sample import generate_sample, write_image_folder


def _folder(root, counts: dict[str, int], size=(12, 10)):
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, (i * 9 % 255, 40, 90)).save(root / name / f"{i}.png")
    return root


def test_sample_is_deterministic_and_synthetic():
    a, b = generate_sample(20, 32, seed=3), generate_sample(20, 32, seed=3)
    assert [r["label"] for r in a] == [r["label"] for r in b]
    assert np.array_equal(np.asarray(a[5]["image"]), np.asarray(b[5]["image"]))
    assert not np.array_equal(np.asarray(a[5]["image"]), np.asarray(generate_sample(20, 32, seed=4)[5]["image"]))
    assert a[0]["image"].size == (43, 32) and {r["label"] for r in generate_sample(60, 32)} == {0, 1}
    data = prepare_data(DataConfig(dataset="sample", sample_size=60, sample_image_size=32, group_column="session"))
    assert "SYNTHETIC" in data.splits["train"].info.description


def test_image_folder_with_numeric_prefixes_and_group_split(tmp_path):
    root = write_image_folder(tmp_path / "frames", n=120, size=24, seed=1)
    data = prepare_data(DataConfig(dataset=str(root), group_column="session", split_seed=0))
    assert data.label_names == ["non-laughter", "laughter"]
    assert sum(len(s) for s in data.splits.values()) == 120
    sessions = {k: set(v["session"]) for k, v in data.splits.items()}
    assert not sessions["train"] & sessions["test"] and not sessions["train"] & sessions["validation"]
    assert not sessions["validation"] & sessions["test"]
    assert "session" in data.description


def test_existing_split_folders_are_kept(tmp_path):
    _folder(tmp_path / "d" / "train", {"0_non-laughter": 10, "1_laughter": 10})
    _folder(tmp_path / "d" / "test", {"0_non-laughter": 3, "1_laughter": 4})
    data = prepare_data(DataConfig(dataset=str(tmp_path / "d")))
    assert len(data.splits["test"]) == 7 and len(data.splits["train"]) + len(data.splits["validation"]) == 20


def test_saved_dataset_parquet_and_csv(tmp_path):
    import datasets

    data = prepare_data(DataConfig(dataset="sample", sample_size=40, sample_image_size=24))
    data.splits.save_to_disk(str(tmp_path / "saved"))
    assert prepare_data(DataConfig(dataset=str(tmp_path / "saved"))).label_names == ["non-laughter", "laughter"]
    data.splits["train"].to_parquet(str(tmp_path / "t.parquet"))
    assert len(prepare_data(DataConfig(dataset=str(tmp_path / "t.parquet"))).splits["train"]) > 0
    _folder(tmp_path / "imgs", {"x": 6})
    rows = ["path,mood"] + [f"imgs/x/{i}.png,{'happy' if i % 2 else 'neutral'}" for i in range(6)] * 3
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    csv = prepare_data(DataConfig(dataset=str(tmp_path / "t.csv"), label_column="mood"))
    assert sorted(csv.label_names) == ["happy", "neutral"]
    assert isinstance(csv.splits["train"].features["image"], datasets.Image)


def test_split_indices_stratified_and_complete():
    labels = np.array([0] * 50 + [1] * 30)
    tr, va, te = split_indices(labels, None, (0.2, 0.2), seed=0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(80))
    assert (labels[te] == 1).sum() == 6 and (labels[va] == 0).sum() == 10


@pytest.mark.parametrize("counts,match", [({"1_laughter": 5}, "only one class"), ({}, "no images found")])
def test_one_class_and_empty_folders_fail_clearly(tmp_path, counts, match):
    root = _folder(tmp_path / "d", counts)
    (root / "0_non-laughter").mkdir(parents=True, exist_ok=True)
    with pytest.raises(KernelLaughError, match=match):
        prepare_data(DataConfig(dataset=str(root)))


def test_few_corrupt_images_are_skipped_and_named_many_fail(tmp_path):
    root = _folder(tmp_path / "d", {"a": 30, "b": 30})
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    data = prepare_data(DataConfig(dataset=str(root)))
    assert len(data.skipped) == 1 and "broken.png" in data.skipped[0]
    assert sum(len(s) for s in data.splits.values()) == 60
    for i in range(10):
        (root / "b" / f"bad{i}.jpg").write_bytes(b"garbage")
    with pytest.raises(KernelLaughError, match="unreadable") as err:
        prepare_data(DataConfig(dataset=str(root)))
    assert "bad0.jpg" in str(err.value)


def test_unknown_source_and_missing_columns(tmp_path):
    with pytest.raises(KernelLaughError, match="not a folder"):
        prepare_data(DataConfig(dataset=str(tmp_path / "nope.zip")))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(KernelLaughError, match="no image column"):
        prepare_data(DataConfig(dataset=str(tmp_path / "t.csv")))


def test_clean_label():
    assert clean_label("0_non-laughter") == "non-laughter" and clean_label("1_laughter") == "laughter"
    assert clean_label("happy") == "happy" and clean_label("3") == "3"


def test_image_cache_feeds_the_loader_the_same_pixels_as_decoding_every_epoch(tmp_path):
    """--cache-images stores each image after the transform's first (deterministic) resize; the loader must then
    see exactly the tensors the full transform makes from the original file, augmentation included."""
    import torch

    from kernel_laugh.data import TorchImageDataset, cache_resized
    from kernel_laugh.transforms import eval_transform, split_first_resize, train_transform

    folder = write_image_folder(tmp_path / "frames", n=12, size=80)
    ds = prepare_data(DataConfig(dataset=str(folder))).splits["train"]
    pcfg = {"input_size": (3, 64, 64), "interpolation": "bicubic", "crop_pct": 0.875, "crop_mode": "center",
            "mean": (0.5, 0.4, 0.3), "std": (0.2, 0.25, 0.3)}
    for tf in (eval_transform(pcfg), train_transform(pcfg, "brain")):
        resize, rest = split_first_resize(tf)
        cached = cache_resized(ds, resize, tmp_path / "cache" / "train")
        assert "image" not in cached.column_names and cached.cache_files  # on disk, not in memory
        direct, fast = TorchImageDataset(ds, tf), TorchImageDataset(cached, rest)
        for key in [(0, 11), (5, 12), (len(ds) - 1, 13)]:  # (index, augmentation seed), as the EpochSampler yields
            (x, y), (x_cached, y_cached) = direct[key], fast[key]
            assert y == y_cached and torch.equal(x, x_cached)


def test_grouped_split_counts_groups_warns_when_few_and_takes_a_number_of_groups(caplog):
    cfg = DataConfig(dataset="sample", sample_size=200, sample_image_size=24, group_column="session",
                     test_groups=6, validation_groups=3)
    with caplog.at_level("WARNING", logger="kernel_laugh.data"):
        data = prepare_data(cfg)
    sessions = {k: set(v["session"]) for k, v in data.splits.items()}
    assert (len(sessions["train"]), len(sessions["validation"]), len(sessions["test"])) == (11, 3, 6)
    assert "groups per split: train 11, validation 3, test 6" in data.description
    warned = [r.getMessage() for r in caplog.records]
    assert any("validation split holds only 3 groups" in m for m in warned)
    assert not any("test split" in m for m in warned)  # 6 test sessions: no warning
    with pytest.raises(KernelLaughError, match="give --group-column"):
        prepare_data(DataConfig(dataset="sample", sample_size=40, sample_image_size=24, test_groups=2))
    with pytest.raises(KernelLaughError, match="only 20"):
        prepare_data(DataConfig(dataset="sample", sample_size=200, sample_image_size=24, group_column="session",
                                test_groups=15, validation_groups=5))


def test_the_default_sample_has_at_least_8_sessions_in_test():
    data = prepare_data(DataConfig(dataset="sample", sample_image_size=24, group_column="session"))
    assert len(set(data.splits["test"]["session"])) >= 8 and len(data.splits["test"]) == 90
