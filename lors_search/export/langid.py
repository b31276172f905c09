"""Language identification of an export on dev: what `pipeline()` does when no language is given (Whisper's
`detect_language`: the most likely language token after <|startoftranscript|>, among the generation config's
languages), measured per language so the model card can say how far to trust it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def language_id_accuracy(
    model: Any, eval_set: Any, *, batch_size: int = 64, device: str | torch.device = "cpu"
) -> dict[str, dict[str, Any]]:
    """{language: {"clips", "correct", "accuracy", "confused_with": {language: clips}}} over every clip of
    `eval_set` (an `EvalSet` with the model's window)."""
    config = model.generation_config
    id_to_language = {int(index): token.strip("<|>") for token, index in (config.lang_to_id or {}).items()}
    frames = eval_set.features.shape[-1]
    out: dict[str, dict[str, Any]] = {}
    model = model.to(device).eval()
    for begin in range(0, eval_set.n_clips, batch_size):
        clips = np.arange(begin, min(begin + batch_size, eval_set.n_clips))
        features = torch.from_numpy(np.asarray(eval_set.features[clips], dtype=np.float32)).to(device)
        with torch.inference_mode():
            detected = model.detect_language(input_features=features, generation_config=config, num_segment_frames=frames)
        for clip, token in zip(clips, detected.reshape(-1).tolist(), strict=True):
            truth = eval_set.clip_languages[int(clip)]
            guess = id_to_language.get(int(token), str(token))
            entry = out.setdefault(truth, {"clips": 0, "correct": 0, "confused_with": {}})
            entry["clips"] += 1
            if guess == truth:
                entry["correct"] += 1
            else:
                entry["confused_with"][guess] = entry["confused_with"].get(guess, 0) + 1
    for entry in out.values():
        entry["accuracy"] = entry["correct"] / entry["clips"]
    return dict(sorted(out.items()))


def langid_markdown(accuracy: dict[str, dict[str, Any]]) -> str:
    """The model card's language identification section."""
    lines = ["| language | clips | identified | accuracy | mistaken for |", "| --- | --- | --- | --- | --- |"]
    for language, entry in accuracy.items():
        confused = ", ".join(f"{k} ({v})" for k, v in sorted(entry["confused_with"].items())) or "-"
        lines.append(f"| {language} | {entry['clips']} | {entry['correct']} | {100 * entry['accuracy']:.1f} % | {confused} |")
    worst = min((entry["accuracy"] for entry in accuracy.values()), default=1.0)
    verdict = (
        "Reliable on these languages: leaving `language` out is safe."
        if worst >= 0.99
        else f"Not reliable (worst language {100 * worst:.1f} %): pass `language` explicitly, as in the snippet above."
    )
    return "\n".join(lines) + "\n\n" + verdict
