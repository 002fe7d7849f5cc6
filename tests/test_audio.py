"""The audio expert: the one audio reader, the SYNTHETIC sound sample, AST training through the shared loop,
predict / timeline, the zero-shot AudioSet mapping, and bad input. Offline: models are tiny and built here."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.audio import read_audio, require_audio, write_wav

SR = 16000


def _encode(path: Path, x: np.ndarray, rate: int, codec: str, layout: str = "mono") -> Path:
    """Write ``x`` (mono float) with PyAV in ``codec``, copied to every channel of ``layout``."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate, layout=layout)
        channels = s.codec_context.channels
        data = np.ascontiguousarray(np.tile(x[None].astype(np.float32), (channels, 1)))
        step = s.codec_context.frame_size or 1024
        for i in range(0, data.shape[1], step):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, i:i + step]), format="fltp", layout=layout)
            f.sample_rate, f.pts = rate, i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def _tone(rate: int, seconds: float, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spec.argmax()])


# ---- the reader ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, codec, rate, layout", [
    ("a.wav", "pcm_s16le", 8000, "mono"),
    ("a.flac", "flac", 96000, "stereo"),
    ("a.mp3", "libmp3lame", 44100, "stereo"),
    ("a.ogg", "libopus", 48000, "stereo"),
    ("a.m4a", "aac", 22050, "5.1"),
])
def test_reader_decodes_formats_to_mono_at_the_model_rate(tmp_path, name, codec, rate, layout):
    import av

    if codec not in av.codecs_available:
        pytest.fail(f"PyAV here lacks the {codec} encoder needed to make the test file")
    path = _encode(tmp_path / name, _tone(rate, 2.0, amp=0.1), rate, codec, layout)
    track = read_audio(path, SR)
    assert track.sampling_rate == SR and track.samples.dtype == np.float32 and track.samples.ndim == 1
    assert track.source_rate == rate and track.channels == {"mono": 1, "stereo": 2, "5.1": 6}[layout]
    assert abs(track.duration - 2.0) < 0.1  # codec priming/padding is at most a frame or two
    assert abs(_peak_hz(track.samples[SR // 4: SR + SR // 4], SR) - 440) < 5  # resampled, not sped up
    assert 0.02 < np.abs(track.samples).max() <= 1.0


def test_reader_aligns_a_soundtrack_with_the_video_and_reports_missing_audio(tmp_path):
    from kernel_laugh.audio.sample import write_soundtrack_video

    x = np.zeros(SR * 4, np.float32)
    x[SR * 2: SR * 2 + 160] = 0.9  # a click at exactly 2.0 s
    video = write_soundtrack_video(tmp_path / "v.mp4", x)
    track = read_audio(video, SR)
    assert abs(np.argmax(np.abs(track.samples)) / SR - 2.0) < 0.02
    silent_video = write_soundtrack_video(tmp_path / "mute.mp4", x, with_audio=False)
    assert read_audio(silent_video, SR) is None  # modality missing, not an error
    with pytest.raises(KernelLaughError, match="mute.mp4: has no audio stream"):
        require_audio(silent_video, SR)


def test_reader_bad_files_are_one_line_errors_naming_the_file(tmp_path):
    good = write_wav(tmp_path / "good.wav", _tone(SR, 2.0), SR)
    data = good.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 3])
    (tmp_path / "junk.mp3").write_bytes(b"this is not audio " * 200)
    pcm = (np.zeros(SR) * 0).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 0x3039, 1, SR, 2 * SR, 2, 16)  # a WAV format tag FFmpeg has no decoder for
    (tmp_path / "odd.wav").write_bytes(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<I", 16)
                                       + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm)
    for name, why in [("cut.wav", "truncated"), ("junk.mp3", "not a readable"), ("odd.wav", "codec is unknown"),
                      ("missing.wav", "no such")]:
        with pytest.raises(KernelLaughError) as err:
            read_audio(tmp_path / name, SR)
        assert name in str(err.value) and why in str(err.value) and "\n" not in str(err.value)


