"""Issue 21's acceptance on the SYNTHETIC multimodal sample::

    HF_HUB_OFFLINE=1 python scripts/fusion_acceptance.py --output-dir /tmp/fusion-acceptance
    HF_HUB_OFFLINE=1 python scripts/fusion_acceptance.py --n-videos 18 --n-expert-videos 8   # smaller, faster

Writes the sample, trains its three experts on the expert videos, trains the gate on the other videos
(``fuse-train --preset fusion-sample`` does the same), then reports, on the held-out test videos:

- fused ROC AUC against the best single expert (all steps, prior where missing), with the paired 95% interval
  of the difference (Obuchowski's clustered AUC variance of the difference, clips as clusters): pass when the
  interval lies above 0;
- for each modality removed, the fused model against the best remaining expert: pass when the interval includes
  or exceeds 0 (its upper end >= 0).

The fused timeline's throughput is ``scripts/bench_fusion.py --fusion OUTPUT_DIR/fusion``.

Everything is SYNTHETIC: the numbers show the pipeline works, not how it does on real recordings. The summary
goes to OUTPUT_DIR/acceptance.json and the console.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from kernel_laugh.config import FuseTrainConfig
from kernel_laugh.fusion.commands import fuse_train
from kernel_laugh.fusion.sample import train_sample_experts, write_fusion_sample


def acceptance(results: dict) -> dict:
    """The acceptance checks from a fuse-train results dict."""
    d = results.get("fused_minus_best_expert") or {}
    checks = {"fused_beats_best_expert": {"expert": d.get("expert"), "difference": d.get("difference"),
                                          "ci": [d.get("ci_low"), d.get("ci_high")], "method": d.get("method"),
                                          "pass": d.get("ci_low") is not None and d["ci_low"] > 0}}
    for e, row in results.get("fused_without", {}).items():
        m = row.get("minus_best_remaining") or {}
        checks[f"without_{e}"] = {"fused_roc_auc": row.get("roc_auc"), "best_remaining": row.get("best_remaining_expert"),
                                  "difference": m.get("difference"), "ci": [m.get("ci_low"), m.get("ci_high")],
                                  "pass": m.get("ci_high") is not None and m["ci_high"] >= 0}
    return checks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output-dir", default="runs/fusion-acceptance")
    p.add_argument("--n-videos", type=int, default=36)
    p.add_argument("--n-expert-videos", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    out = Path(args.output_dir)
    began = time.perf_counter()
    sample = write_fusion_sample(out / "sample", n_videos=args.n_videos, seed=args.seed,
                                 n_expert_videos=args.n_expert_videos)
    specs = train_sample_experts(sample, out / "experts")
    cfg = FuseTrainConfig(dataset=str(sample.fusion_videos), output_dir=str(out / "fusion"), overwrite_output_dir=True,
                          seed=args.seed)
    results = fuse_train(cfg, specs, synthetic=True)
    trained = time.perf_counter() - began
    summary = {"synthetic": True, "train_seconds": trained, "test_clips": results["num_clips"],
               "test_steps": results["num_samples"], "fused_roc_auc": results["roc_auc"],
               "experts_roc_auc": {e: r["roc_auc"] for e, r in results["expert_alone_all_steps"].items()},
               "checks": acceptance(results)}
    (out / "acceptance.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
