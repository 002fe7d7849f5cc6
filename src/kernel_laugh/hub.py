"""Publish to the Hugging Face Hub: a model folder, an image dataset, the Gradio Space. The only ``HfApi`` user.

Render, save and publish stay separate (timm's ``_hub.py``: ``generate_readme`` / ``save_for_hf`` /
``push_to_hf_hub``): ``card.py`` renders text from dicts, training saves the folder, and this module only
uploads. It does re-render the card in memory for the target repo id, so the README on the Hub names that
repo in its snippets and model-index, without touching the local folder. (timm's ``push_to_hf_hub`` keeps
an existing README instead; ours is always uploaded explicitly.)

Every push plans first (``plan_*``: no network, no token), which is also what ``--dry-run`` prints; then it
checks for a token (``HF_TOKEN`` or the stored ``hf auth login``), before any ``HfApi`` call, and never prints it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub.errors as hf_errors
from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi, ModelCard, get_token
from huggingface_hub.utils import filter_repo_objects

from kernel_laugh import __version__
from kernel_laugh.card import render_card, render_dataset_card
from kernel_laugh.config import CardConfig, DataConfig
from kernel_laugh.data import prepare_data
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.readers.models import HUB_HTTP_ERROR, is_hub_id
from kernel_laugh.space_bundle import SpaceBundle, list_upload, plan_space

# Never uploaded from a model folder. fnmatch patterns as in HfApi.upload_folder: "*" also matches "/".
MODEL_IGNORE_PATTERNS = [
    "checkpoints/*", "*/checkpoints/*",  # Accelerate save_state: optimiser, scheduler, RNG states (pickles)
    "*.pkl", "*.pt", "*.pth", "*.ckpt", "*.bin",  # pickled weights or state: the model ships as safetensors only
    "optimizer*", "scheduler*", "random_states*",
    ".git/*", ".cache/*", "__pycache__/*", "*/__pycache__/*", "*.pyc", ".DS_Store", "*.lock", "*.tmp",
]
SPACE_MODEL_VARIABLE = "KERNEL_LAUGH_MODEL"  # space/app.py serves the model this names
CARD_INPUTS = ("eval_results.json", "training_args.json", "config.json")
# The model files every upload carries when the folder has them; anything else goes only when the current card,
# results or evaluation report refers to it (``current_model_files``).
MODEL_FILES = ("README.md", "config.json", "model.safetensors", "preprocessor_config.json", "eval_results.json",
               "training_args.json")  # preprocessor_config.json: audio models (the feature extractor)
REPORT = "eval/report.md"
_LINK = re.compile(r"\]\(([^)\s]+)\)")  # markdown link or image target
NO_TOKEN = ("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access); "
            "nothing was uploaded")


def check_repo_id(repo_id: str | None, flag: str = "--repo-id") -> str:
    """``repo_id`` if it looks like ``OWNER/NAME``, else a one-line error naming the flag."""
    if not is_hub_id(repo_id):
        raise KernelLaughError(f"{flag} {repo_id!r}: expected a Hub id OWNER/NAME, e.g. me/kernel-laugh-resnet18")
    return repo_id  # type: ignore[return-value]


def require_token() -> str:
    """The Hub token from ``HF_TOKEN`` or the stored login; a clear error when there is none. Never printed."""
    token = get_token()
    if not token:
        raise KernelLaughError(NO_TOKEN)
    return token


def has_token() -> bool:
    return bool(get_token())


def _api(token: str) -> Any:
    return HfApi(token=token, library_name="kernel-laugh", library_version=__version__)


@contextmanager
def _hub_errors(action: str) -> Iterator[None]:
    """Hub and network failures → one-line ``KernelLaughError`` (messages carry no token)."""
    try:
        yield
    except (hf_errors.HfHubHTTPError, HUB_HTTP_ERROR, OSError) as err:
        response = getattr(err, "response", None)
        status = getattr(response, "status_code", None)
        hint = {401: ": the token was rejected; check HF_TOKEN or run `hf auth login`",
                403: ": the token cannot write there (it needs write access to that namespace)"}.get(status, "")
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KernelLaughError(f"{action} failed{f' ({status})' if status else ''}: {first}{hint}") from err


def _relative_links(markdown: str) -> list[str]:
    """Targets of the markdown's links and images that are files beside it (no URLs, no #anchors)."""
    return [t for t in _LINK.findall(markdown) if "://" not in t and not t.startswith(("#", "/", "mailto:"))]


