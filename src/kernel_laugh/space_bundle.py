"""The files of a self-contained Space: exactly what ``kernel-laugh push-space`` uploads, built offline.

A Space builds from its own repository and nothing else: it installs ``requirements.txt`` (before the rest of
the repository is present, so a wheel inside the repo cannot be named there), then runs ``app.py``. So the
bundle is

- the Space folder's own files (``app.py``, assets), minus caches and anything ``SPACE_IGNORE_PATTERNS`` names;
- ``kernel_laugh/``: a copy of the package that is running now (its source files, templates and ``py.typed``),
  beside ``app.py``, where ``import kernel_laugh`` finds it first;
- ``requirements.txt``, generated from the package's own dependency metadata (``pyproject.toml`` when the package
  runs from a checkout, else the installed distribution's) with the extras the Space needs
  (``SPACE_EXTRAS``), gradio pinned to the installed version. Never a URL;
- ``README.md`` with ``models: [MODEL]`` (the Hub links Space and model; ``app.py`` falls back to it) and
  ``sdk_version`` set to the installed gradio's version, the one the tests ran with.

``SpaceBundle.write`` stages the files into a folder (``push-space --stage DIR``), and ``kernel_laugh.hub``
uploads the same bytes. No network, no token.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from huggingface_hub import SpaceCard
from huggingface_hub.utils import filter_repo_objects
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from kernel_laugh.errors import KernelLaughError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no TOML reader: the installed distribution's metadata is used instead
    tomllib = None

logger = logging.getLogger(__name__)

DISTRIBUTION = "kernel-laugh"
PACKAGE_DIR = Path(__file__).resolve().parent  # the package that is running now: what the Space gets a copy of
SPACE_EXTRAS = ("space", "video", "faces")  # gradio; PyAV for the video tab; OpenCV for face detection
# Never uploaded from the Space folder. fnmatch patterns as in HfApi.upload_folder: "*" also matches "/".
SPACE_IGNORE_PATTERNS = [".git/*", "__pycache__/*", "*/__pycache__/*", "*.pyc", ".DS_Store", "flagged/*", ".gradio/*",
                         "*.egg-info/*", ".venv/*", "venv/*",
                         "kernel_laugh/*", "requirements.txt"]  # generated here, from the package itself
PACKAGE_IGNORE_PATTERNS = ["__pycache__/*", "*/__pycache__/*", "*.pyc", ".DS_Store"]


@dataclass
class SpaceBundle:
    """The Space's files by their path in the Space repository: text generated here, or a file to copy."""

    model_id: str
    files: dict[str, bytes | Path] = field(default_factory=dict)

    @property
    def readme(self) -> str:
        return self.content("README.md").decode()

    def content(self, path: str) -> bytes:
        value = self.files[path]
        return value.read_bytes() if isinstance(value, Path) else value

    def size(self, path: str) -> int:
        """Bytes of ``path`` as uploaded."""
        value = self.files[path]
        return value.stat().st_size if isinstance(value, Path) else len(value)

    def listing(self) -> list[tuple[str, int]]:
        """``(path, bytes)`` of every file, sorted by path."""
        return [(p, self.size(p)) for p in sorted(self.files)]

    def describe(self) -> str:
        """Every file with its size, then the README's front matter (what ``push-space --dry-run`` prints)."""
        rows = self.listing()
        total = sum(n for _, n in rows)
        return "\n".join([f"{len(rows)} files, {total:,} bytes:", *[f"  {n:>10,}  {p}" for p, n in rows],
                          "README.md front matter:",
                          *[f"  {line}" for line in SpaceCard(self.readme).data.to_yaml().splitlines()]])

    def write(self, out_dir: str | Path) -> Path:
        """Write every file under ``out_dir`` (created; it must be empty), e.g. to run or inspect the Space locally."""
        out = Path(out_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise KernelLaughError(f"{out}: not an empty folder; stage the Space into a new or empty one")
        for path in self.files:
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.content(path))
        return out


def list_upload(folder: Path, ignore: list[str]) -> tuple[list[str], list[str]]:
    """(kept, left out): the files under ``folder`` as relative POSIX paths, split by ``ignore`` (fnmatch patterns,
    huggingface_hub's own matcher, as ``HfApi.upload_folder`` applies them). Model and Space uploads both list here."""
    every = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    kept = list(filter_repo_objects(every, ignore_patterns=ignore))
    return kept, sorted(set(every) - set(kept))


def _checkout_pyproject(package_dir: Path) -> Path | None:
    """``pyproject.toml`` of the source checkout the package runs from (``src/`` layout), if it does."""
    candidate = package_dir.parent.parent / "pyproject.toml"
    return candidate if package_dir.parent.name == "src" and candidate.is_file() else None


