"""What a search checks in its inputs' files before any Ray actor starts, beyond the space's own checks:
the base's and experts' safetensors headers (`checkpoints.headers`) and the dev split's schema
(`evaluation.data_schema`). Each problem is one UserError naming the space field."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lors_search.errors import UserError

if TYPE_CHECKING:
    from lors_search.space.schema import SearchSpace


def check_search_inputs(space: SearchSpace) -> None:
    """UserError `<field>: <problem>` for a checkpoint whose header does not match the base (or its own
    config), or a data split with no clips, struct-typed audio or another sampling rate."""
    # Imported here: loading a space (e.g. for templates) should not pay for safetensors and torch.
    from lors_search.checkpoints.headers import check_headers
    from lors_search.evaluation.data_schema import check_eval_data

    check_headers(("base", space.base), [(f"experts.{i}.path", expert.path) for i, expert in enumerate(space.experts)])
    try:
        # A corpus without audio is a template that only lists clips (enough to validate a space).
        check_eval_data(space.data.path, space.data.split, require_audio=False)
    except UserError as exc:
        raise UserError(f"data.path: {exc}") from None
