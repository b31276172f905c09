"""How an exported merge is used: its generation config names the experts' languages (the only language tokens
language identification may pick), `is_multilingual` and a default task, and the usage snippet printed at the
end of the demo and written into the model card passes the language and task explicitly, as a merged model
guessing its language drifts into a neighbour's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lors_search.fsutil import atomic_write_text

DEFAULT_TASK = "transcribe"


def restrict_generation_config(model_dir: str | os.PathLike[str], languages: Sequence[str]) -> dict[str, Any]:
    """Rewrite `model_dir/generation_config.json`: `lang_to_id` limited to `languages` (so language detection
    chooses among the experts' languages only), `is_multilingual` true, `task` the default task. Prompts of these
    languages keep their token ids, so decoding with an explicit language is unchanged."""
    path = Path(model_dir) / "generation_config.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    lang_to_id = raw.get("lang_to_id") or {}
    kept = {token: index for token, index in lang_to_id.items() if token.strip("<|>") in set(languages)}
    missing = sorted(set(languages) - {token.strip("<|>") for token in kept})
    if missing:
        raise ValueError(f"the generation config has no language token for {', '.join(missing)}")
    raw.update(lang_to_id=kept, is_multilingual=True, task=DEFAULT_TASK)
    raw["_from_model_config"] = False  # transformers 5 otherwise rebuilds it from config.json and drops these
    atomic_write_text(path, json.dumps(raw, indent=2, sort_keys=True) + "\n")
    return raw


def languages_of(model_dir: str | os.PathLike[str]) -> list[str]:
    """The language codes of an export's generation config, sorted."""
    raw = json.loads((Path(model_dir) / "generation_config.json").read_text(encoding="utf-8"))
    return sorted(token.strip("<|>") for token in (raw.get("lang_to_id") or {}))


def usage_snippet(model_dir: str | os.PathLike[str], languages: Sequence[str] | None = None) -> str:
    """Python that transcribes (or translates into English) one clip with the export."""
    try:
        langs = list(languages) if languages else languages_of(model_dir)
    except (OSError, ValueError):
        langs = []
    example = langs[0] if langs else "de"
    spoken = f"one of {', '.join(langs)}" if langs else "the clip's language"
    return (
        "from transformers import pipeline\n"
        f"asr = pipeline(\"automatic-speech-recognition\", model=\"{model_dir}\")\n"
        f"asr(\"clip.wav\", generate_kwargs={{\"language\": \"{example}\", \"task\": \"transcribe\"}})"
        f"  # language: {spoken}; task \"translate\": into English"
    )


__all__ = ["DEFAULT_TASK", "languages_of", "restrict_generation_config", "usage_snippet"]
