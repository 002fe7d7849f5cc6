"""``kernel-laugh``: the command line. Parses arguments into the config dataclasses once and calls the
library. Nothing imports this module."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_type_hints

from kernel_laugh import REPO_URL, __version__
from kernel_laugh.config import (PRESETS, REGIONS, CardConfig, CompareConfig, DataConfig, EvalConfig, FuseTrainConfig,
                                 HubConfig, LRFindConfig, ModelConfig, TrainConfig, add_dataclass_arguments,
                                 apply_preset, from_namespace, load_config_file)
from kernel_laugh.errors import KernelLaughError
from kernel_laugh.results import format_interval

if TYPE_CHECKING:  # the CLI imports torch and transformers only for the commands that need them
    from kernel_laugh.inference import Predictor  # lazy: loads when the command runs

EXAMPLES = """examples:
  kernel-laugh train --preset sample --output-dir runs/sample      # SYNTHETIC sample, minutes on a CPU
  kernel-laugh train --preset brain --dataset frames/ --group-column clip --output-dir runs/brain
  kernel-laugh predict runs/sample frame.png --json
  kernel-laugh evaluate runs/sample --target-recall 0.9 --calibrate --explain 8   # report in runs/sample/eval/
  kernel-laugh explain runs/sample frame.png --output frame_gradcam.png
  kernel-laugh compare runs/original runs/brain --dataset frames/ --group-column segment --positive-label laughter
  kernel-laugh demo runs/sample --port 7860                        # the Space's app, locally
  kernel-laugh sample --output-dir data/synthetic                  # the sample as an ImageFolder
  kernel-laugh push runs/brain --repo-id me/kernel-laugh-resnet18 --dry-run   # what would be uploaded
  kernel-laugh push-space --repo-id me/kernel-laugh-demo --model me/kernel-laugh-resnet18
  kernel-laugh fuse-train --preset fusion-sample --output-dir runs/fusion   # SYNTHETIC brain+face+audio, gated
  kernel-laugh timeline runs/fusion video.mp4 --output timeline/           # per-expert, gate weights, fused
"""


RUN_CONFIGS = (DataConfig, ModelConfig, TrainConfig, CardConfig)  # the settings of a run, as in training_args.json


def _train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a classifier and write a Hub-ready model folder",
                       description="Train a timm classifier with Accelerate. The output folder holds config.json, "
                       "model.safetensors, README.md (model card), eval_results.json (held-out test split), "
                       "training_args.json, plots, and the resumable state in checkpoints/ (never uploaded). "
                       "Several processes: accelerate launch [--config_file scripts/accelerate_2cpu.yaml] "
                       "scripts/train.py ... (same flags). Settings come from, weakest first: defaults, --preset, "
                       "--config FILE, flags.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_run_arguments(p)
    add_dataclass_arguments(p, HubConfig)
    return p


def _lr_find_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("lr-find", help="learning-rate range test: plot loss against learning rate, suggest a rate",
                       description="Train briefly on the training split while the learning rate grows exponentially "
                       "from --start-lr to --end-lr (the backbone at --backbone-lr-scale of it, head-only when "
                       "--freeze-epochs > 0, as training would start), then write OUTPUT_DIR/lr_find.png and "
                       "lr_find.json and print a suggested --learning-rate: always a rate inside the tested range, "
                       "with a warning when the loss did not clearly fall. Takes every `train` flag.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_run_arguments(p)
    add_dataclass_arguments(p, LRFindConfig)
    return p


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="named defaults: 'sample' = the SYNTHETIC sample, 64 px, from scratch; 'brain' = real "
                   "brain renders, 224 px, pretrained fine-tuning; 'kernel-laughter' = 'brain' on the original Hub "
                   "data (evdev3/kernel-neural-data) with resnet18.tv_in1k; 'fer2013' = FER2013's 7 emotions (its "
                   "CSV or train/ test/ folders); 'emotion6' = the same without 'disgust'; 'smile' = happy vs neutral "
                   "from UTKFace-named images (age, gender, race become metadata); flags you give still win")
    p.add_argument("--config", metavar="FILE", help="YAML or JSON file of settings (field names as keys, e.g. "
                   "learning_rate: 0.001, at the top level or under DataConfig:/ModelConfig:/TrainConfig:; an earlier "
                   "run's training_args.json works); may name a preset; flags you give still win")
    for cls in RUN_CONFIGS:
        add_dataclass_arguments(p, cls)


def _parse_layered(p: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Defaults < --preset < --config FILE < flags: the preset and the file become the parser's defaults."""
    first, _ = p.parse_known_args(argv)
    field_types = {name: tp for c in RUN_CONFIGS for name, tp in get_type_hints(c).items()}
    from_file = load_config_file(first.config, field_types) if first.config else {}
    preset = first.preset or from_file.pop("preset", None)
    # --modality audio alone brings the audio expert's defaults (its model, windows and split), as a preset would.
    apply_preset(p, preset or ("audio" if (first.modality or from_file.get("modality")) == "audio" else None))
    from_file.pop("preset", None)
    p.set_defaults(**from_file)
    return p.parse_args(argv)


def parse_train_args(argv: list[str]) -> tuple[DataConfig, ModelConfig, TrainConfig, CardConfig]:
    """Parse ``train`` arguments (shared by the CLI and scripts/train.py)."""
    parser = argparse.ArgumentParser(prog="kernel-laugh")
    ns = _parse_layered(_train_parser(parser.add_subparsers()), argv)
    return tuple(from_namespace(c, ns) for c in RUN_CONFIGS)  # type: ignore[return-value]


def parse_lr_find_args(argv: list[str]) -> tuple[DataConfig, ModelConfig, TrainConfig, LRFindConfig]:
    parser = argparse.ArgumentParser(prog="kernel-laugh")
    ns = _parse_layered(_lr_find_parser(parser.add_subparsers()), argv)
    return (*(from_namespace(c, ns) for c in RUN_CONFIGS[:3]), from_namespace(LRFindConfig, ns))  # type: ignore[return-value]


