"""What a search checks in its inputs' files before any Ray actor starts, beyond the space's own checks:
the base's and experts' safetensors headers (`checkpoints.headers`) and the dev split's schema
(`evaluation.data_schema`). Each problem is one UserError naming the space field."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lors_search.errors import UserError

if TYPE_CHECKING:
    from lors_search.space.schema import SearchSpace


def check_search_inputs(space: SearchSpace, *, strict: bool = False) -> None:
    """UserError `<field>: <problem>` for a checkpoint whose header does not match the base (or its own
    config), or a data split with no clips, struct-typed audio or another sampling rate.

    `strict` (what `lors-search search` asks before Ray starts) also refuses what a template may lack but a
    search cannot run without: a local model directory with no weights, a split with no audio column."""
    # Imported here: loading a space (e.g. for templates) should not pay for safetensors and torch.
    from lors_search.checkpoints.headers import check_headers
    from lors_search.evaluation.data_schema import check_eval_data

    sources = [("base", space.base), *((f"experts.{i}.path", expert.path) for i, expert in enumerate(space.experts))]
    if strict:
        from lors_search.checkpoints.headers import read_header

        for label, source in sources:
            header = read_header(source, label)
            if header is not None and header.tensors is None:
                raise UserError(f"{label}: {source} has a config.json but no weights (model.safetensors); "
                                "point it at a saved checkpoint")
    check_headers(sources[0], sources[1:])
    try:
        # A corpus without audio is a template that only lists clips (enough to validate a space, not to search).
        check_eval_data(space.data.path, space.data.split, require_audio=strict)
    except UserError as exc:
        raise UserError(f"data.path: {exc}") from None
