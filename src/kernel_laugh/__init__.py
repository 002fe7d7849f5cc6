"""kernel-laugh: laughter and emotion image classifiers, from training to the Hub.

Nothing heavy is imported here, so ``import kernel_laugh`` and ``kernel-laugh --help`` stay fast.
"""

from kernel_laugh.errors import KernelLaughError

__version__ = "0.1.0"
REPO_URL = "https://github.com/kernel-laugh/kernel-laugh"  # named by the model and dataset cards
__all__ = ["REPO_URL", "KernelLaughError", "__version__"]
