"""Model references: the one place a model argument (a local folder or a Hub id) is resolved and a model folder
is checked, for ``predict``, ``evaluate``, ``timeline``, ``explain`` and the Space.

A mistyped local path says that no such folder exists (it is not sent to the Hub when its parent folder is
here); a damaged folder (no config, config not JSON or neither a timm nor a transformers audio config, weights missing or truncated, weights
that do not fit the config's architecture and classes) gets one line naming the folder and what is wrong.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import huggingface_hub.errors as hf_errors
import timm
import torch
from safetensors import SafetensorError, safe_open

from kernel_laugh.errors import KernelLaughError

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"  # the names of timm's Hub format (also kernel_laugh.modeling's)
WEIGHTS_NAME = "model.safetensors"
AUDIO_ARCHITECTURE_SUFFIX = "ForAudioClassification"  # transformers' audio classifiers (the audio expert)
# huggingface_hub's HTTP errors derive from its HTTP client's HTTPError (httpx2 in 2.x; requests' before, an OSError):
# with OSError (not found, offline) what a Hub download that failed for an expected reason raises.
HUB_HTTP_ERROR = getattr(hf_errors, "HTTPError", OSError)
# A Hub repo id: OWNER/NAME (the Hub's rules: letters, digits, '-', '_', '.'; no '--' or '..').
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def is_hub_id(value: str | None) -> bool:
    """True for a Hub repo id such as ``user/name`` (says nothing about whether it exists, or whether a local folder
    of that name exists too). The one check of the package: model references, --repo-id, datasets, legacy files."""
    return bool(value) and bool(_REPO_ID.match(value)) and "--" not in value and ".." not in value  # type: ignore[arg-type]


def resolve_model_ref(ref: str | Path, *, local_only: bool = False) -> str:
    """A model argument → the local folder (checked with ``check_model_folder``) or a Hub id (``user/name``).

    ``local_only``: commands that need the files themselves (evaluate, explain) take folders only.
    Raises ``KernelLaughError`` naming ``ref``: no such folder, a file instead of a folder, a damaged folder."""
    text = str(ref)
    path = Path(text).expanduser()
    if path.is_file():
        raise KernelLaughError(f"{text}: is a file; give the model folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    if path.is_dir():
        check_model_folder(path)
        return str(path)
    hub_shaped = is_hub_id(text)
    parent_here = path.parent != Path(".") and path.parent.is_dir()  # runs/nothere with runs/ here: a typo
    if local_only or not hub_shaped or parent_here:
        near = _near_names(path) if parent_here else ""
        raise KernelLaughError(f"{text}: no such model folder{near}" + ("" if local_only or hub_shaped else
                                                                      " (and not a Hub id like user/name)"))
    return text


def _near_names(path: Path) -> str:
    names = sorted(p.name for p in path.parent.iterdir() if p.is_dir() and not p.name.startswith("."))
    return f" ({path.parent} holds {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})" if names else ""


def read_model_config(folder: str | Path) -> dict[str, Any]:
    """``folder/config.json`` as a dict, or a one-line error: no folder, no config, not JSON, not a timm config."""
    p = Path(folder)
    if not p.is_dir():
        raise KernelLaughError(f"{p}: no such model folder")
    config_path = p / CONFIG_NAME
    if not config_path.is_file():
        if (p / WEIGHTS_NAME).is_file():
            why = f"it has {WEIGHTS_NAME} but no {CONFIG_NAME}"
        elif any(p.glob("*.pth")) or any(p.glob("*.bin")):
            why = f"no {CONFIG_NAME}; for a pickled .pth/.bin model use `kernel-laugh import-legacy`"
        else:
            why = f"no {CONFIG_NAME}"
        raise KernelLaughError(f"{p}: not a model folder ({why})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise KernelLaughError(f"{config_path}: damaged, not valid JSON ({err})") from None
    if not isinstance(config, dict) or not (isinstance(config.get("architecture"), str) or is_audio_config(config)):
        raise KernelLaughError(f"{config_path}: not a timm model config (no 'architecture') nor a transformers audio "
                               "classifier's (no 'architectures' ending in ForAudioClassification)")
    return config


def is_audio_config(config: dict[str, Any]) -> bool:
    """Whether a config.json (as a dict) is a transformers audio classifier's (the audio expert's folders)."""
    return any(str(a).endswith(AUDIO_ARCHITECTURE_SUFFIX) for a in config.get("architectures") or [])


def check_model_folder(folder: str | Path) -> dict[str, Any]:
    """Check that ``folder`` holds a loadable model and return its config.

    Reads only the config and the safetensors header (tensor names and shapes), and compares them with the
    architecture the config names, built on the meta device (no memory, no download). Raises
    ``KernelLaughError`` naming the folder for: no config, a damaged config, missing or truncated weights, and
    weights that do not fit the config (another architecture or number of classes)."""
    p = Path(folder)
    config = read_model_config(p)
    weights = p / WEIGHTS_NAME
    if not weights.is_file():
        other = [f.name for f in p.iterdir() if f.suffix in (".bin", ".pth", ".pt", ".ckpt")]
        hint = f"; {', '.join(other)} is not loaded (pickles can run code)" if other else ""
        raise KernelLaughError(f"{p}: the weights are missing (no {WEIGHTS_NAME}){hint}")
    shapes = _weight_shapes(weights)
    if is_audio_config(config):  # a transformers folder: its own loader checks the tensors; the header is readable
        return config
    expected = _expected_shapes(config, p)
    if expected is None:
        return config
    prefix = "timm_model."  # folders saved by transformers' TimmWrapper carry the wrapper's prefix
    if shapes and all(k.startswith(prefix) for k in shapes):
        shapes = {k[len(prefix):]: v for k, v in shapes.items()}
    missing = sorted(k for k in expected if k not in shapes and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in shapes if k not in expected)
    wrong = [k for k in expected if k in shapes and tuple(shapes[k]) != tuple(expected[k])]
    if missing or unexpected or wrong:
        what = [f"{len(missing)} tensor(s) missing (e.g. {missing[0]})" if missing else "",
                f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                f"{wrong[0]} is {list(shapes[wrong[0]])}, expected {list(expected[wrong[0]])}" if wrong else ""]
        raise KernelLaughError(f"{p}: {WEIGHTS_NAME} does not match {CONFIG_NAME} (architecture "
                               f"{config['architecture']!r}, {config.get('num_classes')} classes): "
                               + "; ".join(w for w in what if w))
    return config


def _weight_shapes(weights: Path) -> dict[str, list[int]]:
    try:
        with safe_open(str(weights), framework="pt") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as err:
        raise KernelLaughError(f"{weights}: truncated or damaged weights file ({str(err).splitlines()[0]})") from None


def _expected_shapes(config: dict[str, Any], folder: Path) -> dict[str, tuple[int, ...]] | None:
    """Tensor shapes of the config's timm architecture with its number of classes (built on the meta device)."""
    try:
        with torch.device("meta"):
            model = timm.create_model(config["architecture"], pretrained=False,
                                      num_classes=config.get("num_classes", 1000), **(config.get("model_args") or {}))
    except RuntimeError as err:  # timm: "Unknown model (...)"
        raise KernelLaughError(f"{folder / CONFIG_NAME}: architecture {config['architecture']!r} is not a timm "
                               f"model ({err})") from None
    except TypeError as err:  # model_args the architecture does not take
        logger.warning("%s: could not build %s to check the weights (%s)", folder, config["architecture"], err)
        return None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "check_model_folder", "read_model_config", "resolve_model_ref"]
