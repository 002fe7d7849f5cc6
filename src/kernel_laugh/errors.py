"""The one exception type the package raises for problems a user can fix (bad input, missing model...).

The CLI prints these as a single line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class KernelLaughError(Exception):
    """A user-facing error: the message says what was wrong and where."""
