"""kernel-laugh: laughter and emotion image classifiers, from training to the Hub.

Nothing heavy is imported here, so ``import kernel_laugh`` and ``kernel-laugh --help`` stay fast.
"""

from kernel_laugh.errors import KernelLaughError

__version__ = "0.1.0"
__all__ = ["KernelLaughError", "__version__"]