# ---- features and the sample ---------------------------------------------------------------------------------

def test_track_features_equal_the_feature_extractor_on_each_window():
    from kernel_laugh.audio.features import log_mel_frames, make_feature_extractor, window_features, window_starts

    fe = make_feature_extractor(SR, 1.0, 64)
    x = np.random.default_rng(0).normal(0, 0.1, SR * 5 + 1234).astype(np.float32)
    starts = window_starts(len(x) / SR, 1.0, 0.5)
    assert starts[0] == 0 and starts[-1] == pytest.approx(4.07)  # a last window ends at the track's end
    ours = window_features(log_mel_frames(x, fe), starts, fe, 1.0)
    theirs = fe([x[round(s * SR): round(s * SR) + SR] for s in starts], sampling_rate=SR, return_tensors="np")["input_values"]
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert len(window_starts(0.6, 1.0, 0.5)) == 0  # shorter than a window: nothing to score


def test_audio_sample_is_seeded_synthetic_and_shaped_like_laughter():
    from kernel_laugh.audio.sample import LABEL_NAMES, SYNTHETIC_NOTE, generate_audio_sample, laughter_burst

    a, b = generate_audio_sample(20, seed=3), generate_audio_sample(20, seed=3)
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b))
    assert {r.label for r in a} == {0, 1} and LABEL_NAMES == ["non-laughter", "laughter"]
    assert {r.kind.split("+")[0] for r in a if r.label == 0} == {"babble", "tone", "chord", "noise", "silence"}
    assert "SYNTHETIC" in SYNTHETIC_NOTE
    # A burst's loudness envelope pulses at 4-6 Hz: the autocorrelation of its 10 ms RMS peaks at a 0.17-0.25 s lag.
    burst = laughter_burst(np.random.default_rng(1))
    rms = np.sqrt(np.convolve(burst ** 2, np.ones(160) / 160, mode="valid")[::160])
    rms = rms - rms.mean()
    ac = np.correlate(rms, rms, mode="full")[len(rms) - 1:]
    assert 0.15 <= (np.argmax(ac[12:40]) + 12) / 100 <= 0.26


# ---- zero-shot ----------------------------------------------------------------------------------------------

def test_zero_shot_laughter_is_the_noisy_or_of_the_laughter_classes(tmp_path):
    import torch
    from transformers import ASTForAudioClassification, AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    from kernel_laugh.audio.features import make_feature_extractor
    from kernel_laugh.audio.model import save_audio_model, tiny_config, zero_shot
    from kernel_laugh.audio.predict import AudioPredictor

    labels = ["Speech", "Laughter", "Music", "Giggle", "Belly laugh", "Dog", "Chuckle, chortle", "Baby laughter", "Snicker"]
    torch.manual_seed(0)
    model = ASTForAudioClassification(tiny_config(labels, 1.0)).eval()
    with torch.no_grad():
        model.classifier.dense.bias.copy_(torch.linspace(-3, 3, len(labels)))  # scores far from 0.5, not all alike
    audioset = save_audio_model(model, make_feature_extractor(SR, 1.0, 64), tmp_path / "audioset")
    folder = zero_shot(str(audioset), tmp_path / "zero-shot")

    clip = write_wav(tmp_path / "clip.wav", np.random.default_rng(0).normal(0, 0.2, SR).astype(np.float32), SR)
    ours = AudioPredictor(folder).predict_file(clip)["windows"][0]["laughter"]
    samples = read_audio(clip, SR).samples
    fe, ref = AutoFeatureExtractor.from_pretrained(folder), AutoModelForAudioClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        z = ref(**fe(samples, sampling_rate=SR, return_tensors="pt")).logits[0].double()
    sig = {labels[i]: 1 / (1 + np.exp(-float(z[i]))) for i in range(len(labels))}
    expected = 1 - np.prod([1 - sig[n] for n in ("Laughter", "Baby laughter", "Giggle", "Snicker", "Belly laugh",
                                                 "Chuckle, chortle")])
    assert ours == pytest.approx(expected, abs=1e-5)
    # The folder is still the checkpoint for everyone else: all its classes, as multi-label sigmoid scores.
    out = pipeline("audio-classification", model=str(folder))(samples, top_k=len(labels))
    assert {d["label"]: d["score"] for d in out}["Giggle"] == pytest.approx(sig["Giggle"], abs=1e-4)


