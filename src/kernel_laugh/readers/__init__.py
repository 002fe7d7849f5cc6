"""The one place where a file becomes data: one module per kind of input.

- ``images``: image files and the bytes ``datasets`` stores (EXIF orientation, every mode to RGB as displayed,
  Pillow's pixel limit as a one-line error, HEIF/AVIF, the one list of readable extensions).
- ``frames``: video frames (PyAV) as displayed, the display rotation applied; crops in the displayed frame.
- ``tables``: CSV files (spreadsheet exports: byte-order mark, CRLF line ends).
- ``segments``: ``labels.csv`` rows start,end,label[,video], one set of labels for every expert.
- ``folders``: which files of a dataset folder are data (hidden entries never; symlinks followed once).
- ``models``: a model argument (folder or Hub id) resolved and a model folder checked, with one-line errors.
- ``audio``: the sound of any audio or video file (PyAV), mono at the model's rate, on the video's clock.

Every path of the package (predict, train, evaluate, explain, timeline, push-dataset, the Space) reads its inputs
through these modules, so that one file gives one answer everywhere. Nothing heavy is imported here.
"""
