"""Paths inside a search-space YAML: `{name}` prefixes that the caller maps to directories (the demo maps
`{demo}` / `{demo-quick}` to the embedded benchmark's directory: `lors_search.demo.paths.space_places`), `~`,
and paths relative to the YAML file. Hub ids (`owner/name`) are allowed for the base only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

HUB_PREFIX = "hf:"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

Places = Mapping[str, Path]  # "{demo}" -> the directory it stands for


def expand_path(text: str, root: Path, places: Places) -> str:
    """`text` with a `{name}` prefix of `places` expanded, `~` expanded, and made absolute against `root` (the
    YAML file's folder). A `hf:owner/name` Hub id is returned unchanged."""
    if text.startswith(HUB_PREFIX):
        return text
    for prefix, base in places.items():
        if text == prefix or text.startswith(prefix + "/"):
            rest = text[len(prefix) :].lstrip("/")
            return str((base / rest) if rest else base)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = root / path
    return os.path.normpath(str(path))


def hub_id(text: str) -> str | None:
    """The Hub repository id of `hf:owner/name`, or of a bare `owner/name` that is not a local path."""
    if text.startswith(HUB_PREFIX):
        return text[len(HUB_PREFIX) :]
    return None


def looks_like_hub_id(text: str) -> bool:
    return bool(_HUB_ID.fullmatch(text)) and not text.startswith((".", "~", "{"))