def test_zero_shot_offline_hub_id_says_the_hub_is_needed():
    from kernel_laugh.audio.model import zero_shot

    with pytest.raises(KernelLaughError, match="needs the Hugging Face Hub.*--model ast-tiny --no-pretrained"):
        zero_shot("MIT/ast-finetuned-audioset-10-10-0.4593", "/nonexistent/out")


# ---- training, predict, timeline ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def audio_run(tmp_path_factory) -> Path:
    """`kernel-laugh train --preset audio-sample` as the README gives it (the acceptance run)."""
    from kernel_laugh.cli import main

    out = tmp_path_factory.mktemp("runs") / "audio"
    assert main(["train", "--preset", "audio-sample", "--output-dir", str(out)]) == 0
    return out


def test_audio_sample_training_meets_the_bar_and_writes_a_pipeline_folder(audio_run, monkeypatch):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    results = json.loads((audio_run / "eval_results.json").read_text())
    assert results["synthetic"] is True and results["modality"] == "audio"
    assert results["roc_auc"] >= 0.90, results["roc_auc"]
    assert results["roc_auc_ci_low"] <= results["roc_auc"] <= results["roc_auc_ci_high"]
    # Intervals over recordings, not windows, and never zero-width (even at AUC 1: few recordings say little).
    assert results["ci_groups"] >= 8
    assert f"{results['ci_groups']} groups" in results["ci_method"]
    assert results["roc_auc_ci_low"] < results["roc_auc_ci_high"]
    assert results["audio"]["sampling_rate"] == SR and results["audio"]["window_seconds"] == 1.0
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= {p.name for p in audio_run.iterdir()}
    assert (audio_run / "eval" / "report.md").is_file()
    model = AutoModelForAudioClassification.from_pretrained(audio_run)
    assert type(model).__name__ == "ASTForAudioClassification"
    assert model.config.id2label == {0: "non-laughter", 1: "laughter"}
    assert AutoFeatureExtractor.from_pretrained(audio_run).sampling_rate == SR
    card = (audio_run / "README.md").read_text()
    assert "SYNTHETIC" in card and "16000 Hz" in card and "audio-classification" in card
    assert "1 s windows every 0.5 s" in card and "procedural laughter" in card  # the card's audio sections
    started = card.split("## How to Get Started", 1)[1].split("\n## ", 1)[0]
    snippets = [block.split("```", 1)[0] for block in started.split("```python\n")[1:]]
    assert snippets and all("image" not in code for code in snippets)
    monkeypatch.chdir(audio_run)  # the card loads its own folder as ".": its code runs as written from inside it
    for code in snippets:
        exec(compile(code, "model card snippet", "exec"), {})


