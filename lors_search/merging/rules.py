"""Merge rules: which tensors get the low-rank + sparse treatment, which plain task arithmetic, which keep
the base. An ordered list of (regex -> treatment) pairs, data rather than string tests, replaceable by config.

The default set follows the LoRS-Merging reference (arXiv 2502.17380): attention q/k/v/out of self- and
cross-attention and the feed-forward fc1/fc2 weights are eligible; everything else is task arithmetic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from lors_search.errors import UserError

Treatment = Literal["lowrank_sparse", "dense", "base"]
TREATMENTS: tuple[str, ...] = ("lowrank_sparse", "dense", "base")


class MergeRule(BaseModel):
    """Tensors whose full name matches `pattern` (Python regex, whole-name match) get `treatment`.

    lowrank_sparse: the method's pruning applies (2-D matrices only); dense: plain task arithmetic,
    theta_0 + sum_i lambda_i tau_i; base: the base's value is kept (frozen tensors).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    pattern: str
    treatment: Treatment

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return pattern


_LAYERS = r"model\.(encoder|decoder)\.layers\.\d+"

# HF Whisper names. The rules are disjoint: each tensor of a Whisper model matches exactly one of them.
DEFAULT_RULES: tuple[MergeRule, ...] = (
    MergeRule(pattern=_LAYERS + r"\.(self_attn|encoder_attn)\.(q|k|v|out)_proj\.weight", treatment="lowrank_sparse"),
    MergeRule(pattern=_LAYERS + r"\.fc[12]\.weight", treatment="lowrank_sparse"),
    MergeRule(pattern=r".+\.bias", treatment="dense"),
    MergeRule(pattern=r".*layer_norm\.weight", treatment="dense"),
    MergeRule(pattern=r"model\.encoder\.conv[12]\.weight", treatment="dense"),
    MergeRule(pattern=r"model\.decoder\.embed_(tokens|positions)\.weight", treatment="dense"),
    # Present only when the output projection is not tied to the token embedding.
    MergeRule(pattern=r"proj_out\.weight", treatment="dense"),
    # A fixed sinusoid, frozen in Whisper: its task vector is zero, so the base value is kept exactly.
    MergeRule(pattern=r"model\.encoder\.embed_positions\.weight", treatment="base"),
)


@functools.lru_cache(maxsize=64)
def _compiled(rules: tuple[MergeRule, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(rule.pattern) for rule in rules)


def assign_treatments(names: Iterable[str], rules: Sequence[MergeRule] = DEFAULT_RULES) -> dict[str, str]:
    """Map every tensor name to the treatment of the one rule that matches it.

    Raises UserError naming the tensor when no rule or more than one rule matches (the coverage check).
    A rule matching nothing is allowed: the defaults cover untied `proj_out.weight`, absent when tied.
    """
    rules = tuple(rules)
    if not rules:
        raise UserError("the merge rules are empty: every tensor needs exactly one rule")
    patterns = _compiled(rules)
    out: dict[str, str] = {}
    for name in names:
        hits = [index for index, pattern in enumerate(patterns) if pattern.fullmatch(name)]
        if not hits:
            raise UserError(f"tensor {name!r} is covered by no merge rule; add a rule whose pattern matches it")
        if len(hits) > 1:
            listed = ", ".join(f"#{i + 1} {rules[i].pattern!r}" for i in hits)
            raise UserError(f"tensor {name!r} is covered by more than one merge rule ({listed}); make them disjoint")
        out[name] = rules[hits[0]].treatment
    return out
