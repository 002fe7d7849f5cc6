"""The Space with a face-expression model, served for real: every face (``/classify``), emotion over time
(``/emotions``), the live tab fed by a fake camera in headless Chromium, and no live tab for brain models.
The faces are real photos: scikit-image's astronaut and its mirror image (conftest's ``two_face_photo``)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the Space needs the 'space' extra (gradio)")
pytest.importorskip("cv2", reason="face detection needs the 'faces' extra (OpenCV)")
from gradio_client import handle_file
from PIL import Image
from test_space import ARTIFACTS, _chrome, serve

from kernel_laugh.demo import build_demo
from kernel_laugh.demo_service import DemoApp
from kernel_laugh.emotion_timeline import NO_FACE

EMOTIONS = ["angry", "happy", "neutral", "sad"]  # the labels of conftest's face_model_dir


@pytest.fixture(scope="module")
def served_faces(face_model_dir, tmp_path_factory):
    """The app for an (untrained) face-expression model on a free port; closed afterwards."""
    with serve(DemoApp(face_model_dir, workdir=tmp_path_factory.mktemp("space-faces"))) as (_, url, client):
        yield url, client


@pytest.fixture(scope="module")
def photo_file(two_face_photo, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "two-astronauts.png"
    two_face_photo.save(path)
    return path


def test_classify_returns_every_face_with_its_box(served_faces, photo_file):
    _, client = served_faces
    label, decision, image, table = client.predict(handle_file(str(photo_file)), True, api_name="/classify")
    assert table["headers"] == ["face", "x", "y", "width", "height", "expression", "score", *EMOTIONS]
    rows = [dict(zip(table["headers"], r)) for r in table["data"]]
    assert [r["face"] for r in rows] == [1, 2]
    assert 70 < rows[0]["x"] < 120 and 390 < rows[1]["x"] < 480 and all(160 < r["y"] < 210 for r in rows)
    for r in rows:
        assert r["expression"] == max(EMOTIONS, key=lambda e: r[e]) and r["score"] == pytest.approx(r[r["expression"]])
        assert sum(r[e] for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
    # the label is the largest face's; the text names every face
    largest = max(rows, key=lambda r: r["width"] * r["height"])
    assert label["label"] == largest["expression"]
    assert "2 face(s)" in decision and decision.startswith(f"Face {largest['face']} (the largest): **Decision: {largest['expression']}**")
    with Image.open(image) as drawn:
        assert drawn.size == (640, 480)
        pixels = np.asarray(drawn.convert("RGB")).astype(int)
    original = np.asarray(Image.open(photo_file).convert("RGB")).astype(int)
    for r in rows:  # a box outline on each face's left edge
        assert np.abs(pixels[r["y"] + r["height"] // 2, r["x"]] - original[r["y"] + r["height"] // 2, r["x"]]).sum() > 60

    # without face detection the whole picture is classified: no boxes, no rows
    label, decision, image, table = client.predict(handle_file(str(photo_file)), False, api_name="/classify")
    assert {c["label"] for c in label["confidences"]} == set(EMOTIONS)
    assert image is None and not any(table["data"]) and "face(s)" not in decision


def test_emotions_over_time_of_the_main_face(served_faces, two_face_photo, tmp_path):
    from kernel_laugh.video import write_video

    _, client = served_faces
    blank = Image.new("RGB", (640, 480), (128, 128, 128))
    frames = [two_face_photo] * 6 + [blank] * 2 + [two_face_photo] * 2  # 3 s faces, 1 s none, 1 s faces at 2 fps
    clip = write_video(tmp_path / "faces.mp4", frames, fps=2)
    plot, shares_plot, shares, files, summary = client.predict(handle_file(str(clip)), 2.0, api_name="/emotions")
    emotions_csv = next(Path(f) for f in files if Path(f).name == "emotions.csv")
    with emotions_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["time"]) for r in rows] == [i / 2 for i in range(10)]
    assert [r["expression"] == NO_FACE for r in rows] == [False] * 6 + [True] * 2 + [False] * 2
    assert all(r["expression"] == max(EMOTIONS, key=lambda e: float(r[e])) for r in rows if r["expression"] != NO_FACE)
    shares_by = {row[0]: row[1] for row in shares["data"]}
    assert shares_by[NO_FACE] == pytest.approx(0.2) and sum(shares_by.values()) == pytest.approx(1.0)
    assert Path(plot).is_file() and Path(shares_plot).is_file() and "a face in 8" in summary


def test_brain_models_have_no_live_tab(tiny_model_dir, tmp_path):
    demo = build_demo(DemoApp(tiny_model_dir, workdir=tmp_path))
    endpoints = demo.get_api_info()["named_endpoints"]
    assert "/classify" in endpoints and "/live" not in endpoints and "/emotions" not in endpoints
    assert [o["component"] for o in endpoints["/classify"]["returns"]] == ["Label", "Markdown"]  # unchanged


def write_y4m(path: Path, frames: list[Image.Image], fps: int = 10) -> Path:
    """A raw YUV 4:2:0 clip (``.y4m``): what Chromium's fake camera plays (``--use-file-for-fake-video-capture``)."""
    width, height = frames[0].size
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            rgb = np.asarray(frame.convert("RGB"), dtype=np.float32)  # (H, W, 3)
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 0.299 * r + 0.587 * g + 0.114 * b  # full-range BT.601 (JPEG's), as C420jpeg says
            chroma = [(b - y) * 0.564 + 128, (r - y) * 0.713 + 128]  # U, V
            fh.write(b"FRAME\n" + np.clip(y.round(), 0, 255).astype(np.uint8).tobytes())
            for c in chroma:  # 2x2 averages: (H/2, W/2)
                half = c.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
                fh.write(np.clip(half.round(), 0, 255).astype(np.uint8).tobytes())
    return path


