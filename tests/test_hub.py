"""Publishing, tested at the huggingface_hub boundary: HfApi methods are replaced by recorders, so these tests
check the calls kernel-laugh makes (repo type, files, commit message, revision, PR flag) and never the network."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from huggingface_hub import HfApi, ModelCard, SpaceCard
from packaging.requirements import Requirement
from PIL import Image

import kernel_laugh
from kernel_laugh import hub
from kernel_laugh.cli import main
from test_card import binary_results, training_args

SRC = Path(kernel_laugh.__file__).resolve().parents[1]  # the folder holding the package the Space gets a copy of

TOKEN = "hf_kernel_laugh_test_token_do_not_print"
UPLOADED = {"README.md", "config.json", "model.safetensors", "eval_results.json", "training_args.json",
            "confusion_matrix.png", "roc_curve.png", "eval/report.md", "eval/pr.png"}
STATE = ["checkpoints/model.safetensors", "checkpoints/optimizer.bin", "checkpoints/random_states_0.pkl",
         "checkpoints/progress.json", "legacy.pth", "__pycache__/x.cpython-311.pyc", ".cache/huggingface/x.lock"]


@pytest.fixture
def model_dir(tmp_path, tiny_model_dir) -> Path:
    """A trained-looking folder (the weights are never read by hub.py) with training state beside it."""
    d = tmp_path / "runs" / "brain"
    d.mkdir(parents=True)
    shutil.copy(tiny_model_dir / "config.json", d)
    files = {"model.safetensors": "weights", "eval_results.json": json.dumps(binary_results(synthetic=True)),
             "training_args.json": json.dumps(training_args(str(d))), "confusion_matrix.png": "png",
             "roc_curve.png": "png", "eval/report.md": "# report\n\n![precision-recall curve](pr.png)\n", "eval/pr.png": "png",
             "README.md": "---\nlicense: mit\n---\n\n# a local card that names runs/brain\n"}
    for name, text in {**files, **{p: "state" for p in STATE}}.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Replace the HfApi methods hub.py uses by recorders; the list holds (method, args, kwargs) in call order."""
    record: list[tuple[str, tuple, dict]] = []

    def recorder(name, result=None):
        def method(self, *args, **kwargs):
            record.append((name, args, kwargs))
            return result(*args, **kwargs) if callable(result) else result
        return method

    def repo_url(repo_id, repo_type=None, **_):
        return f"https://huggingface.co/{'' if repo_type in (None, 'model') else repo_type + 's/'}{repo_id}"

    monkeypatch.setattr(HfApi, "create_repo", recorder("create_repo", repo_url))
    monkeypatch.setattr(HfApi, "create_branch", recorder("create_branch"))
    monkeypatch.setattr(HfApi, "create_commit", recorder(
        "create_commit", lambda repo_id, **kw: SimpleNamespace(pr_url=f"https://huggingface.co/{repo_id}/discussions/1"
                                                               if kw.get("create_pr") else None)))
    for name in ("upload_file", "upload_folder", "add_space_variable"):
        monkeypatch.setattr(HfApi, name, recorder(name))
    return record


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    import huggingface_hub.constants

    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))


def _listed_files(out: str) -> set[str]:
    """The file lines of the dry-run listing (between its first line and 'left out')."""
    block = out.split("\n", 1)[1].split("left out", 1)[0]
    return {line.split()[0] for line in block.splitlines() if line.startswith("  ")}


# ---- push ----------------------------------------------------------------------------------------------