def cmd_lr_find(argv: list[str]) -> int:
    from kernel_laugh.lr_find import lr_find  # lazy: loads when the command runs

    data_cfg, model_cfg, train_cfg, find_cfg = parse_lr_find_args(argv)
    result = lr_find(data_cfg, model_cfg, train_cfg, find_cfg)
    if result["is_main_process"]:
        if result["warning"]:
            print(f"warning: {result['warning']}", file=sys.stderr)
        how = "steepest fall of the smoothed loss" if result["clear_descent"] else "lowest smoothed loss; NO clear descent"
        print(f"suggested learning rate: {result['suggested_lr']:.2e} ({how}; plot: "
              f"{result['plot']}). Train with --learning-rate {result['suggested_lr']:.2e}")
    return 0


def parse_hub_args(argv: list[str]) -> HubConfig:
    """The ``--push-to-hub`` flags of ``train`` (the full train parser has already validated ``argv``)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_dataclass_arguments(parser, HubConfig)
    return from_namespace(HubConfig, parser.parse_known_args(argv)[0])


def cmd_train(argv: list[str]) -> int:
    from kernel_laugh.training import fit, is_main_process  # lazy: loads when the command runs

    data_cfg, model_cfg, train_cfg, card_cfg = parse_train_args(argv)
    hub_cfg = parse_hub_args(argv)
    _prepare_push(hub_cfg, data_cfg, card_cfg)
    results = fit(data_cfg, model_cfg, train_cfg, card_cfg)
    tag = " (SYNTHETIC sample: not a result on real data)" if results.get("synthetic") else ""
    main_process = is_main_process()  # under `accelerate launch` every process returns the results: print once
    if main_process:
        print(f"test{tag}: accuracy {results['accuracy']:.3f}, f1 {results['f1']:.3f}, roc_auc "
              f"{results['roc_auc'] if results['roc_auc'] is None else round(results['roc_auc'], 3)} on {results['num_samples']} images")
    # Under `accelerate launch` every process runs this; only the main one uploads.
    if hub_cfg.push_to_hub and main_process:
        from kernel_laugh.hub import push_model  # lazy: loads when the command runs

        try:
            url = push_model(train_cfg.output_dir, hub_cfg.hub_model_id, private=hub_cfg.hub_private)
        except KernelLaughError as err:  # hours of training are not lost: say how to retry the upload alone
            raise KernelLaughError(f"{err} (the trained model is saved in {train_cfg.output_dir}; retry with "
                                   f"`kernel-laugh push {train_cfg.output_dir} --repo-id {hub_cfg.hub_model_id}`)") from err
        print(f"pushed to {url}")
    return 0


def _prepare_push(hub_cfg: HubConfig, data_cfg: DataConfig, card_cfg: CardConfig) -> None:
    """Fail before training, not after it, when a push cannot happen; make the card name the Hub ids."""
    from kernel_laugh.readers.models import is_hub_id  # lazy: loads when the command runs

    if card_cfg.dataset_id is None and is_hub_id(data_cfg.dataset) and not Path(data_cfg.dataset).exists():
        card_cfg.dataset_id = data_cfg.dataset  # a Hub dataset: the card's metadata links it
    if not hub_cfg.push_to_hub:
        return
    from kernel_laugh.hub import check_repo_id, require_token  # lazy: loads when the command runs

    if not hub_cfg.hub_model_id:
        raise KernelLaughError("--push-to-hub needs --hub-model-id OWNER/NAME")
    check_repo_id(hub_cfg.hub_model_id, "--hub-model-id")
    require_token()
    card_cfg.model_id = card_cfg.model_id or hub_cfg.hub_model_id


def cmd_push(args: argparse.Namespace) -> int:
    from kernel_laugh.hub import has_token, plan_model_upload, push_model  # lazy: loads when the command runs

    if args.dry_run:
        print(plan_model_upload(args.model_dir, args.repo_id, keep_readme=args.keep_readme).describe())
        print("dry run: nothing uploaded, no network used" + ("" if has_token() else
              "; no Hugging Face token found: set HF_TOKEN or run `hf auth login` before the real push"))
        return 0
    url = push_model(args.model_dir, args.repo_id, private=args.private, revision=args.revision,
                     create_pr=args.create_pr, keep_readme=args.keep_readme)
    print(f"pushed {args.model_dir} to {url}")
    return 0


def cmd_push_dataset(args: argparse.Namespace) -> int:
    from kernel_laugh.hub import plan_dataset_upload, push_dataset  # lazy: loads when the command runs

    cfg = DataConfig(dataset=args.source, image_column=args.image_column, label_column=args.label_column,
                     group_column=args.group_column, split_seed=args.split_seed)
    if args.dry_run:
        print(plan_dataset_upload(cfg, args.repo_id, license=args.license, description=args.description).describe())
        print("dry run: nothing uploaded")
        return 0
    url = push_dataset(cfg, args.repo_id, private=args.private, license=args.license, description=args.description)
    print(f"pushed the dataset to {url}")
    return 0


def cmd_push_space(args: argparse.Namespace) -> int:
    from kernel_laugh.hub import plan_space_upload, push_space  # lazy: loads when the command runs

    if args.dry_run or args.stage:
        upload = plan_space_upload(args.space_dir, args.repo_id, args.model)
        print(upload.describe())
        if args.stage:
            print(f"staged in {upload.bundle.write(args.stage)} (run it: cd {args.stage} && python app.py --model DIR)")
        print("dry run: nothing uploaded, no network used")
        return 0
    url = push_space(args.space_dir, args.repo_id, args.model, private=args.private)
    print(f"pushed the Space to {url} (serving {args.model}; it restarts with the new files)")
    return 0


def _add_hub_parsers(sub: argparse._SubParsersAction) -> None:
    """``push``, ``push-dataset`` and ``push-space``: publishing, all through kernel_laugh.hub."""
    token_note = " Needs a token with write access: HF_TOKEN or `hf auth login` (never printed)."
    p = sub.add_parser("push", help="upload a trained model folder to the Hub (one commit, never checkpoints/)",
                       description="Create the model repo if needed and upload MODEL_DIR in one commit: README.md (the "
                       "model card, re-rendered so its snippets and model-index name --repo-id), config.json, "
                       "model.safetensors, eval_results.json, training_args.json, plots and the eval report. Training "
                       "state (checkpoints/, pickles, caches) is never uploaded. Prints the repo URL." + token_note)
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by `kernel-laugh train`")
    p.add_argument("--repo-id", required=True, metavar="OWNER/NAME", help="Hub model repo, e.g. me/kernel-laugh-resnet18")
    p.add_argument("--private", action="store_true", help="create the repo as private (no effect if it exists)")
    p.add_argument("--revision", metavar="BRANCH", help="commit to this branch (created from main if missing); "
                   "with --create-pr, the branch the pull request targets")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing directly")
    p.add_argument("--keep-readme", action="store_true", help="upload the folder's README.md as it is (e.g. after "
                   "editing it by hand) instead of re-rendering the card")
    p.add_argument("--dry-run", action="store_true", help="list exactly the files that would be uploaded and the "
                   "card's metadata; no network, no token needed")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("push-dataset", help="publish an image dataset (e.g. frames from video) with a dataset card",
                       description="Load SOURCE exactly as `train --dataset` does (ImageFolder, save_to_disk folder, "
                       ".parquet/.csv, 'sample'), make the same train/validation/test splits, and publish them as a "
                       "Hub dataset (images embedded in Parquet) with a dataset card: features, label names, splits, "
                       "how it was made, group column." + token_note)
    p.add_argument("source", metavar="SOURCE", help="image folder, save_to_disk folder, .parquet/.csv, or 'sample'")
    p.add_argument("--repo-id", required=True, metavar="OWNER/NAME", help="Hub dataset repo")
    p.add_argument("--group-column", help="metadata column (clip, session, segment...) kept on one side of the split")
    p.add_argument("--image-column", help="image column (default: detected)")
    p.add_argument("--label-column", help="label column (default: detected)")
    p.add_argument("--split-seed", type=int, default=42, help="seed of the split, as in train (default: %(default)s)")
    p.add_argument("--license", default="apache-2.0", help="license in the card (default: %(default)s)")
    p.add_argument("--description", help="how the data was made, for the card (e.g. which videos, crop, labelling)")
    p.add_argument("--private", action="store_true", help="create the repo as private (no effect if it exists)")
    p.add_argument("--dry-run", action="store_true", help="print the splits and the dataset card; upload nothing")
    p.set_defaults(func=cmd_push_dataset)

    p = sub.add_parser("push-space", help="upload space/ as a Gradio Space serving a Hub model",
                       description="Create the Space if needed (sdk gradio) and upload a self-contained Space in one "
                       "commit: --space-dir's app.py (and any assets), a copy of the installed kernel_laugh package "
                       "beside it, a requirements.txt generated from the package's dependencies and its space, video "
                       "and faces extras, and README.md with --model in its models: front matter and sdk_version set "
                       "to the installed gradio. Then set the Space variable KERNEL_LAUGH_MODEL to --model, which "
                       "app.py serves." + token_note)
    p.add_argument("--repo-id", required=True, metavar="OWNER/NAME", help="Hub Space repo")
    p.add_argument("--model", required=True, metavar="OWNER/NAME", help="Hub model id the Space serves")
    p.add_argument("--space-dir", default="space", help="folder with app.py and README.md (default: %(default)s)")
    p.add_argument("--private", action="store_true", help="create the Space as private (no effect if it exists)")
    p.add_argument("--dry-run", action="store_true", help="list every file that would be uploaded with its size, and "
                   "the front matter; no network, no token needed")
    p.add_argument("--stage", metavar="DIR", help="write exactly those files into DIR (new or empty) instead of "
                   "uploading, to run or inspect the Space locally (implies --dry-run)")
    p.set_defaults(func=cmd_push_space)


def cmd_predict(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from kernel_laugh.audio.predict import is_audio_model  # lazy: loads when the command runs

    if is_audio_model(args.model):  # an audio expert: the inputs are sound files (or videos' soundtracks)
        return _predict_audio(args)
    if getattr(args, "faces", False):
        return _predict_faces(_predictor(args), args)
    results = _predictor(args).predict_files(args.images, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(r["image"] + ": " + ", ".join(f"{p['label']} {p['score']:.3f}" for p in r["predictions"])
                  + f" -> {r['decision']}")
    return 0


def _predict_audio(args: argparse.Namespace) -> int:
    """predict with an audio model: every window's and the whole clip's probabilities, per file."""
    from kernel_laugh.audio.predict import AudioPredictor  # lazy: loads when the command runs

    predictor = AudioPredictor(args.model, device=args.device, batch_size=args.batch_size)
    results = [predictor.predict_file(p) for p in args.images]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        clip = ", ".join(f"{lab} {p:.3f}" for lab, p in r["clip"].items())
        peak = ", ".join(f"{lab} {p:.3f}" for lab, p in r["peak"].items())
        print(f"{r['file']}: {len(r['windows'])} window(s) of {r['window_seconds']:g} s; clip mean {clip}; peak {peak}")
    return 0


def _predict_faces(predictor, args: argparse.Namespace) -> int:
    """predict --faces: detect faces (Haar cascade), classify each crop; one result per face with its box."""
    from kernel_laugh.faces import predict_faces  # lazy: loads when the command runs
    from kernel_laugh.readers.images import read_image  # lazy: loads when the command runs

    images = [read_image(p) for p in args.images]  # every file checked before any work
    results = [{"image": str(p), "faces": predict_faces(predictor, im)} for p, im in zip(args.images, images)]
    if args.json:
        print(json.dumps(results, indent=2))
    for r in results if not args.json else []:
        print(f"{r['image']}: no face found" if not r["faces"] else "\n".join(
            f"{r['image']} face at {tuple(f['box'])}: " + ", ".join(f"{p['label']} {p['score']:.3f}" for p in f["predictions"][:3])
            for f in r["faces"]))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from kernel_laugh.sample import write_image_folder  # lazy: loads when the command runs

    out = write_image_folder(args.output_dir, n=args.n, size=args.size, seed=args.seed)
    print(f"wrote {args.n} SYNTHETIC brain renders to {out} (ImageFolder layout + metadata.csv with 'session')")
    return 0


def cmd_import_legacy(args: argparse.Namespace) -> int:
    from kernel_laugh.legacy import import_legacy  # lazy: loads when the command runs

    out = import_legacy(args.source, args.output_dir)
    print(f"imported {args.source} → {out} (loads with pipeline('image-classification') and timm)")
    return 0


def _video_crop(args: argparse.Namespace) -> tuple[int, int, int, int] | str | None:
    from kernel_laugh.video import parse_crop  # lazy: loads when the command runs

    return parse_crop(args.crop) if args.crop else args.region


def cmd_frames(args: argparse.Namespace) -> int:
    from kernel_laugh.video import export_frames, load_segments  # lazy: loads when the command runs

    segments = load_segments(args.segments)
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    for video in args.videos:
        counts = export_frames(video, segments, args.output, fps=args.fps, crop=_video_crop(args),
                               default_label=args.default_label, classes=classes, image_format=args.format)
        print(f"{video}: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) + f" frames → {args.output}")
    print(f"train on it with: kernel-laugh train --dataset {args.output} --group-column segment")
    return 0


def _add_speed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto: bf16 where the hardware runs it natively (AVX512-BF16/AMX CPUs, bf16 GPUs; "
                   "probabilities within 0.02 of fp32), else fp32, which matches plain pipeline to ~1e-6")


def _predictor(args: argparse.Namespace) -> Predictor:
    from kernel_laugh.inference import Predictor  # lazy: loads when the command runs

    return Predictor(args.model, device=args.device, precision=args.precision)


def cmd_timeline(args: argparse.Namespace) -> int:
    # lazy: loads when the command runs
    from kernel_laugh.fusion.artefact import is_fusion_folder
    # lazy: loads when the command runs
    from kernel_laugh.video import (default_segment_label, find_segments, predict_timeline, summarise_segments,
                                    write_timeline)

    _quiet_transformers()
    if is_fusion_folder(args.model):  # a gated mixture of experts (fuse-train): every expert, gate weights, fused
        return _fusion_timeline(args)
    from kernel_laugh.audio.predict import is_audio_model  # lazy: loads when the command runs

    if is_audio_model(args.model):
        return _audio_timeline(args)
    predictor = _predictor(args)
    label = args.label or predictor.positive_label or default_segment_label(predictor.label_names)
    if label not in predictor.label_names:
        raise KernelLaughError(f"--label {label!r} is not one of the model's labels {predictor.label_names}")
    timeline = predict_timeline(predictor, args.video, fps=args.fps, crop=_video_crop(args), batch_size=args.batch_size)
    segments = find_segments(timeline, label, on=args.on, off=args.off, min_duration=args.min_duration, smooth=args.smooth)
    paths = write_timeline(timeline, segments, args.output, label=label)
    print(summarise_segments(segments, label))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _fusion_timeline(args: argparse.Namespace) -> int:
    from kernel_laugh.fusion.timeline import fusion_timeline  # lazy: loads when the command runs
    from kernel_laugh.video import summarise_segments  # lazy: loads when the command runs

    result = fusion_timeline(args.model, args.video, args.output, strict=args.strict, device=args.device)
    print(result.summary())
    print(summarise_segments(result.segments, "fused laughter"))
    print("wrote " + ", ".join(str(p) for p in result.paths.values()))
    return 0


def _audio_timeline(args: argparse.Namespace) -> int:
    """timeline with an audio model: P(label) at every hop of the soundtrack; no audio stream → an empty track."""
    from kernel_laugh.audio.predict import AudioPredictor  # lazy: loads when the command runs
    # lazy: loads when the command runs
    from kernel_laugh.video import default_segment_label, find_segments, summarise_segments, write_timeline

    predictor = AudioPredictor(args.model, device=args.device, batch_size=max(args.batch_size, 64))
    label = args.label or default_segment_label(predictor.label_names)
    if label not in predictor.label_names:
        raise KernelLaughError(f"--label {label!r} is not one of the model's labels {predictor.label_names}")
    track = predictor.timeline(args.video)
    if not track.rows:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "timeline.csv").write_text(",".join(["time", *predictor.label_names]) + "\n")
        (out / "segments.csv").write_text("start,end,peak,mean\n")
        print(f"{args.video}: {track.status}: empty audio track (wrote {out / 'timeline.csv'}, {out / 'segments.csv'})")
        return 0
    segments = find_segments(track.rows, label, on=args.on, off=args.off, min_duration=args.min_duration, smooth=args.smooth)
    paths = write_timeline(track.rows, segments, args.output, label=label)
    print(f"{args.video}: audio, {track.duration:.1f} s, windows of {predictor.window_seconds:g} s every "
          f"{predictor.hop_seconds:g} s")
    print(summarise_segments(segments, label))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_audio_zero_shot(args: argparse.Namespace) -> int:
    from kernel_laugh.audio.model import zero_shot  # lazy: loads when the command runs

    _quiet_transformers()
    out = zero_shot(args.checkpoint, args.output_dir)
    print(f"wrote a zero-shot laughter model to {out} (P(laughter) = noisy-OR of the sigmoid scores of its AudioSet "
          f"laughter classes); use it with `kernel-laugh predict {out} clip.wav` or `timeline`")
    return 0


def _fuse_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("fuse-train", help="train a gate over brain / face / audio experts: a fusion model folder",
                       description="Run two or more frozen experts (--brain, --face, --audio) once over every video of "
                       "--dataset (videos with labels.csv, which the experts did not train on), split the videos into "
                       "gate-train / validation / test, train a softmax gate over the available experts with per-expert "
                       "Platt calibration and modality dropout (Accelerate), choose temperature and threshold on "
                       "validation, and write OUTPUT_DIR: config.json (experts and revisions, time grid, quality "
                       "features, threshold, temperature), model.safetensors, README.md, eval_results.json, "
                       "eval/report.md. Use it with `timeline`, `evaluate` and `push`.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=["fusion-sample"], help="'fusion-sample': generate the SYNTHETIC multimodal "
                   "sample, train its brain, face and audio experts on its expert videos, then the gate on its other "
                   "videos (no --brain/--face/--audio/--dataset needed)")
    add_dataclass_arguments(p, FuseTrainConfig)
    p.set_defaults(func=cmd_fuse_train)
    return p


def cmd_fuse_train(args: argparse.Namespace) -> int:
    from kernel_laugh.fusion.commands import fuse_train, headline  # lazy: loads when the command runs
    from kernel_laugh.outputs import check_output_dir  # lazy: loads when the command runs

    _quiet_transformers()
    cfg = from_namespace(FuseTrainConfig, args)
    specs, synthetic = None, False
    if args.preset == "fusion-sample":
        from kernel_laugh.fusion.sample import train_sample_experts, write_fusion_sample  # lazy: trains experts, only here

        out = Path(cfg.output_dir)
        check_output_dir(out, overwrite=cfg.overwrite_output_dir, resume=False)  # before minutes of expert training
        sample = write_fusion_sample(out / "sample", seed=cfg.seed)
        specs = train_sample_experts(sample, out / "experts")
        cfg.dataset, synthetic = str(sample.fusion_videos), True
    results = fuse_train(cfg, specs, synthetic=synthetic)
    print(headline(results))
    print(f"wrote {cfg.output_dir} (report: {Path(cfg.output_dir) / 'eval' / 'report.md'})")
    return 0


def _add_video_parsers(sub: argparse._SubParsersAction) -> None:
    """``frames`` and ``timeline``: video → labelled ImageFolder, and video → laughter timeline."""
    def crop_options(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--crop", metavar="X,Y,W,H", help="crop every frame to this box (pixels of the frame as "
                       "displayed, a phone clip's rotation applied)")
        g.add_argument("--region", choices=sorted(REGIONS), help="a named crop from the original 3840x2160 podcast "
                       "frames, scaled to the video's size: brain = rows 600:1400, columns 1900:2950; person = columns 500:1800")

    p = sub.add_parser("frames", help="sample videos into a labelled ImageFolder with metadata.csv (for train)",
                       description="Sample each VIDEO at --fps frames per second, crop, label each frame by the "
                       "segment of --segments it falls in, and write OUTPUT/<i>_<label>/<video>_<time>s.png plus "
                       "OUTPUT/metadata.csv (file_name, video, time, segment). 'segment' is the group column for "
                       "`train --group-column segment`, so one segment never sits on both sides of a split. Running "
                       "again with other videos appends; re-running a video replaces its frames.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (anything FFmpeg reads: mp4, mkv, mov...)")
    p.add_argument("--segments", required=True, metavar="LABELS.csv",
                   help="CSV with columns start,end,label (times in seconds or mm:ss; a segment is [start, end)) and "
                   "optionally video (a file name: the row applies to that video only)")
    p.add_argument("--output", "--output-dir", dest="output", required=True, help="ImageFolder to write or extend")
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second of video (default: %(default)s)")
    crop_options(p)
    p.add_argument("--default-label", help="label for frames outside every segment (default: skip them)")
    p.add_argument("--classes", metavar="A,B,...", help="class order for the folder prefixes (class 1 is the positive "
                   "class of binary metrics; default: the default label and non-/neutral-like names first)")
    p.add_argument("--format", choices=["png", "jpg"], default="png", help="image file format (default: %(default)s)")
    p.set_defaults(func=cmd_frames)

    p = sub.add_parser("timeline", help="run a model over a video: timeline.csv, segments.csv, timeline.png",
                       description="Classify VIDEO's frames sampled at --fps and write OUTPUT/timeline.csv (time and "
                       "each class's probability), OUTPUT/segments.csv (the --label segments: start, end, peak, mean "
                       "probability) and OUTPUT/timeline.png. Segments: a running median over --smooth seconds, then "
                       "hysteresis (open at --on, close below --off), then segments shorter than --min-duration dropped.")
    p.add_argument("model", help="model folder (e.g. runs/sample) or Hub id (user/name)")
    p.add_argument("video", help="video file (with an audio model: its soundtrack, or an audio file, is scored "
                   "at every --hop of the model; a video without audio gives an empty 'no audio' track)")
    p.add_argument("--output", "--output-dir", dest="output", required=True, help="folder for the three files")
    p.add_argument("--fps", type=float, default=1.0, help="frames classified per second of video (default: %(default)s)")
    crop_options(p)
    p.add_argument("--label", help="class whose segments to find (default: the positive_label in the model's "
                   "config.json, else laughter, else a binary model's class 1)")
    p.add_argument("--on", type=float, default=0.6, help="probability that opens a segment (default: %(default)s)")
    p.add_argument("--off", type=float, default=0.4, help="probability below which a segment closes (default: %(default)s)")
    p.add_argument("--min-duration", type=float, default=1.0, help="shortest segment kept, in seconds (default: %(default)s)")
    p.add_argument("--smooth", type=float, default=4.0, metavar="SECONDS",
                   help="width of the running median applied before the thresholds (0 = none) (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=16, help="frames per model call (default: %(default)s)")
    p.add_argument("--device", default=None, help="'cpu', 'cuda', a GPU index... (default: CPU)")
    _add_speed_arguments(p)
    p.add_argument("--strict", action="store_true", help="fusion models: an expert whose revision differs from the one "
                   "the gate was trained with is an error (default: a warning)")
    p.set_defaults(func=cmd_timeline)
    _fuse_train_parser(sub)

    p = sub.add_parser("audio-zero-shot", help="an AudioSet AST checkpoint → a laughter model folder, without training",
                       description="Copy an AudioSet audio classifier (e.g. MIT/ast-finetuned-audioset-10-10-0.4593; "
                       "needs the Hub once, or a local folder) to OUTPUT_DIR and mark its laughter classes (Laughter, "
                       "Baby laughter, Giggle, Snicker, Belly laugh, Chuckle/chortle). `predict` and `timeline` then "
                       "report P(laughter) = 1 - prod(1 - sigmoid(z_k)) over those classes: AudioSet models are "
                       "multi-label, so their scores combine as a noisy-OR, not as a softmax sum.")
    p.add_argument("checkpoint", help="Hub id or folder of an AudioSet AST checkpoint")
    p.add_argument("--output-dir", required=True, help="folder to write (config.json, model.safetensors, preprocessor_config.json)")
    p.set_defaults(func=cmd_audio_zero_shot)


def cmd_demo(args: argparse.Namespace) -> int:
    from kernel_laugh.demo import launch  # lazy: loads when the command runs

    _quiet_transformers()
    launch(args.model, port=args.port, share=args.share, host=args.host, device=args.device)
    return 0


def _evaluate_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="measure a model folder on a split: eval_results.json and an eval/ report",
                       description="Run MODEL over a split and write OUTPUT_DIR/eval_results.json and OUTPUT_DIR/eval/ "
                       "(report.md with the per-class and summary tables, confusion_matrix.png, roc.png, pr.png, "
                       "calibration.png, subgroup plots). Every headline metric gets a 95 percent interval whose spread "
                       "is measured between groups of --group-column (clips, sessions): cluster-robust and Obuchowski "
                       "intervals with few-groups degrees of freedom, honest with only a handful of groups. The data options default to the "
                       "ones in MODEL/training_args.json, so with no --dataset the model is measured on its own "
                       "held-out split; flags you give win. "
                       "A fusion folder (from fuse-train) takes --dataset VIDEOS (videos + labels.csv), --output-dir and "
                       "--strict, and reports the fused model against each expert alone, their equal-weight mean and "
                       "the fused model with each modality removed, with paired intervals.")
    p.add_argument("model", help="model folder (e.g. runs/sample)")
    add_dataclass_arguments(p, DataConfig)
    # What --help shows is what parse_evaluate_args does: the data flags default to MODEL's training_args.json.
    p.set_defaults(dataset=None)
    for action in p._actions:
        if action.dest == "dataset":
            action.help = DataConfig.__dataclass_fields__["dataset"].metadata["help"] + \
                " (default: the data MODEL was trained on, from MODEL/training_args.json)"
        elif action.dest in DataConfig.__dataclass_fields__ and action.help and "%(default)s" in action.help:
            action.help = action.help.replace("(default: %(default)s)", "(default: MODEL/training_args.json's, else "
                                              "%(default)s)")
    add_dataclass_arguments(p, EvalConfig)
    return p


def parse_evaluate_args(argv: list[str]) -> tuple[str, DataConfig, EvalConfig]:
    from kernel_laugh.evaluation import training_data_defaults  # lazy: loads when the command runs

    parser = argparse.ArgumentParser(prog="kernel-laugh")
    p = _evaluate_parser(parser.add_subparsers())
    first, _ = p.parse_known_args(argv)
    p.set_defaults(**{"dataset": None} | training_data_defaults(first.model))  # the folder's training data, if known
    ns = p.parse_args(argv)
    from kernel_laugh.readers.models import resolve_model_ref  # lazy: loads when the command runs

    resolve_model_ref(ns.model, local_only=True)  # no or a damaged model folder: say that, before anything about the data
    if ns.dataset is None:
        raise KernelLaughError(f"give --dataset: {first.model} has no training_args.json to take the data from")
    return ns.model, from_namespace(DataConfig, ns), from_namespace(EvalConfig, ns)


def _evaluate_fusion(argv: list[str]) -> int | None:
    """``evaluate`` on a fusion folder (None when MODEL is not one): the held-out comparisons of fusion.evaluation."""
    from kernel_laugh.fusion.artefact import is_fusion_folder  # lazy: loads when the command runs

    p = argparse.ArgumentParser(prog="kernel-laugh evaluate")
    p.add_argument("model")
    p.add_argument("--dataset")
    p.add_argument("--output-dir")
    p.add_argument("--strict", action="store_true")
    ns, rest = p.parse_known_args(argv)
    if not is_fusion_folder(ns.model):
        return None
    if rest or not ns.dataset:
        raise KernelLaughError("evaluate on a fusion folder takes --dataset VIDEOS (a folder of videos with labels.csv) "
                               f"and optionally --output-dir, --strict{f'; not {rest}' if rest else ''}")
    from kernel_laugh.fusion.commands import evaluate_fusion, headline  # lazy: loads when the command runs

    r = evaluate_fusion(ns.model, ns.dataset, ns.output_dir, strict=ns.strict)
    print(headline(r))
    print(f"report: {Path(ns.output_dir or ns.model) / 'eval' / 'report.md'}")
    return 0


def cmd_evaluate(argv: list[str]) -> int:
    import datasets  # lazy: loads when the command runs

    from kernel_laugh.evaluation import REPORT_DIR, evaluate_model  # lazy: loads when the command runs

    fused = _evaluate_fusion(argv)
    if fused is not None:
        return fused

    datasets.disable_progress_bars()  # keep the output to results, or to the one-line error
    model, data_cfg, eval_cfg = parse_evaluate_args(argv)
    from kernel_laugh.audio.predict import is_audio_model  # lazy: loads when the command runs

    if is_audio_model(model):
        raise KernelLaughError(f"{model}: `evaluate` scores image models only for now; an audio model's held-out "
                               "results are in its eval_results.json and eval/report.md, written by `train`")
    r = evaluate_model(model, data_cfg, eval_cfg)
    tag = " (SYNTHETIC sample: not a result on real data)" if r.get("synthetic") else ""

    def show(m: str) -> str:
        return f"{m} {r[m]:.3f}" + format_interval(r, m, " [{low:.3f}-{high:.3f}]", "") if r.get(m) is not None else f"{m} n/a"

    print(f"{r['split']}{tag}, {r['num_samples']} images: " + ", ".join(show(m) for m in ("accuracy", "f1", "roc_auc", "pr_auc")))
    if eval_cfg.target_recall is not None or eval_cfg.target_precision is not None:
        where = f"stored in {model}/config.json" if eval_cfg.save_threshold else "not stored (--no-save-threshold)"
        print(f"decision threshold {r['decision_threshold']:.4f} (fitted on validation), {where}")
    print(f"report: {Path(eval_cfg.output_dir or model) / REPORT_DIR / 'report.md'}")
    return 0


def _compare_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="is model B better than model A? paired differences on the same images",
                       description="Score every MODEL on the same split (each with its own preprocessing) and write "
                       "OUTPUT_DIR/compare.json, compare.md and compare.png: each model's metrics with 95 percent "
                       "intervals, and for each model after the first the paired difference (model - first) with a 95 "
                       "percent interval over the same clips/sessions for both, plus DeLong's test (ROC AUC) and "
                       "McNemar's test (accuracy). Models with different labels are compared on --positive-label against "
                       "the rest. The data options default to the first model's training_args.json.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more model folders (the first is the reference)")
    add_dataclass_arguments(p, DataConfig)
    add_dataclass_arguments(p, CompareConfig)
    return p


def cmd_compare(argv: list[str]) -> int:
    import datasets  # lazy: loads when the command runs

    from kernel_laugh.comparison import compare_models  # lazy: loads when the command runs
    from kernel_laugh.evaluation import training_data_defaults  # lazy: loads when the command runs

    datasets.disable_progress_bars()
    p = _compare_parser(argparse.ArgumentParser(prog="kernel-laugh").add_subparsers())
    first, _ = p.parse_known_args(argv)
    # The data, not the first run's positive class: models with different labels need it named (--positive-label).
    p.set_defaults(**{"dataset": None} | training_data_defaults(first.models[0]) | {"positive_label": None})
    ns = p.parse_args(argv)
    if ns.dataset is None:
        raise KernelLaughError(f"give --dataset: {ns.models[0]} has no training_args.json to take the data from")
    cfg = from_namespace(CompareConfig, ns)
    r = compare_models(ns.models, from_namespace(DataConfig, ns), cfg)
    tag = " (SYNTHETIC sample)" if r.get("synthetic") else ""
    for i, pair in enumerate(r["comparisons"], start=2):
        shown = []
        for m in ("accuracy", "roc_auc"):
            d = pair["differences"].get(m)
            if d and d["difference"] is not None:
                ci = f" [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]" if d["ci_low"] is not None else " (no interval)"
                shown.append(f"{m} {d['difference']:+.3f}{ci}")
        print(f"model {i} - model 1{tag}: " + ", ".join(shown) + f" over {r['groups']} {'groups' if r['grouped'] else 'frames'}")
    print(f"report: {Path(cfg.output_dir) / 'compare.md'}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from kernel_laugh.explain import gradcam_overlay  # lazy: loads when the command runs
    from kernel_laugh.modeling import label_names_of, load_model  # lazy: loads when the command runs
    from kernel_laugh.readers.images import read_image  # lazy: loads when the command runs

    model = load_model(args.model)
    image = read_image(args.image)
    names = label_names_of(model)
    target = None
    if args.target is not None:
        if args.target not in names and not (args.target.isdigit() and int(args.target) < len(names)):
            raise KernelLaughError(f"--target {args.target!r} is not one of the model's labels {names} (or an index)")
        target = names.index(args.target) if args.target in names else int(args.target)
    picture, heat = gradcam_overlay(model, image, model.pretrained_cfg, target)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.output)
    which = names[target] if target is not None else "the predicted class"
    print(f"wrote {args.output}: Grad-CAM of {which} (layer {type(model).__name__}'s last stage)")
    return 0


def _add_evaluation_parsers(sub: argparse._SubParsersAction) -> None:
    _evaluate_parser(sub)  # parsed on its own in main(): its data defaults come from the model folder
    _compare_parser(sub)  # likewise, from the first model's folder
    p = sub.add_parser("explain", help="Grad-CAM overlay: which regions of an image drive the model's decision",
                       description="Write IMAGE with the Grad-CAM heat map of the backbone's last convolutional stage "
                       "on top (red: regions that raise the target class's score most).")
    p.add_argument("model", help="model folder (e.g. runs/sample)")
    p.add_argument("image", help="image file")
    p.add_argument("--target", default=None, help="label name (or index) to explain (default: the predicted class)")
    p.add_argument("--output", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_explain)


def _quiet_transformers() -> None:
    import transformers  # lazy: loads when the command runs

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kernel-laugh", description="Train, evaluate and serve laughter / emotion "
                                     "image classifiers.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kernel-laugh {__version__}")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", help="also print debugging details (before the command)")
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only results, warnings and errors: no "
                          "progress lines (before the command, e.g. kernel-laugh --quiet train ...)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _train_parser(sub)
    _lr_find_parser(sub)
    p = sub.add_parser("predict", help="label images (or, with an audio model, sound files) with a trained model",
                       description="Image models: label each image. Audio models (e.g. from --preset audio-sample): "
                       "score each window of each audio file (or video soundtrack) and the whole clip (mean and peak).")
    p.add_argument("model", help="model folder (e.g. runs/sample) or Hub id (user/name)")
    p.add_argument("images", nargs="+", help="image files (audio models: audio or video files)")
    p.add_argument("--json", action="store_true", help="print JSON: one object per image with all labels and scores")
    p.add_argument("--device", default=None, help="'cpu', 'cuda', a GPU index... (default: CPU)")
    p.add_argument("--batch-size", type=int, default=32, help="images per model call (default: %(default)s)")
    _add_speed_arguments(p)
    p.add_argument("--faces", action="store_true", help="face-expression models: find faces (OpenCV Haar cascade) and "
                   "classify each one, with its box x,y,w,h (needs the 'faces' extra)")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("sample", help="write the SYNTHETIC sample as an ImageFolder (0_non-laughter/, 1_laughter/)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--n", type=int, default=600, help="number of images")
    p.add_argument("--size", type=int, default=96, help="image height in pixels (width is 4/3 of it)")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("import-legacy", help="convert the original project's pickled .pth model into a standard folder",
                       description="Read a torchvision ResNet-18 state dict (the original laughter model, e.g. "
                       "neural_image_classifier_model.pth, or the Hub repo holding it) safely (tensors only, nothing "
                       "executed) and write a kernel-laugh folder whose pipeline reproduces the original outputs.")
    p.add_argument("source", help=".pth file or Hub model id (e.g. evdev3/kernel-neural-image-laughter-classifier)")
    p.add_argument("--output-dir", required=True, help="folder to write")
    p.set_defaults(func=cmd_import_legacy)
    p = sub.add_parser("demo", help="serve the Gradio app (the Space) for a model on this machine",
                       description="Launch the same Gradio app as the Space for MODEL: an image tab (probabilities, "
                       "the decision at the model's threshold, Grad-CAM), a video tab (a probability timeline and "
                       "segments over the region of each frame the model sees: brain, person, a box typed as x,y,w,h "
                       "or drawn on the first frame, or the whole frame; the default is the region the model was "
                       "trained on, recorded when its frames came from `frames --region/--crop`) and a batch tab. "
                       "Programs call the same endpoints with gradio_client (/classify, /explain, /timeline with its "
                       "region parameter, /classify_files); a bad upload raises the same one-line message there as "
                       "on the page. For a face-expression model the image tab also boxes and labels every face (and "
                       "lists them all), the video tab follows every emotion of the main face over time (charts, "
                       "share of time in each, CSV; /emotions), and a Live tab reads your webcam frame by frame "
                       "(the browser allows the camera on localhost or HTTPS; --share gives an https link). Needs the "
                       "'space' extra (gradio); the video tab needs the 'video' extra, faces the 'faces' extra.")
    p.add_argument("model", help="model folder (e.g. runs/sample) or Hub id (user/name)")
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: gradio's, 7860 or the next free one)")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for your network)")
    p.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    p.add_argument("--device", default=None, help="'cpu', 'cuda', a GPU index... (default: CPU)")
    p.set_defaults(func=cmd_demo)
    _add_video_parsers(sub)
    _add_hub_parsers(sub)
    _add_evaluation_parsers(sub)
    return parser


# Global flags, given before the command (kernel-laugh --quiet train ...): how much the library's loggers say.
VERBOSITY = {"-v": logging.DEBUG, "--verbose": logging.DEBUG, "-q": logging.WARNING, "--quiet": logging.WARNING}


def configure_logging(level: int = logging.INFO) -> None:
    """Send the package's log records (progress, skipped files, fall-backs) to stderr as bare lines.

    The CLI is the application, so it owns the handler; library code only logs. Replaced on every call, so an
    in-process caller (tests, scripts) gets the current stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package = logging.getLogger("kernel_laugh")
    package.handlers = [handler]
    package.setLevel(level)
    package.propagate = False  # an embedding program's root handlers would print every line twice


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    level = logging.INFO
    while argv[:1] and argv[0] in VERBOSITY:
        level = VERBOSITY[argv.pop(0)]
    configure_logging(level)
    if level >= logging.WARNING:  # --quiet: no progress bars from datasets or the Hub either (read when they load)
        for name in ("HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS"):
            os.environ.setdefault(name, "1")
    try:
        if argv[:1] in (["train"], ["lr-find"]):  # flags from the dataclasses, presets and --config: parsed on their own
            if any(a in ("-h", "--help") for a in argv[1:]):
                build_parser().parse_args(argv)
            return (cmd_train if argv[0] == "train" else cmd_lr_find)(argv[1:])
        if argv[:1] == ["evaluate"] and not any(a in ("-h", "--help") for a in argv[1:]):
            return cmd_evaluate(argv[1:])  # its data flags default to the model folder's training_args.json
        if argv[:1] == ["compare"] and not any(a in ("-h", "--help") for a in argv[1:]):
            return cmd_compare(argv[1:])
        args = build_parser().parse_args(argv)
        if not getattr(args, "func", None):
            build_parser().print_help()
            return 2
        return args.func(args)
    except KernelLaughError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # a bug, not bad input: the traceback stays (it follows), with where to report it
        print(f"kernel-laugh {__version__}: unexpected error, most likely a bug. Please report it with the traceback "
              f"below at {REPO_URL}/issues", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
