"""Training entry point for `accelerate launch` (several GPUs, several machines):

    accelerate launch --num_processes 4 scripts/train.py --preset brain --dataset frames/ --output-dir runs/brain

Takes exactly the flags of `kernel-laugh train`; both run kernel_laugh.training.fit.
"""

import sys

from kernel_laugh.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
