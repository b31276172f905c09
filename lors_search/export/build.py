"""What an export or a report needs beyond the merge service (lors_search.merging.service) to rebuild a trial's
weights exactly as the search's workers merged them: the experts prepared up to the space's largest ranks
(`combined_max_ranks`) and, for a method that needs the experts' Gram matrices (RegMean, arXiv 2212.09849), the
Gram sources the search's expert actors used (`space_gram_sources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lors_search.merge_config import MergeConfig, gram_sources

if TYPE_CHECKING:
    from lors_search.whisper.gram import GramSource


def space_gram_sources(config: MergeConfig, space: Any) -> tuple[MergeConfig, dict[str, GramSource]]:
    """For a trial's merge config whose method needs Grams: the config completed with what the search used
    (the space's data as `gram_data`, each expert's language from the space) and each expert's Gram source
    (train split, "expert" subset where tagged, the <data>/grams cache the expert actors filled), so that the
    export has the trial's weights and its saved merge config reproduces them. Other methods: unchanged, {}."""
    if not config.needs_grams:
        return config, {}
    languages = {expert.name: getattr(expert, "language", None) for expert in space.experts}
    experts = tuple(
        expert if expert.language is not None else expert.model_copy(update={"language": languages.get(expert.name)})
        for expert in config.experts
    )
    update: dict[str, Any] = {"experts": experts}
    if config.gram_data is None:
        update["gram_data"] = str(space.data.path)
    return gram_sources(config.model_copy(update=update))


def combined_max_ranks(*sources: Mapping[str, int]) -> dict[str, int]:
    """The per-tensor maximum of several max-rank mappings (`space.max_ranks()`, `plan.max_ranks()`)."""
    out: dict[str, int] = {}
    for mapping in sources:
        for name, rank in mapping.items():
            out[name] = max(out.get(name, 0), int(rank))
    return out