def test_browser_boxes_every_face_and_runs_live_on_a_fake_camera(served_faces, photo_file, two_face_photo, tmp_path):
    """Headless Chromium: the image tab shows the boxed picture and the faces table; the live tab, fed a fake
    camera playing the same two faces (a generated .y4m clip), gets annotated frames back, again and again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = served_faces
    camera = write_y4m(tmp_path / "camera.y4m", [two_face_photo] * 10)
    browser = _chrome("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={camera}")
    wait = WebDriverWait(browser, 90)
    ARTIFACTS.mkdir(exist_ok=True)

    def find(selector: str):
        return browser.find_element(By.CSS_SELECTOR, selector)

    try:
        browser.get(url)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#image-input input[type=file]"))
        find("#image-input input[type=file]").send_keys(str(photo_file))
        find("#classify-button").click()
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#faces-image img"))
        wait.until(lambda b: "2 face(s)" in b.find_element(By.CSS_SELECTOR, "#decision").text)
        table = find("#faces-table").text
        assert "expression" in table and all(e in table for e in ("1", "2"))
        browser.save_screenshot(str(ARTIFACTS / "space-every-face.png"))

        next(t for t in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if t.text == "Live").click()
        grant = "#live-input [title='grant webcam access'] button"
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, grant))
        find(grant).click()
        record = "#live-input button[aria-label='capture photo']"
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, record))
        find(record).click()
        # annotated frames come back: both faces of the camera's picture, labelled, and the count goes up
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#live-output img"))
        wait.until(lambda b: "2:" in b.find_element(By.CSS_SELECTOR, "#live-status").text)
        first = find("#live-status").text
        time.sleep(3)
        later = find("#live-status").text
        processed = [int(t.split(" frames processed")[0].split()[-1]) for t in (first, later)]
        assert processed[1] > processed[0] >= 1, (first, later)
        assert any(e in later for e in EMOTIONS)
        browser.save_screenshot(str(ARTIFACTS / "space-live-tab.png"))
    finally:
        browser.quit()


def test_a_bad_upload_gets_its_one_line_reason(served_faces, tmp_path):
    _, client = served_faces
    notes = tmp_path / "party.jpg"
    notes.write_text("not a photo")
    with pytest.raises(Exception, match="not an image file"):
        client.predict(handle_file(str(notes)), True, api_name="/classify")