def test_dry_run_lists_files_and_metadata_without_network_or_token(model_dir, calls, no_token, capsys):
    assert main(["push", str(model_dir), "--repo-id", "me/test", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert _listed_files(out) == UPLOADED
    assert "left out (training state, caches, and files the current model's card and results do not refer to): 7 files" in out
    for top in ("checkpoints/", "legacy.pth", "__pycache__/", ".cache/"):
        assert f"\n  {top}\n" in out
    meta = yaml.safe_load("\n".join(line[2:] for line in out.split("card metadata:\n", 1)[1].splitlines()
                                    if line.startswith("  ")))
    assert meta["model-index"][0]["name"] == "me/test" and meta["license"] == "apache-2.0"
    assert "synthetic-data" in meta["tags"]
    assert "model card rendered for me/test" in out and "no Hugging Face token found" in out
    assert calls == []


def test_push_is_one_commit_of_exactly_the_dry_run_files(model_dir, calls, token, capsys):
    assert main(["push", str(model_dir), "--repo-id", "me/test", "--dry-run"]) == 0
    listed = _listed_files(capsys.readouterr().out)
    readme_before = (model_dir / "README.md").read_text()

    assert main(["push", str(model_dir), "--repo-id", "me/test", "--private", "--revision", "dev"]) == 0
    out, err = capsys.readouterr()
    assert [c[0] for c in calls] == ["create_repo", "create_branch", "create_commit"]
    (_, args, kw), (_, _, branch), (_, commit_args, commit) = calls
    assert args == ("me/test",) and kw == {"repo_type": "model", "private": True, "exist_ok": True}
    assert branch == {"branch": "dev", "repo_type": "model", "exist_ok": True}
    assert commit_args == ("me/test",) and commit["repo_type"] == "model"
    assert commit["revision"] == "dev" and commit["create_pr"] is False
    assert commit["commit_message"].startswith("Upload resnet18 non-laughter vs laughter classifier: test accuracy 0.782")
    assert "[SYNTHETIC sample]" in commit["commit_message"]
    ops = {op.path_in_repo: op for op in commit["operations"]}
    assert set(ops) == listed == UPLOADED  # what the dry run said, no more
    assert not any(p.startswith("checkpoints/") or p.endswith((".pkl", ".pth", ".pyc")) for p in ops)
    card = ModelCard(ops["README.md"].path_or_fileobj.decode())  # rendered for the repo, from memory
    assert card.data.model_name == "me/test" and 'model="me/test"' in card.text
    assert (model_dir / "README.md").read_text() == readme_before  # the local folder is not modified
    assert out.strip() == "pushed " + str(model_dir) + " to https://huggingface.co/me/test/tree/dev"
    assert TOKEN not in out + err


def test_push_as_pull_request_and_keep_readme(model_dir, calls, token, capsys):
    assert main(["push", str(model_dir), "--repo-id", "me/test", "--create-pr", "--keep-readme"]) == 0
    assert [c[0] for c in calls] == ["create_repo", "create_commit"]  # no branch without --revision
    commit = calls[-1][2]
    assert commit["create_pr"] is True and commit["revision"] is None
    readme = next(op for op in commit["operations"] if op.path_in_repo == "README.md")
    assert readme.path_or_fileobj.decode() == (model_dir / "README.md").read_text()
    assert "discussions/1" in capsys.readouterr().out


def test_missing_token_fails_before_any_hub_call(model_dir, calls, no_token, capsys):
    assert main(["push", str(model_dir), "--repo-id", "me/test"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HF_TOKEN" in err[0] and "hf auth login" in err[0]
    assert calls == []


def test_hub_failure_is_one_line_without_the_token(model_dir, token, capsys):
    """No recorders: the real HfApi runs and HF_HUB_OFFLINE=1 (conftest) stops it before the network."""
    assert main(["push", str(model_dir), "--repo-id", "me/test"]) == 1
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "failed" in err and "Traceback" not in err
    assert TOKEN not in out + err


@pytest.mark.parametrize("argv, message", [
    (["--repo-id", "no-owner"], "OWNER/NAME"),
    (["--repo-id", "me/../x"], "OWNER/NAME"),
])
def test_bad_repo_id_fails_before_any_hub_call(model_dir, calls, token, capsys, argv, message):
    assert main(["push", str(model_dir), *argv]) == 1
    assert message in capsys.readouterr().err and calls == []


def test_not_a_model_folder(tmp_path, calls, token, capsys):
    assert main(["push", str(tmp_path), "--repo-id", "me/test", "--dry-run"]) == 1
    assert "not a model folder" in capsys.readouterr().err and calls == []


# ---- push-dataset --------------------------------------------------------------------------------------

@pytest.fixture
def frames(tmp_path) -> Path:
    """An ImageFolder of 'video frames' from 8 clips, with metadata.csv naming each frame's clip."""
    root = tmp_path / "frames"
    rows = ["file_name,clip"]
    for label, cls in enumerate(["0_non-laughter", "1_laughter"]):
        (root / cls).mkdir(parents=True)
        for clip in range(4):
            for i in range(3):
                name = f"{cls}/c{label}{clip}_{i}.png"
                Image.new("RGB", (8, 8), (40 * clip, 100 * label, i)).save(root / name)
                rows.append(f"{name},clip{label}{clip}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def test_push_dataset_card_first_then_data(frames, calls, token, monkeypatch, capsys):
    import datasets

    pushed = []
    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub",
                        lambda self, repo_id, **kw: (calls.append(("push_to_hub", (repo_id,), kw)), pushed.append(self)))
    assert main(["push-dataset", str(frames), "--repo-id", "me/frames", "--group-column", "clip",
                 "--description", "Frames at 1 fps from two clips."]) == 0
    assert [c[0] for c in calls] == ["create_repo", "upload_file", "push_to_hub"]  # card before data, see push_dataset
    assert calls[0][2] == {"repo_type": "dataset", "private": False, "exist_ok": True}
    upload = calls[1][2]
    assert upload["repo_type"] == "dataset" and upload["path_in_repo"] == "README.md"
    card = upload["path_or_fileobj"].decode()
    assert "| `clip` | string |" in card and "non-laughter" in card and "Frames at 1 fps" in card
    assert "| train |" in card and "| test |" in card and "SYNTHETIC" not in card
    assert calls[2][2]["token"] == TOKEN  # handed to datasets, never printed
    splits = pushed[0]
    assert set(splits) == {"train", "validation", "test"} and splits["train"].features["label"].names == ["non-laughter", "laughter"]
    clips = {name: set(split["clip"]) for name, split in splits.items()}
    assert not (clips["train"] & clips["test"]) and not (clips["train"] & clips["validation"])
    assert TOKEN not in "".join(capsys.readouterr())


def test_push_dataset_dry_run(frames, calls, no_token, capsys):
    assert main(["push-dataset", str(frames), "--repo-id", "me/frames", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dataset card:" in out and "task_categories:" in out and calls == []


# ---- push-space ----------------------------------------------------------------------------------------

@pytest.fixture
def space_dir(tmp_path) -> Path:
    d = tmp_path / "space"
    for name, text in {"app.py": "print('app')\n", "requirements.txt": "kernel-laugh\n",
                       "README.md": "---\ntitle: Kernel Laugh\nemoji: 🧠\nsdk: gradio\napp_file: app.py\nmodels:\n- someone/placeholder\n---\n\n# Demo\n",
                       "examples/frame.png": "png", "__pycache__/app.cpython-311.pyc": "x", "flagged/log.csv": "x"}.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d


def test_push_space_uploads_folder_and_sets_model_variable(space_dir, calls, token, capsys):
    readme_before = (space_dir / "README.md").read_text()
    assert main(["push-space", "--space-dir", str(space_dir), "--repo-id", "me/demo", "--model", "me/test"]) == 0
    assert [c[0] for c in calls] == ["create_repo", "create_commit", "add_space_variable"]
    assert calls[0][2] == {"repo_type": "space", "space_sdk": "gradio", "private": False, "exist_ok": True}
    commit = calls[1][2]
    assert commit["repo_type"] == "space"
    ops = {op.path_in_repo: op for op in commit["operations"]}
    # the folder's own files (not its stale requirements.txt, caches or flagged/), the package beside app.py, and
    # the generated requirements.txt and README.md
    package = sorted(p.relative_to(SRC).as_posix() for p in (SRC / "kernel_laugh").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    assert set(ops) == {"app.py", "requirements.txt", "README.md", "examples/frame.png", *package}
    assert {"kernel_laugh/demo.py", "kernel_laugh/model_card.md", "kernel_laugh/py.typed"} <= set(ops)
    card = SpaceCard(ops["README.md"].path_or_fileobj.decode())
    assert card.data.models == ["me/test"] and card.data.sdk == "gradio" and card.data.title == "Kernel Laugh"
    assert card.data.sdk_version == importlib.metadata.version("gradio")
    requirements = ops["requirements.txt"].path_or_fileobj.decode().splitlines()
    pins = {Requirement(line).name: Requirement(line) for line in requirements if line and not line.startswith("#")}
    assert "kernel-laugh" not in pins and not any("://" in line or "git+" in line for line in requirements)
    assert str(pins["gradio"].specifier) == f"=={card.data.sdk_version}"
    assert {"torch", "timm", "transformers", "av", "opencv-python-headless"} <= set(pins)
    assert calls[2][1] == ("me/demo", "KERNEL_LAUGH_MODEL", "me/test")
    assert (space_dir / "README.md").read_text() == readme_before
    assert "https://huggingface.co/spaces/me/demo" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["runs/brain/", "./model", "model"])
def test_push_space_needs_a_hub_model(space_dir, calls, token, capsys, model):
    assert main(["push-space", "--space-dir", str(space_dir), "--repo-id", "me/demo", "--model", model]) == 1
    assert "--model" in capsys.readouterr().err and calls == []


def test_push_space_dry_run_lists_every_file_with_its_size_and_stage_writes_them(space_dir, tmp_path, calls, no_token,
                                                                               capsys):
    assert main(["push-space", "--space-dir", str(space_dir), "--repo-id", "me/demo", "--model", "me/test",
                 "--stage", str(tmp_path / "staged")]) == 0
    out = capsys.readouterr().out
    listed = dict(reversed(m.groups()) for m in re.finditer(r"^ +([\d,]+)  (\S+)$", out, re.M))
    staged = {p.relative_to(tmp_path / "staged").as_posix(): p.stat().st_size
              for p in (tmp_path / "staged").rglob("*") if p.is_file()}
    assert {k: int(v.replace(",", "")) for k, v in listed.items()} == staged and calls == []
    assert "app.py" in staged and "kernel_laugh/__init__.py" in staged and "flagged/log.csv" not in staged
    # a folder that is not empty is refused (nothing is overwritten)
    assert main(["push-space", "--space-dir", str(space_dir), "--repo-id", "me/demo", "--model", "me/test",
                 "--stage", str(tmp_path / "staged")]) == 1
    assert "not an empty folder" in capsys.readouterr().err


def test_push_space_dry_run_needs_a_space_folder(tmp_path, calls, no_token, capsys):
    assert main(["push-space", "--space-dir", str(tmp_path), "--repo-id", "me/demo", "--model", "me/test", "--dry-run"]) == 1
    assert "not a Space folder" in capsys.readouterr().err and calls == []


# ---- train --push-to-hub -------------------------------------------------------------------------------

@pytest.fixture
def fake_training(monkeypatch):
    """Replace fit (no training in these tests) and push_model; record what the CLI hands them."""
    import kernel_laugh.training

    seen: dict[str, list] = {"fit": [], "push": []}
    monkeypatch.setattr(kernel_laugh.training, "fit", lambda *cfgs: seen["fit"].append(cfgs) or binary_results())
    monkeypatch.setattr(hub, "push_model", lambda *a, **kw: seen["push"].append((a, kw)) or "https://huggingface.co/me/test")
    return seen


TRAIN = ["train", "--preset", "sample", "--output-dir", "runs/x", "--push-to-hub"]


def test_train_push_to_hub_pushes_after_fit(fake_training, token, monkeypatch, capsys):
    monkeypatch.delenv("RANK", raising=False)
    assert main([*TRAIN, "--hub-model-id", "me/test", "--hub-private"]) == 0
    (data_cfg, _, train_cfg, card_cfg), = fake_training["fit"]
    assert card_cfg.model_id == "me/test"  # the local card already names the repo
    assert fake_training["push"] == [(("runs/x", "me/test"), {"private": True})]
    assert "pushed to https://huggingface.co/me/test" in capsys.readouterr().out


def test_train_push_failure_says_how_to_retry(fake_training, token, monkeypatch, capsys):
    from kernel_laugh.errors import KernelLaughError

    def fail(*a, **kw):
        raise KernelLaughError("uploading runs/x to me/test failed (401): rejected")
    monkeypatch.setattr(hub, "push_model", fail)
    assert main([*TRAIN, "--hub-model-id", "me/test"]) == 1
    err = capsys.readouterr().err
    assert "saved in runs/x" in err and "kernel-laugh push runs/x --repo-id me/test" in err and len(err.splitlines()) == 1


def test_train_push_only_on_the_main_process(fake_training, token, monkeypatch):
    import kernel_laugh.training

    # As on process 1 of `accelerate launch`: the CLI asks Accelerate (training.is_main_process), not RANK.
    monkeypatch.setattr(kernel_laugh.training, "is_main_process", lambda: False)
    assert main([*TRAIN, "--hub-model-id", "me/test"]) == 0
    assert len(fake_training["fit"]) == 1 and fake_training["push"] == []


@pytest.mark.parametrize("extra, message", [([], "--hub-model-id"), (["--hub-model-id", "nope"], "OWNER/NAME")])
def test_train_push_checks_flags_before_training(fake_training, token, capsys, extra, message):
    assert main([*TRAIN, *extra]) == 1
    assert message in capsys.readouterr().err and fake_training["fit"] == []


def test_train_push_without_token_fails_before_training(fake_training, no_token, capsys):
    assert main([*TRAIN, "--hub-model-id", "me/test"]) == 1
    assert "HF_TOKEN" in capsys.readouterr().err and fake_training["fit"] == []


def test_hub_dataset_is_named_in_the_card(fake_training):
    assert main(["train", "--dataset", "evdev3/kernel-neural-data", "--output-dir", "runs/x"]) == 0
    assert fake_training["fit"][0][3].dataset_id == "evdev3/kernel-neural-data"