def test_pipeline_and_predict_agree_on_a_window(audio_run, tmp_path, capsys):
    from transformers import pipeline

    from kernel_laugh.audio.sample import make_recording
    from kernel_laugh.cli import main

    x = make_recording("laughter", 1.0, np.random.default_rng(5))
    clip = write_wav(tmp_path / "laugh.wav", x, SR)
    samples = read_audio(clip, SR).samples  # the 16-bit samples the file holds
    assert main(["predict", str(audio_run), str(clip), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert len(result["windows"]) == 1
    theirs = {d["label"]: d["score"] for d in pipeline("audio-classification", model=str(audio_run))(samples)}
    for label in ("laughter", "non-laughter"):
        assert result["windows"][0][label] == pytest.approx(theirs[label], abs=1e-4)
        assert result["clip"][label] == pytest.approx(theirs[label], abs=1e-4)
    assert result["clip"]["laughter"] > 0.5


def test_timeline_finds_planted_laughter_and_reports_no_audio(audio_run, tmp_path, capsys):
    from kernel_laugh.audio.sample import planted_soundtrack, write_soundtrack_video
    from kernel_laugh.cli import main

    x = planted_soundtrack(30.0, 11.0, 19.0, seed=4)
    video = write_soundtrack_video(tmp_path / "talk.mp4", x)
    assert main(["timeline", str(audio_run), str(video), "--output", str(tmp_path / "tl")]) == 0
    rows = (tmp_path / "tl" / "segments.csv").read_text().splitlines()[1:]
    assert len(rows) == 1, rows
    start, end = (float(v) for v in rows[0].split(",")[:2])
    assert abs(start - 11.0) <= 1.0 and abs(end - 19.0) <= 1.0
    assert (tmp_path / "tl" / "timeline.png").is_file()
    times = [float(r.split(",")[0]) for r in (tmp_path / "tl" / "timeline.csv").read_text().splitlines()[1:]]
    assert np.allclose(np.diff(times)[:-1], 0.5)  # the hop rate
    capsys.readouterr()

    mute = write_soundtrack_video(tmp_path / "mute.mp4", x, with_audio=False)
    assert main(["timeline", str(audio_run), str(mute), "--output", str(tmp_path / "tl2")]) == 0
    assert "no audio" in capsys.readouterr().out
    assert (tmp_path / "tl2" / "timeline.csv").read_text().splitlines() == ["time,non-laughter,laughter"]


def test_predict_bad_audio_is_one_line_naming_the_file(audio_run, tmp_path, capsys):
    from kernel_laugh.cli import main

    write_wav(tmp_path / "short.wav", _tone(SR, 0.4), SR)
    write_wav(tmp_path / "silent.wav", np.zeros(SR * 2, np.float32), SR)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEjunk" * 10)
    for name, why in [("short.wav", "shorter than one 1 s window"), ("silent.wav", "digital silence"),
                      ("broken.wav", "not a readable")]:
        assert main(["predict", str(audio_run), str(tmp_path / name)]) == 1
        err = capsys.readouterr().err.strip()
        assert name in err and why in err and "\n" not in err
    assert main(["evaluate", str(audio_run)]) == 1  # not yet for audio: says so in one line, no traceback
    assert "image models only" in capsys.readouterr().err


# ---- data sources -------------------------------------------------------------------------------------------

def test_audio_sources_folder_csv_and_video_with_labels(tmp_path):
    from kernel_laugh.audio.data import _windows, load_spans, prepare_audio_data
    from kernel_laugh.audio.sample import make_recording, planted_soundtrack, write_soundtrack_video
    from kernel_laugh.config import DataConfig

    rng = np.random.default_rng(0)
    for i in range(8):
        for label, kind in (("laughter", "laughter"), ("non-laughter", "babble")):
            write_wav(tmp_path / "audio" / label / f"{kind}{i}.wav", make_recording(kind, 2.0, rng), SR)
    (tmp_path / "audio" / "laughter" / ".hidden.wav").write_bytes(b"junk")
    data = prepare_audio_data(DataConfig(dataset=str(tmp_path / "audio"), modality="audio", group_column="recording"))
    assert data.label_names == ["non-laughter", "laughter"]
    assert sum(len(s) for s in data.splits.values()) == 16 * 3  # 2 s → windows at 0, 0.5, 1.0 s
    sides = [set(data.splits[s]["recording"]) for s in ("train", "validation", "test")]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert data.samples("train").shape[1] == SR

    # The labels.csv that `kernel-laugh frames` takes, on a video's soundtrack: each segment is its own group.
    video = write_soundtrack_video(tmp_path / "talk.mp4", planted_soundtrack(24.0, 4.0, 12.0))
    (tmp_path / "labels.csv").write_text("start,end,label\n0,4,non-laughter\n4,12,laughter\n12,24,non-laughter\n")
    cfg = DataConfig(dataset=str(video), segments=str(tmp_path / "labels.csv"), modality="audio")
    skipped: list[str] = []
    rows = _windows(load_spans(cfg, skipped), cfg, skipped)
    assert rows["label"].count("laughter") == 15 and rows["label"].count("non-laughter") == 7 + 23
    assert len(set(rows["recording"])) == 3 and not skipped
    assert rows["start"][7] == pytest.approx(4.0)

    # A file,start,end,label CSV of segments (BOM and CRLF, as spreadsheets save it); a stretch shorter than a
    # window is left out and listed.
    write_wav(tmp_path / "rec.wav", planted_soundtrack(12.0, 2.0, 6.0), SR)
    (tmp_path / "segs.csv").write_bytes("\ufefffile,start,end,label\r\nrec.wav,0,2,non-laughter\r\nrec.wav,2,6,laughter\r\n"
                                        "rec.wav,0:11.5,12,laughter\r\n".encode("utf-8"))
    cfg = DataConfig(dataset=str(tmp_path / "segs.csv"), modality="audio")
    skipped = []
    rows = _windows(load_spans(cfg, skipped), cfg, skipped)
    assert rows["label"] == ["non-laughter"] * 3 + ["laughter"] * 7
    assert len(skipped) == 1 and "11.50-12.00" in skipped[0] and "shorter than one 1 s window" in skipped[0]


def test_space_serves_an_audio_model_with_sound_and_video_tabs(audio_run, tmp_path):
    from kernel_laugh.audio.demo_service import AudioDemo
    from kernel_laugh.audio.sample import planted_soundtrack, write_soundtrack_video
    from kernel_laugh.demo import build_demo

    demo = build_demo(audio_run)
    audio_inputs = [b for b in demo.blocks.values() if type(b).__name__ == "Audio"]
    assert audio_inputs and set(audio_inputs[0].sources) == {"upload", "microphone"}
    assert any(type(b).__name__ == "Video" for b in demo.blocks.values())
    app = AudioDemo(audio_run)
    assert app.synthetic
    clip, figure, segments, status = app.analyse(write_wav(tmp_path / "talk.wav", planted_soundtrack(16.0, 4.0, 12.0), SR))
    assert len(segments) == 1 and abs(segments[0][0] - 4.0) <= 1.0 and abs(segments[0][1] - 12.0) <= 1.0
    assert figure is not None and "1 laughter segment" in status
    mute = write_soundtrack_video(tmp_path / "mute.mp4", planted_soundtrack(4.0, 1.0, 2.0), with_audio=False)
    assert app.analyse(mute)[3].endswith("no audio stream (an empty audio track)")


def test_audio_training_resumes_from_a_checkpoint_exactly(tmp_path):
    import shutil

    from kernel_laugh.cli import main

    out = tmp_path / "run"
    args = ["train", "--preset", "audio-sample", "--sample-size", "40", "--epochs", "3", "--output-dir", str(out)]
    assert main(args) == 0
    first = json.loads((out / "eval_results.json").read_text())
    newest = sorted((out / "checkpoints").glob("step-*"))[-1]
    shutil.rmtree(newest)  # as if the run had been killed before its last epoch's checkpoint
    assert main(args + ["--resume-from-checkpoint", "latest"]) == 0
    again = json.loads((out / "eval_results.json").read_text())
    assert [h["train_loss"] for h in again["history"]] == pytest.approx([h["train_loss"] for h in first["history"]], abs=1e-6)
    assert again["roc_auc"] == pytest.approx(first["roc_auc"], abs=1e-9)
    assert (out / "preprocessor_config.json").is_file()
