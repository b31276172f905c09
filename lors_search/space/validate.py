"""The checks of a space that need its files, run by `load_search_space` before anything starts: base and
expert checkpoints exist and share the base's shape, the data directory has the split and every language,
rank bounds fit the base's matrices, group patterns match groups, and every seed point fits the space.
"""

from __future__ import annotations

import json
from pathlib import Path

from lors_search.errors import UserError
from lors_search.evaluation.preflight import check_search_inputs
from lors_search.space.compiled import CompiledSpace
from lors_search.space.data_check import DataProblem, language_counts, split_names
from lors_search.space.groups import matching_groups
from lors_search.space.parameters import PointError
from lors_search.space.paths import HUB_PREFIX, looks_like_hub_id
from lors_search.space.schema import SearchSpace
from lors_search.space.shape import BaseShape, read_base_shape, shape_from_config


class SpaceProblem(ValueError):
    """`<field>: <what>`; the loader prefixes the file."""


def check_space(space: SearchSpace, *, check_paths: bool = True) -> CompiledSpace:
    """`space` checked against its files and compiled on the base's shape; SpaceProblem names the field.
    With check_paths False, only what needs no file is checked (structure, seeds, ranks of a known base)."""
    shape = _base_shape(space, check_paths)
    if check_paths:
        _check_experts(space, shape)
        _check_data(space)
        try:  # safetensors headers and the data's audio schema, before any actor starts
            check_search_inputs(space)
        except UserError as exc:
            raise SpaceProblem(str(exc)) from None
        for label, path in space.compare.items():
            if not Path(path).exists():
                raise SpaceProblem(f"compare.{label}: no such directory {path}")
    compiled = CompiledSpace(space, shape)
    if shape is None:
        return compiled
    _check_groups(compiled)
    try:
        compiled.named_seed_points()
    except PointError as exc:
        raise SpaceProblem(str(exc)) from None
    return compiled


def _base_shape(space: SearchSpace, check_paths: bool) -> BaseShape | None:
    base = space.base
    local = not base.startswith(HUB_PREFIX) and not (looks_like_hub_id(base) and not Path(base).exists())
    if local and not Path(base).exists():
        if not check_paths:
            return None
        raise SpaceProblem(f"base: no such directory {base}")
    try:
        return read_base_shape(base.removeprefix(HUB_PREFIX))
    except UserError as exc:
        if not check_paths:
            return None
        if not local:
            raise SpaceProblem(
                f"base: {base!r} is no local path (relative to the file) and no Hub model known offline "
                "(openai/whisper-* or one in the Hugging Face cache); give a directory or download it first"
            ) from None
        raise SpaceProblem(f"base: {exc}") from None


def _check_experts(space: SearchSpace, shape: BaseShape | None) -> None:
    for index, expert in enumerate(space.experts):
        if expert.path.startswith(HUB_PREFIX):
            continue
        path = Path(expert.path)
        where = f"experts.{index}.path"
        if not path.exists():
            raise SpaceProblem(f"{where}: no such directory {path}")
        if path.is_dir():
            config_file = path / "config.json"
            if not config_file.is_file():
                raise SpaceProblem(f"{where}: {path} is not a Hugging Face model directory (no config.json)")
            try:
                theirs = shape_from_config(json.loads(config_file.read_text(encoding="utf-8")), str(config_file))
            except (UserError, json.JSONDecodeError) as exc:
                raise SpaceProblem(f"{where}: {exc}") from None
            if shape is not None and theirs != shape:
                raise SpaceProblem(f"{where}: expert {expert.name!r} has shape {_describe(theirs)}, the base {_describe(shape)}")


def _describe(shape: BaseShape) -> str:
    return (
        f"d_model {shape.d_model}, {shape.encoder_layers}+{shape.decoder_layers} layers, "
        f"ffn {shape.encoder_ffn_dim}/{shape.decoder_ffn_dim}"
    )


def _check_data(space: SearchSpace) -> None:
    data_dir = Path(space.data.path)
    if not data_dir.is_dir():
        raise SpaceProblem(f"data.path: no such directory {data_dir}")
    try:
        splits = split_names(data_dir)
        if space.data.split not in splits:
            raise SpaceProblem(f"data.split: {data_dir} has no {space.data.split!r} split (it has {', '.join(splits)})")
        counts = language_counts(data_dir, space.data.split)
    except DataProblem as exc:
        raise SpaceProblem(f"data.path: {exc}") from None
    present = ", ".join(sorted(counts)) or "no clips"
    for code in space.languages:
        if counts.get(code, 0) == 0:
            if space.data.languages is not None:
                where = "data.languages"
            else:
                index = next(i for i, expert in enumerate(space.experts) if expert.language == code)
                where = f"experts.{index}.language"
            raise SpaceProblem(f"{where}: {code!r} has no clips in the {space.data.split} split of {data_dir} (it has {present})")
    largest = max(counts[code] for code in space.languages)
    for rung in space.fidelity.n_per_language:
        if rung is not None and rung >= largest:
            raise SpaceProblem(
                f"fidelity.n_per_language: rung {rung} is not below the {space.data.split} split's largest "
                f"language ({largest} clips), so it is the whole split; use null for the last rung"
            )


def _check_groups(compiled: CompiledSpace) -> None:
    space, shape = compiled.space, compiled.shape
    for stack in ("encoder", "decoder"):
        size = getattr(space.groups, stack).size
        if size != "all" and size > shape.layers(stack):
            raise SpaceProblem(
                f"groups.{stack}.size: {size} is more than the base's {shape.layers(stack)} {stack} layers "
                "(use size: all for one group)"
            )
    groups = compiled.group_list()
    for pattern in space.group_ranges:
        if not matching_groups(pattern, groups):
            raise SpaceProblem(
                f"group_ranges.{pattern}: matches no group (groups: {', '.join(group.id for group in groups)})"
            )
    if space.rank_param != "rank":
        return
    for group in groups:
        where = "rank"
        spec = space.rank
        for pattern, ranges in space.group_ranges.items():
            if ranges.rank is not None and group in matching_groups(pattern, groups):
                where, spec = f"group_ranges.{pattern}.rank", ranges.rank
        assert spec is not None
        full = group.full_rank(shape)
        _, high = spec.bounds
        if high > full:
            sizes = sorted({f"{rows}x{cols}" for rows, cols in group.matrices(shape).values()})
            raise SpaceProblem(
                f"{where}: {high} is above the largest rank of group {group.id} ({full}: matrices "
                f"{', '.join(sizes)}); lower it or use rank_ratio"
            )
