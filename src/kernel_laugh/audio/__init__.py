"""The audio laughter expert: a transformers audio classifier (AST) trained, evaluated, served and run over
soundtracks with the same machinery as the image models.

- ``sample``: the SYNTHETIC sound sample (procedural laughter and non-laughter sounds).
- ``features``: windows and the feature extractor (log-mel filter banks, NumPy path, no torchaudio).
- ``model``: building, saving and zero-shot conversion of AST classifiers.
- ``data``: audio sources → windowed train / validation / test splits and loaders.
- ``task``: what the shared training loop takes from the audio expert (data, model, loaders, how to save).
- ``predict``: scoring clips and soundtracks window by window (``AudioPredictor``, the audio timeline).
- ``card``: the model card's audio sections; ``demo_service``: what the Space does for an audio model (no gradio); ``demo``: its page.

Nothing heavy is imported here.
"""
