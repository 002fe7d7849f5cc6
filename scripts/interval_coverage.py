"""Print the coverage table of every interval method compared for issue 18 (kernel_laugh.coverage): clustered
SYNTHETIC binary outcomes, G in {3, 5, 10, 30} unequal groups, ICC in {0, 0.1, 0.3}, 400 data sets per cell.

    python scripts/interval_coverage.py [--seed 0] [--sims 400]
"""

import argparse

from kernel_laugh.coverage import coverage_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sims", type=int, default=400)
    args = parser.parse_args()
    rows = coverage_table(n_sims=args.sims, seed=args.seed)
    for metric in ("accuracy", "roc_auc"):
        mine = [r for r in rows if r["metric"] == metric]
        methods = list(dict.fromkeys(r["method"] for r in mine))
        print(f"\n{metric}: coverage of the 95% interval (mean width)\n")
        print("| G | ICC | " + " | ".join(methods) + " |")
        print("|---|---|" + "---|" * len(methods))
        cells = sorted({(r["groups"], r["icc"]) for r in mine})
        for g, icc in cells:
            by = {r["method"]: r for r in mine if (r["groups"], r["icc"]) == (g, icc)}
            print(f"| {g} | {icc} | " + " | ".join(f"{by[m]['coverage']:.3f} ({by[m]['mean_width']:.3f})" for m in methods) + " |")


if __name__ == "__main__":
    main()
