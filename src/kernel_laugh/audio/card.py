"""The audio expert's parts of the model card: what it hears (sampling rate, windows, the sounds), how to run it
(``pipeline("audio-classification")``). ``card.render_card`` merges these values into the shared template when
the results say ``modality: audio``; the prose about audio models' uses and risks is in the template (``task``
``audio``)."""

from __future__ import annotations

from typing import Any

from kernel_laugh import REPO_URL



def audio_card_values(results: dict[str, Any], model: dict[str, Any], model_config: dict[str, Any],
                      metadata: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The template values that differ for an audio model (``values`` are the image card's, for reference)."""
    audio = dict(results.get("audio") or {})
    names = list(results["label_names"])
    arch = model.get("architecture") or "ast"
    pretrained = model.get("pretrained") and arch != "ast-tiny"
    metadata.library_name, metadata.pipeline_tag = "transformers", "audio-classification"
    metadata.tags = ["audio-classification", "transformers", "kernel-laugh", "laughter-detection", "audio-spectrogram-transformer",
                     *(["synthetic-data"] if results.get("synthetic") else [])]
    metadata.base_model = arch if pretrained else None
    for r in metadata.eval_results or []:
        r.task_type, r.task_name = "audio-classification", "Audio Classification"
        if results.get("synthetic"):
            r.dataset_name, r.dataset_type = "kernel-laugh SYNTHETIC audio sample", "synthetic-laughter-sounds"
    n_test = results.get("num_samples")
    size = (f"The test split holds {n_test} windows; overlapping windows of one recording are correlated, so the "
            "intervals are bootstrapped over recordings where the group column allows: read them, not only the point values.")
    sr, window, hop = audio.get("sampling_rate"), audio.get("window_seconds"), audio.get("hop_seconds")
    audio["text"] = (f"Mono audio at **{sr} Hz** (any file FFmpeg reads is decoded with PyAV, downmixed and resampled), "
                     f"cut into **{window:g} s windows every {hop:g} s**; each window becomes log-mel filter banks "
                     f"(`ASTFeatureExtractor`, saved in `preprocessor_config.json`: 25 ms frames every 10 ms, "
                     f"{model_config.get('num_mel_bins', '?')} mel bins) and is classified on its own. A clip's score is "
                     f"the mean over its windows (and the peak); a timeline has one point per {hop:g} s. "
                     f"**The sounds:** {audio.get('sounds', 'not recorded')}. "
                     f"{audio.get('recordings', '?')} recordings gave {audio.get('windows', '?')} windows.")
    audio["sampling_rate"] = sr
    return {
        "card_data": metadata.to_yaml(),
        "title": values["title"].replace("image classifier", "audio classifier") if "kernel-laugh" not in values["title"]
        else f"kernel-laugh audio expert ({arch}): laughter vs non-laughter from sound",
        "task": "audio",  # the template's prose about audio models (summary, uses, risks)
        "classes_sentence": "" if set(names) == {"laughter", "non-laughter"} else f" Classes: {', '.join(names)}.",
        "description": (f"A transformers `ASTForAudioClassification` (Audio Spectrogram Transformer, Gong et al. 2021) "
                        f"trained with [kernel-laugh]({REPO_URL}) and saved as `config.json` + `model.safetensors` + "
                        "`preprocessor_config.json` (no pickle), so it loads with `pipeline(\"audio-classification\")` "
                        "and `AutoModelForAudioClassification` + `AutoFeatureExtractor`, without custom code."),
        "details": [f"**Model type:** audio classification, {len(names)} classes: "
                    + ", ".join(f"`{i}` {n}" for i, n in enumerate(names)),
                    f"**Architecture:** AST `{arch}`, {model_config.get('num_hidden_layers', '?')} layers, hidden size "
                    f"{model_config.get('hidden_size', '?')}",
                    f"**Fine-tuned from:** {arch}" if pretrained else
                    "**Fine-tuned from:** no pretrained weights (trained from random initialisation)",
                    f"**Input:** {window:g} s of mono audio at {sr} Hz",
                    f"**Output:** one probability per class (softmax over {len(names)} logits)"] + values["details"][-2:],
        "risks": [size, *(values["risks"][-1:] if results.get("synthetic") else [])],
        "synthetic_warning": ("**SYNTHETIC data.** This model was trained and evaluated on the SYNTHETIC sound sample that "
                              "kernel-laugh generates (procedural laughter bursts against babble, tones, chords, noise and "
                              "silence). Its numbers show that the pipeline works; they say nothing about real laughter."),
        "training_data": (f"SYNTHETIC sounds: {audio.get('sounds')}. Not real data." if results.get("synthetic")
                          else values["training_data"]),
        "preprocessing": audio["text"],
        "audio": audio,
    }
