"""Real-world inputs, one reader per kind (issue 15): every file here is generated in tmp_path and tiny.

Each test asserts the value a user relies on: the picture as displayed, the same probabilities on every path
(predict, evaluate's dataset path, the Space), exactly the expected files of a folder, one-line errors."""

from __future__ import annotations

import json
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kernel_laugh.cli import main
from kernel_laugh.config import DataConfig
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.images import read_image

# EXIF orientation → the transpose that exif_transpose applies to show the picture upright, and its inverse
# (which stores an upright picture the way a camera would).
SHOW = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90}
STORE = {**SHOW, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def picture(width: int = 48, height: int = 36) -> Image.Image:
    """An asymmetric picture of a few flat colours (so that GIF and palettes hold it exactly)."""
    a = np.zeros((height, width, 3), np.uint8)
    a[:] = (20, 30, 120)
    a[2:14, 3:20] = (230, 40, 30)  # a red block near the top left
    a[-10:-2, -16:-4] = (40, 220, 60)  # a green bar near the bottom right
    a[:, width // 2: width // 2 + 3] = (250, 250, 250)  # a white stripe left of centre... of the right half
    return Image.fromarray(a)


def png_header(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height (a decompression bomb before it is decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width // 8 + 2)))
                     + chunk(b"IEND", b""))
    return path


def png16_rgb(path: Path, rgb8: np.ndarray) -> Path:
    """A 48-bit (16 bits per channel) RGB PNG holding ``rgb8 * 257`` (Pillow cannot write one)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    h, w, _ = rgb8.shape
    rows = (rgb8.astype(">u2") * 257).reshape(h, w * 6 // 2).view(np.uint8).reshape(h, w * 6)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def on_black(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """What a transparent picture shows on the renders' black background."""
    return np.round(rgb.astype(np.float64) * (alpha[..., None] / 255.0)).astype(np.uint8)


def tricky_images(folder: Path) -> dict[str, tuple[Path, np.ndarray, float]]:
    """name → (file, the picture as displayed (H, W, 3), largest mean absolute difference the format allows)."""
    folder.mkdir(parents=True, exist_ok=True)
    up = picture()
    arr = np.asarray(up)
    out: dict[str, tuple[Path, np.ndarray, float]] = {}
    up.save(folder / "upright.png")
    out["upright"] = (folder / "upright.png", arr, 0)
    for k in range(1, 9):  # every EXIF orientation, stored as a camera would
        stored = up.transpose(STORE[k]) if k in STORE else up.copy()
        exif = Image.Exif()
        exif[0x0112] = k
        stored.save(folder / f"exif{k}.png", exif=exif)
        out[f"exif{k}"] = (folder / f"exif{k}.png", arr, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    up.transpose(STORE[6]).save(folder / "phone.jpg", quality=95, exif=exif)  # a phone photo, stored sideways
    out["phone-jpeg"] = (folder / "phone.jpg", arr, 6)
    up.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    out["cmyk"] = (folder / "cmyk.jpg", arr, 6)
    grey = np.asarray(up.convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "grey16.png")  # I;16: white if clipped
    out["grey16"] = (folder / "grey16.png", np.repeat(grey[..., None], 3, 2), 0)
    out["rgb16"] = (png16_rgb(folder / "rgb16.png", arr), arr, 0)
    alpha = np.full(arr.shape[:2], 255, np.uint8)
    alpha[:, :10] = 0  # a transparent left edge
    alpha[:, 10:20] = 128
    Image.fromarray(np.dstack([arr, alpha])).save(folder / "rgba.png")
    out["rgba"] = (folder / "rgba.png", on_black(arr, alpha), 0)
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(folder / "la.png")
    out["la"] = (folder / "la.png", on_black(np.repeat(grey[..., None], 3, 2), alpha), 0)
    pal = up.quantize(colors=8)
    bg = int(np.asarray(pal)[0, 0])  # the background colour's index becomes transparent
    pal.save(folder / "palette.png", transparency=bg)
    shown = np.where((np.asarray(pal) == bg)[..., None], 0, np.asarray(pal.convert("RGB")))
    out["palette-transparent"] = (folder / "palette.png", shown.astype(np.uint8), 0)
    up.save(folder / "lossless.webp", lossless=True)
    out["webp"] = (folder / "lossless.webp", arr, 0)
    frames = [up, Image.fromarray(255 - arr)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out["gif-first-frame"] = (folder / "anim.gif", arr, 1)
    read_image(folder / "upright.png")  # registers HEIF
    up.save(folder / "photo.heic", quality=95)
    out["heif"] = (folder / "photo.heic", arr, 8)
    up.save(folder / "photo.avif", quality=95)
    out["avif"] = (folder / "photo.avif", arr, 8)
    return out


@pytest.fixture(scope="module")
def sharp_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny untrained model with its head set to tell the upright picture (P(laughter) = sigmoid(2), 0.88)
    from its sideways version (0.12): orientation moves the answer by far more than 0.02, and pictures in
    between land between, away from the saturated ends where every difference would look small."""
    import torch

    from kernel_laugh.modeling import load_model, save_model
    from kernel_laugh.transforms import eval_transform

    model = load_model(tiny_model_dir).eval()
    tf = eval_transform(model.pretrained_cfg)
    with torch.no_grad():
        x = torch.stack([tf(picture()), tf(picture().transpose(Image.Transpose.ROTATE_90))])  # (2, 3, H, W)
        feats = model.forward_head(model.forward_features(x), pre_logits=True)  # (2, C)
        d = feats[0] - feats[1]
        w = d * (4.0 / float(d @ d))  # w·(f_up - f_side) = 4: logits +2 and -2 around the midpoint
        head = model.get_classifier()
        head.weight.zero_()
        head.bias.zero_()
        head.weight[1] = w
        head.bias[1] = -float(w @ (feats[0] + feats[1]) / 2)
    return save_model(model, tmp_path_factory.mktemp("sharp") / "model")


def test_every_kind_of_image_reads_as_displayed(tmp_path):
    images = tricky_images(tmp_path)
    for name, (path, expected, tolerance) in images.items():
        got = np.asarray(read_image(path))
        assert got.shape == expected.shape and got.dtype == np.uint8, name
        assert np.abs(got.astype(int) - expected).mean() <= tolerance + 0.5, name
    stored = np.asarray(Image.open(images["exif6"][0]).convert("RGB"))
    assert stored.shape != images["upright"][1].shape  # the test has teeth: the file itself is sideways
    # what plain .convert() (and so pipeline) makes of 16-bit grey: white where the picture is not black
    assert np.asarray(Image.open(images["grey16"][0]).convert("RGB")).mean() > 200 > np.asarray(read_image(images["grey16"][0])).mean()


def test_same_probabilities_through_predict_evaluate_and_the_space(sharp_model, tmp_path, capsys):
    """Every tricky image: predict, evaluate's dataset path and the Space's classify agree within 0.02 (fp32),
    and every picture that displays like the upright one gets the upright one's probabilities."""
    from kernel_laugh.data import prepare_data
    from kernel_laugh.demo_service import DemoApp
    from kernel_laugh.evaluation import predict_probs
    from kernel_laugh.inference import Predictor
    from kernel_laugh.modeling import label_names_of, load_model

    images = tricky_images(tmp_path / "imgs")
    names = list(images)
    paths = [str(images[n][0]) for n in names]

    assert main(["predict", str(sharp_model), *paths, "--json", "--precision", "fp32"]) == 0
    by_predict = [{p["label"]: p["score"] for p in r["predictions"]}["laughter"] for r in json.loads(capsys.readouterr().out)]

    table = tmp_path / "imgs" / "table.csv"  # relative paths, two labels so that it is a dataset
    table.write_text("file_name,label\r\n" + "".join(f"{Path(p).name},{'ab'[i % 2]}\r\n" for i, p in enumerate(paths)),
                     encoding="utf-8-sig")
    data = prepare_data(DataConfig(dataset=str(table), validation_fraction=0.0, test_fraction=0.0))
    ds = data.splits["train"]
    assert len(ds) == len(paths) and data.skipped == []
    model = load_model(sharp_model)
    probs, _ = predict_probs(model, ds, model.pretrained_cfg, device="cpu")
    by_evaluate = probs[:, label_names_of(model).index("laughter")].tolist()

    app = DemoApp(str(sharp_model), workdir=tmp_path / "space")
    app.predictor = Predictor(str(sharp_model), precision="fp32")  # the comparison is in fp32 on every machine
    labels, _ = app.classify_batch(paths)
    by_space = [lab["laughter"] for lab in labels]

    for n, a, b, c in zip(names, by_predict, by_evaluate, by_space):
        assert abs(a - b) <= 0.02 and abs(a - c) <= 0.02, (n, a, b, c)
    upright = by_predict[names.index("upright")]
    assert upright == pytest.approx(0.881, abs=0.01)  # sigmoid(2): the head was set on this picture
    same_pixels = [n for n, (_, _, tol) in images.items() if n.startswith("exif") or n in ("webp", "rgb16", "phone-jpeg",
                                                                                          "gif-first-frame")]
    for n in same_pixels:
        i = names.index(n)
        assert max(abs(by_predict[i] - upright), abs(by_evaluate[i] - upright), abs(by_space[i] - upright)) <= 0.02, n
    # and the model does tell pictures apart (so 0.02 means something): the sideways file, read as stored, does not
    sideways = Image.open(images["exif6"][0]).convert("RGB")
    stored_p = Predictor(str(sharp_model), precision="fp32")([sideways])[0]
    assert {p["label"]: p["score"] for p in stored_p}["laughter"] < 0.5 < upright


def make_class_folders(root: Path, outside: Path) -> set[str]:
    """An ImageFolder as notebooks and Macs leave them; returns the files that are data (relative to root)."""
    up = picture()
    expected = set()
    for label in ("0_non-laughter", "1_laughter"):
        (root / label).mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.asarray(up) // (i + 1)).save(root / "0_non-laughter" / f"n{i}.png")
        expected.add(f"0_non-laughter/n{i}.png")
    nb = root / "0_non-laughter" / ".ipynb_checkpoints"
    nb.mkdir()
    up.save(nb / "n0-checkpoint.png")  # a copy of n0: would leak into another split
    (root / "0_non-laughter" / "._n0.png").write_bytes(b"\0\5\26\7" + b"\0" * 60)  # AppleDouble
    (root / "0_non-laughter" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 30)
    (root / "0_non-laughter" / "notes.txt").write_text("filmed on Tuesday")
    (root / "__MACOSX").mkdir()
    up.save(root / "__MACOSX" / "n0.png")
    for clip in ("clipA", "clipB"):  # clips live elsewhere; the class folder links to them
        (outside / clip).mkdir(parents=True)
        for t in range(3):
            Image.fromarray(255 - np.asarray(up) // (t + 1)).save(outside / clip / f"f{t}.png")
            expected.add(f"1_laughter/{clip}/f{t}.png")
        (root / "1_laughter" / clip).symlink_to(outside / clip, target_is_directory=True)
    (outside / "clipB" / "again").symlink_to(outside / "clipB", target_is_directory=True)  # a symlink cycle
    png_header(root / "1_laughter" / "huge.png", 14000, 13000)  # valid header, above Pillow's pixel limit
    return expected


def test_dataset_folder_hidden_entries_symlinked_clips_and_what_was_left_out(tmp_path):
    from kernel_laugh.data import prepare_data

    root = tmp_path / "frames"
    expected = make_class_folders(root, tmp_path / "clips")
    (root / "metadata.csv").write_bytes(("\ufefffile_name,session\r\n" + "".join(
        f"{f},s{i % 3}\r\n" for i, f in enumerate(sorted(expected)))).encode("utf-8"))  # BOM + CRLF: a spreadsheet's
    data = prepare_data(DataConfig(dataset=str(root), validation_fraction=0.2, test_fraction=0.2,
                                   max_corrupt_fraction=0.2))
    per_split = {k: list(v["file_name"]) for k, v in data.splits.items()}
    found = [f for files in per_split.values() for f in files]
    assert sorted(found) == sorted(expected)  # exactly the data files, each once: no file in two splits
    assert len(data.skipped) == 1 and "huge.png" in data.skipped[0] and "too large" in data.skipped[0]
    assert data.left_out == {"hidden": 3, "not an image (.txt)": 1, "reached twice through links": 1, "unreadable": 1}
    assert "left out of the source: " in data.description and "3 hidden" in data.description  # the card shows it
    sessions = {f: s for k, v in data.splits.items() for f, s in zip(v["file_name"], v["session"])}
    assert sessions[sorted(expected)[1]] == "s1"  # metadata.csv with a byte-order mark and CRLF is merged


def test_too_many_bad_files_still_stop_the_run(tmp_path):
    from kernel_laugh.data import prepare_data

    root = tmp_path / "frames"
    make_class_folders(root, tmp_path / "clips")
    with pytest.raises(KernelLaughError, match="1 of 11 images are unreadable"):
        prepare_data(DataConfig(dataset=str(root), max_corrupt_fraction=0.05))


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_tables_with_relative_image_paths_work_from_any_directory(kind, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kernel_laugh.data import prepare_data

    data_dir = tmp_path / "data"
    (data_dir / "imgs").mkdir(parents=True)
    rows = []
    for i in range(8):
        Image.fromarray(np.asarray(picture()) // (i + 1)).save(data_dir / "imgs" / f"{i}.png")
        rows.append((f"imgs/{i}.png", "ab"[i % 2]))
    if kind == "csv":
        table = data_dir / "table.csv"
        table.write_bytes(("\ufeffimage,label\r\n" + "".join(f"{p},{lab}\r\n" for p, lab in rows)).encode())
    else:
        table = data_dir / "table.parquet"
        pq.write_table(pa.table({"image": pa.array([p for p, _ in rows], pa.large_string()),
                                 "label": [lab for _, lab in rows]}), table)
    for cwd in (data_dir, tmp_path / "elsewhere"):  # the same relative table from two working directories
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        data = prepare_data(DataConfig(dataset=str(Path("..") / "data" / table.name) if cwd != data_dir else table.name,
                                       validation_fraction=0.25, test_fraction=0.25))
        images = [im for split in data.splits.values() for im in split["image"]]
        assert len(images) == 8 and all(im.size == (48, 36) for im in images)


def test_pixel_limit_is_one_line_naming_the_file(tiny_model_dir, tmp_path, capsys):
    bomb = png_header(tmp_path / "huge.png", 14000, 13000)
    assert main(["predict", str(tiny_model_dir), str(bomb)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "huge.png" in err and "too large" in err


def test_faces_on_a_20000x8_strip_find_no_face(tiny_model_dir, tmp_path, capsys):
    pytest.importorskip("cv2", reason="the faces extra")
    strip = tmp_path / "strip.png"
    Image.fromarray(np.full((8, 20000, 3), 128, np.uint8)).save(strip)
    assert main(["predict", str(tiny_model_dir), str(strip), "--faces"]) == 0
    assert capsys.readouterr().out.strip() == f"{strip}: no face found"


def _damaged(tiny: Path, root: Path) -> dict[str, tuple[Path, str]]:
    import shutil

    out = {}
    for name in ("no-weights", "truncated", "mismatch", "no-config", "bad-json"):
        shutil.copytree(tiny, root / name)
        out[name] = root / name
    (root / "no-weights" / "model.safetensors").unlink()
    data = (root / "truncated" / "model.safetensors").read_bytes()
    (root / "truncated" / "model.safetensors").write_bytes(data[: len(data) // 2])
    config = json.loads((root / "mismatch" / "config.json").read_text())
    config |= {"num_classes": 3, "label_names": ["a", "b", "c"]}
    (root / "mismatch" / "config.json").write_text(json.dumps(config))
    (root / "no-config" / "config.json").unlink()
    (root / "bad-json" / "config.json").write_text('{"architecture": "resnet18",')
    return {"no-weights": (out["no-weights"], "weights are missing"), "truncated": (out["truncated"], "truncated or damaged"),
            "mismatch": (out["mismatch"], "does not match config.json"), "no-config": (out["no-config"], "not a model folder"),
            "bad-json": (out["bad-json"], "not valid JSON")}


def test_missing_or_damaged_model_folders_give_one_line(tiny_model_dir, tmp_path, capsys, monkeypatch):
    image = tmp_path / "img.png"
    picture().save(image)
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "runs/nothere", str(image)]) == 1  # shaped like a Hub id, but runs/ is here
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: runs/nothere: no such model folder") and "\n" not in err and "Hub" not in err
    for name, (folder, message) in _damaged(tiny_model_dir, tmp_path / "runs").items():
        for argv in (["predict", str(folder), str(image)], ["explain", str(folder), str(image), "--output", "x.png"],
                     ["evaluate", str(folder), "--dataset", "sample"], ["timeline", str(folder), "clip.mp4", "--output", "t"]):
            assert main(argv) == 1, (name, argv[0])
            err = capsys.readouterr().err.strip()
            assert "\n" not in err and str(folder) in err and message in err, (name, argv[0], err)


def _write_clip(path: Path, frames: list[np.ndarray], rotation: int = 0, hflip: bool = False) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=Fraction(4))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if "libx264" in av.codecs_available:
            stream.options = {"crf": "10"}
        if rotation or hflip:
            stream.set_display_rotation(rotation, hflip=hflip)  # counter-clockwise, as a phone writes it
        for a in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_rotated_clips_give_the_upright_frames(tiny_model_dir, tmp_path):
    pytest.importorskip("av", reason="the video extra")
    from kernel_laugh.inference import Predictor
    from kernel_laugh.video import iter_frames, predict_timeline, probe

    upright = [np.asarray(picture(64, 48)) // (1 + i % 3) for i in range(8)]  # 2 s at 4 fps, 64x48 displayed
    base = _write_clip(tmp_path / "upright.mp4", upright)
    want = [np.asarray(im, dtype=int) for _, im in iter_frames(base, 4)]
    want_crop = [np.asarray(im, dtype=int) for _, im in iter_frames(base, 4, crop=(4, 2, 30, 20))]
    predictor = Predictor(str(tiny_model_dir), precision="fp32")
    want_timeline = predict_timeline(predictor, base, fps=4, progress=False)
    # coded frames such that the display matrix turns them upright: rotate clockwise what is shown counter-clockwise
    cases = {(90, False): lambda a: np.rot90(a, -1), (180, False): lambda a: np.rot90(a, 2),
             (270, False): lambda a: np.rot90(a, -3), (90, True): lambda a: a.transpose(1, 0, 2)[::-1, ::-1]}
    for (rotation, hflip), store in cases.items():
        clip = _write_clip(tmp_path / f"r{rotation}{'m' if hflip else ''}.mp4", [store(a) for a in upright], rotation, hflip)
        assert (probe(clip).width, probe(clip).height) == (64, 48), (rotation, hflip)  # the displayed size
        got = [np.asarray(im, dtype=int) for _, im in iter_frames(clip, 4)]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and np.abs(g - w).mean() < 3, (rotation, hflip, np.abs(g - w).mean())
        crops = [np.asarray(im, dtype=int) for _, im in iter_frames(clip, 4, crop=(4, 2, 30, 20))]
        assert all(np.abs(g - w).mean() < 4 for g, w in zip(crops, want_crop)), (rotation, hflip)
        timeline = predict_timeline(predictor, clip, fps=4, progress=False)
        assert all(abs(a["laughter"] - b["laughter"]) <= 0.02 for a, b in zip(timeline, want_timeline))


def test_readme_evaluate_on_other_data_without_the_group_column(tiny_model_dir, tmp_path, monkeypatch):
    """README: `kernel-laugh evaluate runs/brain --dataset other-frames/ --split all --output-dir eval-other/`
    with a model trained with --group-column session, on data that has no session column."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, tmp_path / "runs" / "brain")
    (tmp_path / "runs" / "brain" / "training_args.json").write_text(json.dumps(
        {"DataConfig": {"dataset": "sample", "group_column": "session", "split_seed": 42}}))
    for label in ("0_non-laughter", "1_laughter"):
        (tmp_path / "other-frames" / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.asarray(picture()) // (i + 1 + 4 * label.startswith("1"))).save(
                tmp_path / "other-frames" / label / f"{i}.png")
    assert main(["evaluate", "runs/brain", "--dataset", "other-frames/", "--split", "all", "--output-dir", "eval-other/"]) == 0
    results = json.loads((tmp_path / "eval-other" / "eval_results.json").read_text())
    assert results["num_samples"] == 8 and "could not be grouped" in results["interval_grouping"]
    assert "could not be grouped" in (tmp_path / "eval-other" / "eval" / "report.md").read_text()
    # a split that would have to be carved from the data still needs the column
    assert main(["evaluate", "runs/brain", "--dataset", "other-frames/", "--split", "test"]) == 1


def test_spreadsheet_csvs_segments_and_fer2013(tmp_path):
    """CSVs saved by spreadsheet programs (byte-order mark, CRLF): segments for `frames`, FER2013's pixel table."""
    from kernel_laugh.data import FER2013_LABELS, prepare_data
    from kernel_laugh.video import load_segments

    seg = tmp_path / "labels.csv"
    seg.write_bytes("\ufeffstart,end,label,video\r\n0:01,0:03.5,laughter,a.mp4\r\n4,6,non-laughter,\r\n".encode())
    got = [(s.start, s.end, s.label, s.video) for s in load_segments(seg)]
    assert got == [(1.0, 3.5, "laughter", "a.mp4"), (4.0, 6.0, "non-laughter", None)]
    fer = tmp_path / "fer.csv"
    rows = [f"{e},{' '.join(str(40 * e + i) for i in range(4))},{u}\r\n"
            for u in ("Training", "Training", "PublicTest", "PrivateTest") for e in (3, 6)]
    fer.write_bytes(("\ufeffemotion,pixels,Usage\r\n" + "".join(rows)).encode())
    data = prepare_data(DataConfig(dataset=str(fer)))
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 4, "validation": 2, "test": 2}
    assert data.label_names == FER2013_LABELS
    assert np.asarray(data.splits["train"][1]["image"]).tolist() == [[240, 241], [242, 243]]  # emotion 6: 40*6 + i
