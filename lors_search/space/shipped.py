"""The search spaces shipped with lors_search (`search_spaces/*.yaml` in a source checkout or editable
install; `<prefix>/share/lors_search/search_spaces/*.yaml` from a wheel, pyproject's data-files), found by
name, e.g. for `lors-search demo`."""

from __future__ import annotations

import sys
from pathlib import Path

from lors_search.errors import UserError

_CHECKOUT = Path(__file__).resolve().parents[2] / "search_spaces"
_INSTALLED = Path(sys.prefix) / "share" / "lors_search" / "search_spaces"
PLACES = (_CHECKOUT, _INSTALLED)


def shipped_space_names() -> list[str]:
    return sorted({file.stem for place in PLACES if place.is_dir() for file in place.glob("*.yaml")})


def shipped_space(name: str) -> Path:
    """The path of the shipped space `name` (`demo`, `smoke`, `whisper-small-covost2`)."""
    for place in PLACES:
        candidate = place / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    known = ", ".join(shipped_space_names()) or "none found"
    raise UserError(f"no shipped search space {name!r} (shipped: {known})")
