"""Every face, emotion over time and the live stream's logic, without a server: ``face_expressions``,
``emotion_timeline`` and ``live_stream`` on real face photos (scikit-image's astronaut, see conftest)."""

from __future__ import annotations

import copy
import csv
import math
import threading
import time

import numpy as np
import pytest
from PIL import Image

from kernel_laugh.emotion_timeline import (
    NO_FACE,
    emotion_shares,
    long_rows,
    share_rows,
    track_emotions,
    write_emotion_timeline,
)
from kernel_laugh.face_expressions import (
    FaceExpression,
    draw_expressions,
    expression_rows,
    label_colour,
    main_face,
    read_expressions,
)
from kernel_laugh.faces import HaarFaceDetector
from kernel_laugh.live_stream import LiveSession

LABELS = ["angry", "happy", "neutral"]


def by_side(crops: list[Image.Image]) -> list[list[dict]]:
    """A stand-in classifier whose answer depends on the crop: crops 150 px or wider are "happy",
    others "neutral" (so tests can tell which crop went where)."""
    out = []
    for c in crops:
        top = "happy" if c.width >= 150 else "neutral"
        out.append([{"label": lab, "score": 0.8 if lab == top else 0.1} for lab in LABELS])
    return out


@pytest.fixture(scope="module")
def detector():
    pytest.importorskip("cv2", reason="face detection needs the 'faces' extra (OpenCV)")
    return HaarFaceDetector()


