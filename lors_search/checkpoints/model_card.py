"""The model card (README.md) of a merged checkpoint: method and paper, parameters, base and experts,
in the Hugging Face model-card format (YAML front matter, then Markdown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from lors_search.merging.params import MergeParams
from lors_search.merging.plan import effective_globals
from lors_search.merging.registry import get_method


@dataclass(frozen=True)
class CardInfo:
    """What the card says. `experts`: (name, source) pairs; `sections`: extra titled Markdown sections
    (e.g. dev metrics, the search that found the parameters)."""

    params: MergeParams
    base: str
    experts: Sequence[tuple[str, str]]
    sections: Mapping[str, str] = field(default_factory=dict)


def _number(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def render_model_card(info: CardInfo) -> str:
    """Markdown text of the card."""
    method = get_method(info.params.method)
    front = {
        "library_name": "transformers",
        "pipeline_tag": "automatic-speech-recognition",
        "tags": ["whisper", "merge", "lors-search", info.params.method],
    }
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# Merged Whisper model ({method.name})",
        "",
        f"Made with lors-search by merging {len(info.experts)} fine-tuned expert(s) into a base Whisper model.",
        "",
        f"- **Method:** `{method.name}`: {method.summary}.",
        f"- **Paper:** {method.paper}.",
        f"- **Base model:** `{info.base}`",
        "",
        "## Experts",
        "",
        "| name | source |",
        "| --- | --- |",
        *(f"| {name} | `{source}` |" for name, source in info.experts),
        "",
        "## Parameters",
        "",
    ]
    values = effective_globals(info.params, len(info.experts))
    shown = [name for name in method.params if name not in ("rank", "rank_ratio")]
    if method.uses_rank:
        shown.insert(0, "rank" if values["rank"] is not None else "rank_ratio")
    explicit = info.params.params.given()
    for name in shown:
        origin = "" if name in explicit else " (default)"
        lines.append(f"- `{name}`: {_number(values[name])}{origin}")
    if info.params.overrides:
        lines += ["", "Overrides, in order (later ones win):", ""]
        for index, override in enumerate(info.params.overrides, start=1):
            settings = ", ".join(f"{k}={v}" for k, v in override.set.given().items())
            lines.append(f"{index}. where {override.select.describe()}: {settings}")
    if method.uses_rank:
        lines += ["", "Ranks are capped at each matrix's smaller side; rank_ratio gives max(1, floor(ratio * side))."]
    lines += ["", "The exact configuration is in `merge_config.yaml`.", ""]
    for title, body in info.sections.items():
        lines += [f"## {title}", "", body.strip(), ""]
    return "\n".join(lines)