def current_model_files(folder: str | Path, card_text: str | None = None) -> list[str]:
    """The files of ``folder`` that belong to its current model: ``MODEL_FILES``, the plots its results record
    (confusion_matrix.png, roc_curve.png), the evaluation report and every file the report links, and every file
    ``card_text`` (a hand-kept README) links. Plots of an earlier model or evaluation are not among them."""
    folder = Path(folder)
    wanted = set(MODEL_FILES)
    results = folder / "eval_results.json"
    if results.is_file():
        res = _read_json(results)
        wanted |= {name for name, key in (("confusion_matrix.png", "confusion_matrix"), ("roc_curve.png", "roc_curve"))
                   if res.get(key)}
    if (folder / REPORT).is_file():
        wanted.add(REPORT)
        wanted |= {f"eval/{t}" for t in _relative_links((folder / REPORT).read_text())}
    if card_text:
        wanted |= set(_relative_links(card_text))
    return sorted(p for p in wanted if (folder / p).is_file() and _inside(folder, p))


def _inside(folder: Path, rel: str) -> bool:
    return (folder / rel).resolve().is_relative_to(folder.resolve())


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return ""


def _card_yaml(card_text: str, repo_type: str = "model") -> str:
    cls = ModelCard if repo_type == "model" else DatasetCard
    try:
        return cls(card_text).data.to_yaml()
    except ValueError as err:
        raise KernelLaughError(f"the {repo_type} card's metadata does not parse: {str(err).splitlines()[0]}") from err


# ---- model ---------------------------------------------------------------------------------------------

@dataclass
class ModelUpload:
    """Exactly what ``push_model`` would commit: the files (README.md's text rendered for ``repo_id``), what is
    left out, and the commit message. ``describe()`` is the ``--dry-run`` output."""

    repo_id: str
    folder: Path
    files: list[str]
    left_out: list[str]
    card: str
    card_rendered: bool
    commit_message: str
    commit_description: str = ""
    sizes: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> str:
        return _card_yaml(self.card)

    def describe(self) -> str:
        total = sum(self.sizes.values())
        lines = [f"would upload {len(self.files)} files ({_size(total)}) to https://huggingface.co/{self.repo_id} "
                 f"(model repo) in one commit: {self.commit_message!r}"]
        for path in self.files:
            note = (f"  (model card rendered for {self.repo_id})" if self.card_rendered else "  (the folder's README.md, unchanged)") \
                if path == "README.md" else ""
            lines.append(f"  {path}  {_size(self.sizes.get(path, 0))}{note}")
        if self.left_out:
            n = len(self.left_out)
            lines.append(f"left out (training state, caches, and files the current model's card and results do not "
                         f"refer to): {n} file{'s' if n != 1 else ''}")
            lines += [f"  {t}" for t in _collapse(self.left_out, self.files)]
        lines += ["card metadata:"] + [f"  {line}" for line in self.metadata().splitlines()]
        return "\n".join(lines)


def _collapse(paths: list[str], kept: list[str]) -> list[str]:
    """Left-out paths for display: a top-level folder none of whose files is uploaded as ``folder/``."""
    kept_tops = {p.split("/", 1)[0] for p in kept if "/" in p}
    out = set()
    for p in paths:
        top = p.split("/", 1)[0]
        out.add(top + "/" if "/" in p and top not in kept_tops else p)
    return sorted(out)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise KernelLaughError(f"{path}: cannot read ({err})") from err


def render_folder_card(folder: str | Path, model_id: str | None) -> str:
    """The model card for a trained folder, rendered from its own eval_results.json, training_args.json and
    config.json, naming ``model_id``; card settings (license, dataset id) come from the run's training_args.json."""
    folder = Path(folder)
    results, args, config = (_read_json(folder / name) for name in CARD_INPUTS)
    known = CardConfig.__dataclass_fields__
    card_cfg = CardConfig(**{k: v for k, v in (args.get("CardConfig") or {}).items() if k in known})
    card_cfg.model_id = model_id
    return render_card(results, args, config, card_cfg, files=_uploadable(folder))


def _commit_message(folder: Path) -> tuple[str, str]:
    path = folder / "eval_results.json"
    if not path.is_file():
        return f"Upload model with kernel-laugh {__version__}", ""
    res = _read_json(path)
    arch = _read_json(folder / "config.json").get("architecture", "model")
    numbers = [f"{name} {res[key]:.3f}" for key, name in (("accuracy", "accuracy"), ("roc_auc", "ROC AUC"))
               if isinstance(res.get(key), (int, float))]
    headline = f": {res.get('split', 'test')} " + ", ".join(numbers) if numbers else ""
    tag = " [SYNTHETIC sample]" if res.get("synthetic") else ""
    labels = res.get("label_names") or []
    task = " vs ".join(labels) if len(labels) == 2 else f"{len(labels)}-class"
    message = f"Upload {arch} {task} classifier{headline}{tag}"
    description = (f"Trained and evaluated with kernel-laugh {__version__}. Held-out split: {res.get('num_samples')} images; "
                   f"split method: {res.get('split_method', 'not recorded')}.")
    return message, description


