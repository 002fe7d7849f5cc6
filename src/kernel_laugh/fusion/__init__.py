"""The gated mixture of experts: laughter from brain, face and voice together, when some are missing.

- ``steps``: ``ExpertSteps``, what every expert says about one clip on one time grid (the record the gate reads).

Nothing heavy is imported here.
"""
