"""The fusion commands: ``fuse-train`` (experts → steps → gate → folder) and ``evaluate`` on a fusion folder.

``fuse_train`` reads like the command does: the experts' specs (model, revision, laughter class) → the experts
loaded (an expert whose labels cannot be mapped to laughter stops here, one line) → every video of the dataset run
through them once (``collect_steps``, with a progress bar) → the videos split into gate-train / validation / test
→ the gate trained (``fusion.training.fit_gate``) → the test videos measured (``fusion.evaluation.assess``) → the
folder written (``fusion.artefact``, ``fusion.card``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from kernel_laugh.config import FuseTrainConfig, progress_bars
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.fusion.artefact import build_config, load_fusion, save_fusion
from kernel_laugh.fusion.card import render_fusion_card, render_fusion_report
from kernel_laugh.fusion.evaluation import Hysteresis, assess
from kernel_laugh.fusion.experts import ExpertSpec, load_experts, run_experts
from kernel_laugh.fusion.steps import ExpertSteps
from kernel_laugh.fusion.timeline import load_runners
from kernel_laugh.fusion.training import fit_gate, split_clips
from kernel_laugh.outputs import check_output_dir, clear_run, write_text_atomic
from kernel_laugh.readers.frames import find_videos
from kernel_laugh.readers.segments import load_segments

logger = logging.getLogger(__name__)

# The class of each expert that means laughter, when --<modality>-label is not given.
DEFAULT_POSITIVE = {"brain": "laughter", "face": "happy", "audio": "laughter"}
LABELS_FILE = "labels.csv"
REPORT = "eval/report.md"


def collect_steps(dataset: str | Path, runners: dict[str, Any], grid_hz: float, progress: bool = True
                  ) -> list[ExpertSteps]:
    """Every video of ``dataset`` (a folder of videos with ``labels.csv``) through the experts once, labelled.
    Raises KernelLaughError for a missing labels.csv, no videos, or a video the experts cannot read (naming it)."""
    root = Path(dataset)
    labels = root / LABELS_FILE
    if not labels.is_file():
        raise KernelLaughError(f"{root}: no {LABELS_FILE} (rows start,end,label[,video], as `kernel-laugh frames` takes)")
    segments = load_segments(labels)
    videos = find_videos(root)
    steps = []
    with tqdm(videos, desc="experts", unit="video", disable=not progress_bars(progress)) as bar:  # closed before an error is printed
        for video in bar:
            steps.append(run_experts(video, runners, grid_hz, segments))
    return steps


def _trained_on(model: str) -> dict[str, Any]:
    """What an expert folder says it was trained on (its training_args.json / eval_results.json), for the card."""
    folder = Path(model)
    out: dict[str, Any] = {}
    for name in ("training_args.json", "eval_results.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                logger.warning("%s: unreadable; the card will not say what this expert was trained on", path)
                continue
            if name == "training_args.json":
                out["dataset"] = (data.get("DataConfig") or {}).get("dataset")
            else:
                out["synthetic"] = bool(data.get("synthetic"))
    return out


def expert_specs(cfg: FuseTrainConfig) -> list[ExpertSpec]:
    """The specs of the experts named in ``cfg`` (two or more), each with its current revision."""
    given = cfg.experts()
    if len(given) < 2:
        raise KernelLaughError(f"fuse-train needs two or more experts (--brain, --face, --audio); got {list(given) or 'none'}")
    return [ExpertSpec.for_model(m, ref, getattr(cfg, f"{m}_label") or DEFAULT_POSITIVE[m]) for m, ref in given.items()]


def _check_out_of_fold(specs: list[ExpertSpec], dataset: str) -> None:
    """Warn when an expert says it was trained on the very dataset the gate is about to learn from."""
    for s in specs:
        trained = _trained_on(s.model).get("dataset")
        if trained and Path(trained).expanduser().resolve() == Path(dataset).expanduser().resolve():
            logger.warning("the %s expert was trained on %s itself: its outputs there are not out-of-fold, and the gate "
                           "will trust it too much", s.modality, dataset)


def fuse_train(cfg: FuseTrainConfig, specs: list[ExpertSpec] | None = None, *, synthetic: bool = False,
               progress: bool = True) -> dict[str, Any]:
    """Train a fusion model; returns the held-out results (also in OUTPUT_DIR/eval_results.json)."""
    out = Path(cfg.output_dir)
    check_output_dir(out, overwrite=cfg.overwrite_output_dir, resume=False)
    if not cfg.dataset:
        raise KernelLaughError("give --dataset: a folder of videos with labels.csv that the experts did not train on")
    specs = specs or expert_specs(cfg)
    if len(specs) < 2:
        raise KernelLaughError(f"fuse-train needs two or more experts; got {[s.modality for s in specs]}")
    _check_out_of_fold(specs, cfg.dataset)
    runners = load_experts(specs)  # labels that cannot be mapped to laughter: one line here, before any video
    steps = collect_steps(cfg.dataset, runners, cfg.grid_hz, progress)
    splits = split_clips(steps, cfg)
    fit = fit_gate(splits["gate_train"], splits["validation"], cfg, progress)
    hysteresis = Hysteresis()
    results = assess(fit.gate, splits["test"], fit.threshold, hysteresis)
    results |= {"split": "test", "split_method": "whole videos (grouped), seeded", "synthetic": synthetic,
                "best_epoch": fit.best_epoch, "history": fit.history}
    # With the SYNTHETIC sample, the experts were trained on its SYNTHETIC expert videos too.
    experts = [s.to_dict() | {"trained_on": _trained_on(s.model) | ({"synthetic": True} if synthetic else {})} for s in sorted(specs, key=lambda s: fit.gate.experts.index(s.modality))]
    config = build_config(fit.gate, experts, grid_hz=cfg.grid_hz, threshold=fit.threshold,
                          hysteresis=hysteresis.to_dict(), synthetic=synthetic,
                          splits={"seed": cfg.split_seed, "dataset": str(Path(cfg.dataset).resolve()),
                                  **{k: sorted(s.clip for s in v) for k, v in splits.items()}},
                          training={k: getattr(cfg, k) for k in ("epochs", "batch_size", "learning_rate", "weight_decay",
                                                                 "modality_dropout", "hidden", "seed")})
    if cfg.overwrite_output_dir:
        clear_run(out)
    save_fusion(out, fit.gate, config, render_fusion_card(config, results, folder=str(out)), results)
    _write_report(out, results, synthetic)
    return results


def _write_report(out: Path, results: dict[str, Any], synthetic: bool) -> None:
    (out / REPORT).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / REPORT, render_fusion_report(results, synthetic))


def evaluate_fusion(model_ref: str, dataset: str, output_dir: str | None = None, *, strict: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """``kernel-laugh evaluate FUSION --dataset SRC``: the held-out comparisons of ``assess`` on SRC's videos.

    When SRC is the folder the gate was fitted on, only its test videos are measured (the same held-out steps as
    fuse-train's); for any other folder, every video of it is. Writes eval_results.json and eval/report.md into ``output_dir``
    (default: the model folder)."""
    model = load_fusion(model_ref)
    runners = load_runners(model, strict)
    steps = collect_steps(dataset, runners, model.grid_hz, progress)
    splits = model.config.get("splits") or {}
    same_data = splits.get("dataset") == str(Path(dataset).resolve())  # clip names alone could repeat across datasets
    fitted = set(splits.get("gate_train", [])) | set(splits.get("validation", [])) if same_data else set()
    held_out = [s for s in steps if s.clip not in fitted]
    if not held_out:
        raise KernelLaughError(f"{dataset}: every video there was used to fit the gate; nothing is held out")
    results = assess(model.gate, held_out, model.threshold, Hysteresis(**model.hysteresis))
    results |= {"split": "test" if len(held_out) < len(steps) else "all", "synthetic": model.synthetic,
                "dataset": str(dataset)}
    out = Path(output_dir or model.folder)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "eval_results.json", json.dumps(results, indent=2) + "\n")
    _write_report(out, results, model.synthetic)
    return results


def headline(results: dict[str, Any]) -> str:
    """One line for the console: fused vs best expert, with the paired interval."""
    tag = " (SYNTHETIC)" if results.get("synthetic") else ""
    d = results.get("fused_minus_best_expert") or {}
    diff = "" if d.get("difference") is None else (
        f"; fused - {d['expert']} {d['difference']:+.3f}" + (f" [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
                                                              if d.get("ci_low") is not None else " (no interval)"))
    auc = results.get("roc_auc")
    return (f"{results.get('split', 'test')}{tag}: {results['num_samples']} steps of {results['num_clips']} videos; fused "
            f"ROC AUC {'n/a' if auc is None else f'{auc:.3f}'}{diff}")