def _uploadable(folder: Path, card_text: str | None = None) -> list[str]:
    """``current_model_files``, never anything training state or caches (MODEL_IGNORE_PATTERNS)."""
    return list(filter_repo_objects(current_model_files(folder, card_text), ignore_patterns=MODEL_IGNORE_PATTERNS))


def plan_model_upload(model_dir: str | Path, repo_id: str, *, keep_readme: bool = False) -> ModelUpload:
    """Decide what ``push_model`` uploads. Offline, no token needed."""
    folder = Path(model_dir)
    check_repo_id(repo_id)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise KernelLaughError(f"{folder}: not a model folder ({name} not found)")
    if not keep_readme and all((folder / name).is_file() for name in CARD_INPUTS):
        card, rendered = render_folder_card(folder, repo_id), True
    elif (folder / "README.md").is_file():
        card, rendered = (folder / "README.md").read_text(), False
    else:
        raise KernelLaughError(f"{folder}: no README.md, and no {', '.join(CARD_INPUTS)} to render a model card from")
    files = sorted(set(_uploadable(folder, None if rendered else card)) | {"README.md"})
    every, _ = list_upload(folder, [])
    left_out = [p for p in every if p not in set(files)]
    sizes = {p: (len(card.encode()) if p == "README.md" else (folder / p).stat().st_size) for p in files}
    message, description = _commit_message(folder)
    upload = ModelUpload(repo_id, folder, files, left_out, card, rendered, message, description, sizes)
    upload.metadata()  # a README whose YAML does not parse fails here, before anything is uploaded
    return upload


def push_model(model_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
               create_pr: bool = False, keep_readme: bool = False) -> str:
    """Create ``repo_id`` if needed and upload the folder in one commit; returns the repo (or PR) URL.

    ``private`` only applies when the repo is created. ``revision``: the branch to commit to (created from main
    if missing), or the branch a PR targets with ``create_pr``.
    """
    upload = plan_model_upload(model_dir, repo_id, keep_readme=keep_readme)
    api = _api(require_token())
    with _hub_errors(f"uploading {upload.folder} to {repo_id}"):
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision and not revision.startswith("refs/pr/"):  # the Hub refuses to create a branch named like a PR ref
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(upload.folder / p))
                      for p in upload.files if p != "README.md"]
        # The card goes from memory: the folder's own README.md may name a local path instead of the repo.
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=upload.card.encode()))
        info = api.create_commit(repo_id, operations=operations, commit_message=upload.commit_message,
                                 commit_description=upload.commit_description, repo_type="model",
                                 revision=revision, create_pr=create_pr)
    if getattr(info, "pr_url", None):
        return info.pr_url
    return f"{url}/tree/{revision}" if revision else str(url)


# ---- dataset -------------------------------------------------------------------------------------------

def dataset_summary(data: Any, cfg: DataConfig) -> dict[str, Any]:
    """Plain-dict facts about a ``PreparedData`` for the dataset card (features, labels, splits, groups)."""
    def describe(feature: Any) -> str:
        if isinstance(feature, datasets.ClassLabel):
            return f"ClassLabel ({len(feature.names)} classes)"
        if isinstance(feature, datasets.Image):
            return "Image"
        return getattr(feature, "dtype", type(feature).__name__)

    first = next(iter(data.splits.values()))
    splits = {}
    for name, split in data.splits.items():
        counts = {label: 0 for label in data.label_names}
        for index in split["label"]:
            counts[data.label_names[index]] += 1
        row: dict[str, Any] = {"num_rows": len(split), "label_counts": counts}
        if cfg.group_column and cfg.group_column in split.column_names:
            row["num_groups"] = len(set(split[cfg.group_column]))
        splits[name] = row
    return {"source": cfg.dataset, "synthetic": cfg.dataset == "sample", "label_names": list(data.label_names),
            "features": {k: describe(v) for k, v in first.features.items()}, "splits": splits,
            "group_column": cfg.group_column, "split_method": data.description, "skipped": len(data.skipped)}


@dataclass
class DatasetUpload:
    repo_id: str
    data: Any  # kernel_laugh.data.PreparedData
    card: str

    def describe(self) -> str:
        splits = ", ".join(f"{k} {len(v)}" for k, v in self.data.splits.items())
        return "\n".join([f"would upload a dataset to https://huggingface.co/datasets/{self.repo_id}: {splits} images, "
                          f"labels {self.data.label_names}", "dataset card:", self.card])