def test_every_face_gets_a_result_a_row_and_a_box(two_face_photo, detector):
    faces = read_expressions(two_face_photo, detector, by_side, LABELS)
    assert len(faces) == 2
    (x0, y0, w0, h0), (x1, _, w1, h1) = (f.box for f in faces)
    assert 70 < x0 < 120 and 390 < x1 < 480 and 160 < y0 < 210 and 70 < w0 < 110  # the two astronauts, left to right
    assert all(f.label in ("happy", "neutral") and f.score == pytest.approx(0.8) for f in faces)
    assert list(faces[0].scores) == LABELS
    rows = expression_rows(faces)
    assert [r["face"] for r in rows] == [1, 2] and [r["x"] for r in rows] == [x0, x1]
    assert set(rows[0]) == {"face", "x", "y", "width", "height", "expression", "score", *LABELS}
    assert main_face(faces).area == max(w0 * h0, w1 * h1)

    drawn = np.asarray(draw_expressions(two_face_photo, faces, LABELS)).astype(int)
    original = np.asarray(two_face_photo).astype(int)
    assert drawn.shape == original.shape
    for f in faces:  # each box's outline is drawn in its expression's colour; the face inside is untouched
        x, y, w, h = f.box
        assert tuple(drawn[y + h // 2, x]) == label_colour(f.label, LABELS)
        assert np.array_equal(drawn[y + h // 2, x + w // 2], original[y + h // 2, x + w // 2])
    assert (drawn != original).any(axis=2).mean() < 0.1  # boxes and captions, not a repaint


def test_no_face_gives_no_result(detector):
    assert read_expressions(Image.new("RGB", (200, 150), (40, 90, 160)), detector, by_side, LABELS) == []


def test_emotions_over_time_shares_and_files(two_face_photo, detector, tmp_path):
    blank = Image.new("RGB", (640, 480), (128, 128, 128))
    left_only = two_face_photo.crop((0, 120, 320, 360)).resize((640, 480))  # one face, twice as large: "happy"
    frames = [(0.0, two_face_photo), (0.5, left_only), (1.0, left_only), (1.5, blank)]
    calls = []

    def classify(crops):
        calls.append(len(crops))
        return by_side(crops)

    rows = track_emotions(frames, detector, classify, LABELS, batch_size=16)
    assert calls == [3]  # the main faces of all frames in one forward pass (the blank frame has none)
    assert [r["time"] for r in rows] == [0.0, 0.5, 1.0, 1.5]
    assert [r["expression"] for r in rows] == ["neutral", "happy", "happy", NO_FACE]
    assert math.isnan(rows[3]["happy"]) and rows[3]["x"] is None
    shares = emotion_shares(rows, LABELS)
    assert shares == {"angry": 0.0, "happy": 0.5, "neutral": 0.25, NO_FACE: 0.25}
    assert share_rows(rows, LABELS)[1] == {"emotion": "happy", "share": 0.5, "seconds": 1.0}  # 2 frames x 0.5 s
    assert len(long_rows(rows, LABELS)) == 3 * len(LABELS)  # the no-face frame is a gap, not zeros

    paths = write_emotion_timeline(rows, LABELS, tmp_path)
    with paths["csv"].open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["time", "x", "y", "width", "height", *LABELS, "expression"]
    assert [r["expression"] for r in table] == ["neutral", "happy", "happy", NO_FACE]
    assert table[3]["happy"] == "" and float(table[1]["happy"]) == pytest.approx(0.8)
    with paths["shares"].open() as fh:
        assert {r["emotion"]: float(r["share"]) for r in csv.DictReader(fh)} == shares
    for name in ("plot", "frequency"):
        with Image.open(paths[name]) as im:
            assert im.width > 400


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def analyse_with(faces, gate: threading.Event | None = None, started: threading.Event | None = None):
    def analyse(frame):
        if started:
            started.set()
        if gate:
            assert gate.wait(10)
        return faces, frame.copy()
    return analyse


def test_live_session_drops_frames_that_arrive_while_one_is_processed():
    session = LiveSession(LABELS, clock=Clock())
    face = FaceExpression((10, 10, 50, 50), {"angry": 0.1, "happy": 0.7, "neutral": 0.2})
    gate, started = threading.Event(), threading.Event()
    frame = Image.new("RGB", (64, 48))
    results = []
    slow = threading.Thread(target=lambda: results.append(session.process(frame, analyse_with([face], gate, started))))
    slow.start()
    assert started.wait(10)
    # while frame 1 is being analysed, three more arrive: each is dropped at once, none waits in a queue
    assert [session.process(frame, analyse_with([face])) for _ in range(3)] == [None, None, None]
    gate.set()
    slow.join(10)
    assert results[0] is not None and results[0].faces == [face]
    assert (session.processed, session.dropped, len(session.history)) == (1, 3, 1)
    # once it is done, the next frame is processed again
    assert session.process(frame, analyse_with([face])) is not None and session.processed == 2


def test_live_history_is_per_visitor_and_rolls():
    clock = Clock()
    template = LiveSession(LABELS, history_seconds=10.0, clock=clock)
    alice, bob = copy.deepcopy(template), copy.deepcopy(template)  # what gr.State does for each new visitor
    assert alice is not bob and alice.history is not bob.history
    happy = FaceExpression((0, 0, 40, 40), {"angry": 0.0, "happy": 0.9, "neutral": 0.1})
    sad = FaceExpression((0, 0, 40, 40), {"angry": 0.6, "happy": 0.1, "neutral": 0.3})
    frame = Image.new("RGB", (32, 32))
    for _ in range(30):  # 15 s at 2 frames/s for Alice; Bob joins 2 s in, with a frame every 3 s
        alice.process(frame, analyse_with([happy]))
        if clock.now % 3 == 0:
            bob.process(frame, analyse_with([sad]))
        clock.now += 0.5
    out = alice.process(frame, analyse_with([]))
    assert out.history[-1]["expression"] == NO_FACE and out.history[-1]["time"] == pytest.approx(15.0)
    assert out.history[0]["time"] == pytest.approx(5.0)  # only the last 10 s are kept
    assert {r["expression"] for r in out.history[:-1]} == {"happy"}
    assert bob.history and {r["expression"] for r in bob.history} == {"angry"}
    assert bob.started == 102.0 and [r["time"] for r in bob.history] == [3.0, 6.0, 9.0, 12.0]  # his own clock, window
    assert (template.processed, len(template.history)) == (0, 0)


def test_face_service_on_a_real_model(face_model_dir, two_face_photo, tmp_path):
    """The app service's face side with a real (untrained) model: every face in the table, the main face's
    emotions over time, a live frame per session."""
    from kernel_laugh.face_service import FaceService
    from kernel_laugh.inference import Predictor

    pytest.importorskip("cv2", reason="face detection needs the 'faces' extra (OpenCV)")
    predictor = Predictor(face_model_dir)
    service = FaceService(predictor, predictor.label_names)
    faces, annotated, table, summary = service.image_faces(two_face_photo)
    assert len(faces) == 2 and annotated.size == two_face_photo.size
    assert list(table["face"]) == [1, 2] and list(table.columns[-4:]) == list(predictor.label_names)
    assert table[list(predictor.label_names)].sum(axis=1).round(3).tolist() == [1.0, 1.0]
    assert summary.startswith("2 face(s)")

    _, _, shares, files, text = service.emotion_video([(0.0, two_face_photo), (1.0, two_face_photo)], tmp_path)
    assert shares["share"].sum() == pytest.approx(1.0) and shares.iloc[-1]["emotion"] == NO_FACE
    assert [p.rsplit("/", 1)[1] for p in files] == ["emotions.csv", "emotion_shares.csv"]
    assert "a face in 2" in text

    session = service.new_session()
    out = service.live_frame(session, two_face_photo)  # the live detector (faster setting) finds both faces too
    assert len(out.faces) == 2 and len(service.history_table(out.history)) == len(predictor.label_names)


def test_live_crops_of_visitors_arriving_together_share_one_pass_and_get_their_own_results():
    """Four visitors' frames arriving while a pass runs: their crops go through the model together, and each
    visitor gets exactly its own crops' results, in order."""
    from kernel_laugh.face_service import shared_crops

    passes: list[int] = []
    first_started, release = threading.Event(), threading.Event()

    def classify(crops):  # each "crop" is its name; the result echoes it so a mix-up would show
        passes.append(len(crops))
        if len(passes) == 1:
            first_started.set()
            release.wait(5)  # hold the first pass so the other visitors queue up behind it
        return [[{"label": c, "score": 1.0}] for c in crops]

    shared = shared_crops(classify)
    results: dict[int, list] = {}
    callers = [threading.Thread(target=lambda i=i: results.__setitem__(i, shared([f"v{i}-a", f"v{i}-b"])))
               for i in range(4)]
    callers[0].start()
    assert first_started.wait(5)
    for t in callers[1:]:
        t.start()
    time.sleep(0.3)  # the three others are now waiting for the running pass
    release.set()
    for t in callers:
        t.join(5)
    assert passes == [2, 6]  # visitor 0 alone, then the other three visitors' 6 crops in one pass
    assert {i: [r[0]["label"] for r in res] for i, res in results.items()} == {
        i: [f"v{i}-a", f"v{i}-b"] for i in range(4)}
    assert shared([]) == []
