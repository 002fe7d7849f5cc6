"""``kernel-laugh``: the command line. Parses arguments into the config dataclasses once and calls the
library. Nothing imports this module."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from kernel_laugh import __version__
from kernel_laugh.config import (PRESETS, CardConfig, DataConfig, ModelConfig, TrainConfig, add_dataclass_arguments,
                                 apply_preset, from_namespace)
from kernel_laugh.errors import KernelLaughError

EXAMPLES = """examples:
  kernel-laugh train --preset sample --output-dir runs/sample      # SYNTHETIC sample, minutes on a CPU
  kernel-laugh train --preset brain --dataset frames/ --group-column clip --output-dir runs/brain
  kernel-laugh predict runs/sample frame.png --json
  kernel-laugh sample --output-dir data/synthetic                  # the sample as an ImageFolder
"""


def _train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a classifier and write a Hub-ready model folder",
                       description="Train a timm classifier with Accelerate. The output folder holds config.json, "
                       "model.safetensors, README.md (model card), eval_results.json (held-out test split), "
                       "training_args.json, plots, and the resumable state in checkpoints/ (never uploaded). "
                       "For several GPUs: accelerate launch scripts/train.py ...",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="named defaults: 'sample' = the SYNTHETIC sample, 64 px, from scratch; 'brain' = real "
                   "brain renders, 224 px, pretrained; flags you give still win")
    for cls in (DataConfig, ModelConfig, TrainConfig, CardConfig):
        add_dataclass_arguments(p, cls)
    return p


def parse_train_args(argv: list[str]) -> tuple[DataConfig, ModelConfig, TrainConfig, CardConfig]:
    """Parse ``train`` arguments (shared by the CLI and scripts/train.py)."""
    parser = argparse.ArgumentParser(prog="kernel-laugh")
    p = _train_parser(parser.add_subparsers())
    preset, _ = p.parse_known_args(argv)
    apply_preset(p, preset.preset)
    ns = p.parse_args(argv)
    return tuple(from_namespace(c, ns) for c in (DataConfig, ModelConfig, TrainConfig, CardConfig))  # type: ignore[return-value]


def cmd_train(argv: list[str]) -> int:
    from kernel_laugh.training import fit

    results = fit(*parse_train_args(argv))
    tag = " (SYNTHETIC sample: not a result on real data)" if results.get("synthetic") else ""
    print(f"test{tag}: accuracy {results['accuracy']:.3f}, f1 {results['f1']:.3f}, roc_auc "
          f"{results['roc_auc'] if results['roc_auc'] is None else round(results['roc_auc'], 3)} on {results['num_samples']} images")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from kernel_laugh.inference import Predictor

    _quiet_transformers()
    results = Predictor(args.model, device=args.device).predict_files(args.images)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(r["image"] + ": " + ", ".join(f"{p['label']} {p['score']:.3f}" for p in r["predictions"]))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from kernel_laugh.sample import write_image_folder

    out = write_image_folder(args.output_dir, n=args.n, size=args.size, seed=args.seed)
    print(f"wrote {args.n} SYNTHETIC brain renders to {out} (ImageFolder layout + metadata.csv with 'session')")
    return 0


def cmd_import_legacy(args: argparse.Namespace) -> int:
    from kernel_laugh.legacy import import_legacy

    out = import_legacy(args.source, args.output_dir)
    print(f"imported {args.source} → {out} (loads with pipeline('image-classification') and timm)")
    return 0


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kernel-laugh", description="Train, evaluate and serve laughter / emotion "
                                     "image classifiers.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kernel-laugh {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _train_parser(sub)
    p = sub.add_parser("predict", help="label images with a trained model (folder or Hub id)")
    p.add_argument("model", help="model folder (e.g. runs/sample) or Hub id (user/name)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--json", action="store_true", help="print JSON: one object per image with all labels and scores")
    p.add_argument("--device", default=None, help="'cpu', 'cuda', a GPU index... (default: CPU)")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["train"]:  # train's flags come from the dataclasses and presets: parsed on their own
            if any(a in ("-h", "--help") for a in argv[1:]):
                build_parser().parse_args(argv)
            return cmd_train(argv[1:])
        args = build_parser().parse_args(argv)
        if not getattr(args, "func", None):
            build_parser().print_help()
            return 2
        return args.func(args)
    except KernelLaughError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