def plan_dataset_upload(cfg: DataConfig, repo_id: str, *, license: str = "apache-2.0",
                        description: str | None = None) -> DatasetUpload:
    """Load and split the source exactly as training does, and render its dataset card. Offline for local sources."""
    check_repo_id(repo_id)
    data = prepare_data(cfg)
    card = render_dataset_card(dataset_summary(data, cfg), repo_id, license=license, description=description)
    _card_yaml(card, "dataset")
    return DatasetUpload(repo_id, data, card)


def push_dataset(cfg: DataConfig, repo_id: str, *, private: bool = False, license: str = "apache-2.0",
                 description: str | None = None) -> str:
    """Publish the train / validation / test splits of ``cfg.dataset`` (images embedded in Parquet) with a card.

    The card is committed first and the data second: ``DatasetDict.push_to_hub`` then keeps the card's text and
    adds its own ``dataset_info`` / ``configs`` metadata to it (the other order would overwrite the card).
    """
    check_repo_id(repo_id)
    token = require_token()  # before loading the data: a Hub source or a big folder takes a while
    upload = plan_dataset_upload(cfg, repo_id, license=license, description=description)
    api = _api(token)
    with _hub_errors(f"uploading the dataset to {repo_id}"):
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_file(path_or_fileobj=upload.card.encode(), path_in_repo="README.md", repo_id=repo_id,
                        repo_type="dataset", commit_message="Add dataset card (kernel-laugh)")
        upload.data.splits.push_to_hub(repo_id, private=private, token=token,
                                       commit_message=f"Upload {', '.join(upload.data.splits)} splits (kernel-laugh)")
    return str(url)


# ---- Space ---------------------------------------------------------------------------------------------

@dataclass
class SpaceUpload:
    """What ``push_space`` commits: the self-contained Space (``kernel_laugh.space_bundle``: the Space folder,
    a copy of the package, generated requirements.txt and README.md) and the variable naming the model it serves."""

    repo_id: str
    bundle: SpaceBundle

    def describe(self) -> str:
        return (f"would upload to https://huggingface.co/spaces/{self.repo_id} (Gradio Space) in one commit and set "
                f"its variable {SPACE_MODEL_VARIABLE}={self.bundle.model_id}\n" + self.bundle.describe())


def plan_space_upload(space_dir: str | Path, repo_id: str, model_id: str) -> SpaceUpload:
    """Check the ids and build the Space's files. Offline, no token needed; ``space_dir`` is never modified."""
    check_repo_id(repo_id)
    check_repo_id(model_id, "--model")  # the Space downloads it: a local path would not exist there
    return SpaceUpload(repo_id, plan_space(space_dir, model_id))


def push_space(space_dir: str | Path, repo_id: str, model_id: str, *, private: bool = False) -> str:
    """Upload the self-contained Space built from ``space_dir`` (``plan_space``) in one commit and point it at
    ``model_id`` through the ``KERNEL_LAUGH_MODEL`` variable, which ``space/app.py`` reads. Returns the Space URL."""
    upload = plan_space_upload(space_dir, repo_id, model_id)
    api = _api(require_token())
    with _hub_errors(f"uploading the Space to {repo_id}"):
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(v) if isinstance(v, Path) else v)
                      for p, v in sorted(upload.bundle.files.items())]
        api.create_commit(repo_id, operations=operations, repo_type="space",
                          commit_message=f"Upload the kernel-laugh Space serving {model_id}")
        # A variable rather than an edit of app.py: the same files serve any model. Setting it restarts the Space.
        api.add_space_variable(repo_id, SPACE_MODEL_VARIABLE, model_id,
                               description="Hub id of the model the kernel-laugh Space serves")
    return str(url)


def model_commit(repo_id: str) -> str | None:
    """The commit sha of a model repo's main revision on the Hub (what the fusion config records as an expert's
    revision); None when the Hub cannot be reached (offline mode, no network). An unknown or private repo is a
    one-line ``KernelLaughError``."""
    api = HfApi(token=get_token() or None, library_name="kernel-laugh", library_version=__version__)
    try:
        return api.model_info(repo_id).sha
    except (hf_errors.RepositoryNotFoundError, hf_errors.GatedRepoError) as err:
        raise KernelLaughError(f"{repo_id}: no such model on the Hub, or not visible to this token "
                               f"({str(err).splitlines()[0]})") from None
    except (hf_errors.OfflineModeIsEnabled, getattr(hf_errors, "HTTPError", OSError), OSError):
        return None  # the caller falls back to the cached copy's revision
