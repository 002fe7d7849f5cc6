"""The one place where a file becomes data: one module per kind of input.

- ``tables``: CSV files (spreadsheet exports: byte-order mark, CRLF line ends).
- ``audio``: the sound of any audio or video file (PyAV), mono at the model's rate, on the video's clock.

Every path of the package (predict, train, evaluate, timeline, the Space) reads its inputs through these
modules, so that one file gives one answer everywhere. Nothing heavy is imported here.
"""