def declared_requirements(package_dir: Path | None = None) -> list[Requirement]:
    """The package's dependency metadata: ``[project]`` of the checkout's ``pyproject.toml`` when the package
    runs from one (an editable install's metadata can lag behind it), else the installed distribution's."""
    pyproject = _checkout_pyproject(package_dir or PACKAGE_DIR)
    if pyproject is not None and tomllib is not None:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        lines = list(project.get("dependencies", []))
        for extra, deps in project.get("optional-dependencies", {}).items():
            lines += [f"{d.split(';', 1)[0]}; extra == {extra!r}" for d in deps]  # (markers of its own: none declared)
    else:
        try:
            lines = metadata.requires(DISTRIBUTION) or []
        except metadata.PackageNotFoundError:
            raise KernelLaughError(f"{DISTRIBUTION} is not installed, so its dependencies are unknown: "
                                   "pip install -e . (from a checkout) or pip install kernel-laugh") from None
    try:
        return [Requirement(line) for line in lines]
    except InvalidRequirement as err:
        raise KernelLaughError(f"{pyproject or DISTRIBUTION}: a dependency does not parse ({err})") from None


def space_requirements(extras: tuple[str, ...] = SPACE_EXTRAS, gradio_version: str | None = None,
                       package_dir: Path | None = None) -> str:
    """``requirements.txt`` for the Space: the package's dependencies and those of ``extras``, one line per
    distribution (specifiers of repeated names combined), gradio pinned to ``gradio_version``. Markers other than
    ``extra`` stay on their line; the Space's Python evaluates them."""
    merged: dict[str, Requirement] = {}
    for req in declared_requirements(package_dir):
        if req.marker is not None and "extra" in str(req.marker):
            if not any(req.marker.evaluate({"extra": e}) for e in extras):
                continue
            req = Requirement(str(req).split(";", 1)[0])  # the extra is chosen: the requirement itself remains
        name = canonicalize_name(req.name)
        if name in merged:
            merged[name].specifier &= req.specifier
            merged[name].extras |= req.extras
        else:
            merged[name] = req
    if gradio_version is not None and "gradio" in merged:
        if not merged["gradio"].specifier.contains(gradio_version, prereleases=True):
            raise KernelLaughError(f"gradio {gradio_version} is installed, but the package needs gradio"
                                   f"{merged['gradio'].specifier}: pip install 'kernel-laugh[space]'")
        merged["gradio"] = Requirement(f"gradio=={gradio_version}")
    header = (f"# Generated by `kernel-laugh push-space` from {DISTRIBUTION}'s dependency metadata and its extras "
              f"{', '.join(extras)}.\n# The package itself travels beside app.py (kernel_laugh/); gradio is pinned "
              "to README.md's sdk_version.\n")
    return header + "".join(f"{merged[name]}\n" for name in sorted(merged))


def space_readme(text: str, model_id: str, sdk_version: str) -> str:
    """The Space README with ``models: [model_id]`` and ``sdk_version`` (other front matter untouched)."""
    try:
        card = SpaceCard(text)
    except ValueError as err:
        raise KernelLaughError(f"space README.md: the front matter does not parse: {str(err).splitlines()[0]}") from err
    if not card.data.get("sdk"):
        raise KernelLaughError("space README.md: the front matter has no 'sdk' (expected sdk: gradio)")
    card.data["models"] = [model_id]  # the one model it serves; app.py also falls back to this entry
    card.data["sdk_version"] = sdk_version
    return str(card)


def installed_gradio() -> str:
    """The installed gradio's version (the Space's ``sdk_version``), without importing gradio."""
    try:
        return metadata.version("gradio")
    except metadata.PackageNotFoundError:
        raise KernelLaughError("gradio is not installed; the Space's sdk_version is the gradio version it was "
                               "tested with: pip install 'kernel-laugh[space]'") from None


def plan_space(space_dir: str | Path, model_id: str) -> SpaceBundle:
    """The bundle for the Space folder ``space_dir`` serving ``model_id``. ``space_dir`` is never modified."""
    folder = Path(space_dir)
    for name in ("app.py", "README.md"):
        if not (folder / name).is_file():
            raise KernelLaughError(f"{folder}: not a Space folder ({name} not found); run push-space from a checkout of "
                                   "kernel-laugh, or pass --space-dir PATH/TO/space")
    gradio_version = installed_gradio()
    bundle = SpaceBundle(model_id)
    for path in list_upload(folder, SPACE_IGNORE_PATTERNS)[0]:
        bundle.files[path] = folder / path
    for path in list_upload(PACKAGE_DIR, PACKAGE_IGNORE_PATTERNS)[0]:
        bundle.files[f"kernel_laugh/{path}"] = PACKAGE_DIR / path
    bundle.files["requirements.txt"] = space_requirements(gradio_version=gradio_version).encode()
    bundle.files["README.md"] = space_readme((folder / "README.md").read_text(encoding="utf-8"), model_id,
                                             gradio_version).encode()
    return bundle


__all__ = ["SPACE_EXTRAS", "SPACE_IGNORE_PATTERNS", "SpaceBundle", "declared_requirements", "installed_gradio",
           "plan_space", "space_readme", "space_requirements"]
