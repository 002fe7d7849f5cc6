"""Training entry point for `accelerate launch` (several GPUs, several machines):

    accelerate launch --num_processes 4 scripts/train.py --preset brain --dataset frames/ --output-dir runs/brain
    accelerate launch --config_file scripts/accelerate_2cpu.yaml scripts/train.py --preset sample --output-dir runs/ddp

Takes exactly the flags of `kernel-laugh train` (same parser, same kernel_laugh.training.fit). On CPUs use the
config file: `--cpu --num_processes 2` silently starts one process.
"""

import sys

from kernel_laugh.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
