"""Reading a search-space YAML: paths expanded (`{name}` prefixes the caller maps, `~`, relative to the file),
the schema validated, the files checked and the space compiled, every problem one `UserError` line naming the
file and the field; and the resolved YAML (everything explicit and absolute) that reloads into an equal space.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lors_search.errors import UserError
from lors_search.space import schema
from lors_search.space.compiled import CompiledSpace
from lors_search.space.paths import HUB_PREFIX, Places, expand_path, looks_like_hub_id
from lors_search.space.schema import RESOLVED_HEADER, SearchSpace, resolved_yaml
from lors_search.space.validate import SpaceProblem, check_space

__all__ = ["RESOLVED_HEADER", "load_search_space", "read_space_file", "resolved_yaml", "space_from_dict", "space_from_raw"]


def load_search_space(
    path: str | os.PathLike[str],
    *,
    check_paths: bool = True,
    only_methods: Sequence[str] | None = None,
    places: Places | None = None,
) -> CompiledSpace:
    """Read, validate, check and compile the search space at `path`.

    check_paths False skips the checks that need files (for templates): base/expert/data paths, data languages;
    rank bounds and seeds are still checked when the base's shape is known without files (a public OpenAI
    Whisper Hub id). `only_methods` keeps these of a methods space's methods (each searched with the ranges the
    file gives it) and names the space `<name>-<m1>+<m2>`. `places` maps path prefixes such as `{demo}` to
    directories. Raises UserError("search space <file>: <field>: <problem>").
    """
    file = Path(path)
    raw = read_space_file(file)
    raw.setdefault("name", file.stem)
    return space_from_raw(
        raw, file.resolve().parent, f"search space {file}", check_paths=check_paths, only_methods=only_methods, places=places
    )


def read_space_file(file: Path) -> dict[str, Any]:
    """The YAML mapping at `file`, as written (nothing expanded); UserError when unreadable or no mapping."""
    label = f"search space {file}"
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read search space {file}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{label} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{label} must be a YAML mapping (base, experts, data, ...)")
    return raw


def space_from_raw(
    raw: dict[str, Any],
    root: Path,
    label: str,
    *,
    check_paths: bool = True,
    only_methods: Sequence[str] | None = None,
    places: Places | None = None,
) -> CompiledSpace:
    """A space's YAML mapping (named) with its paths expanded against `root` and `places`, restricted to
    `only_methods`, validated, checked and compiled; `label` starts every error message."""
    raw = expand_paths(raw, root, places or {})
    if only_methods is not None:
        raw = _restrict_methods(raw, only_methods, label)
    return space_from_dict(raw, label, check_paths=check_paths)


def space_from_dict(raw: dict[str, Any], label: str, *, check_paths: bool = True) -> CompiledSpace:
    """Validate an already path-expanded mapping; `label` starts every error message."""
    try:
        space = SearchSpace.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{label}: {describe_errors(exc)}") from None
    try:
        return check_space(space, check_paths=check_paths)
    except SpaceProblem as exc:
        raise UserError(f"{label}: {exc}") from None


def expand_paths(raw: dict[str, Any], root: Path, places: Places) -> dict[str, Any]:
    """A copy of `raw` with base, experts[].path, data.path and compare values expanded against `root` and
    `places` (`expand_path`).
    A base written `owner/name` that is no local path stays a Hub id; experts on the Hub use `hf:owner/name`."""
    out = dict(raw)
    base = out.get("base")
    if isinstance(base, str) and base:
        keep_hub = base.startswith(HUB_PREFIX) or (looks_like_hub_id(base) and not (root / base).exists())
        out["base"] = base if keep_hub else expand_path(base, root, places)
    experts = out.get("experts")
    if isinstance(experts, list):
        out["experts"] = [
            {**entry, "path": expand_path(entry["path"], root, places)}
            if isinstance(entry, dict) and isinstance(entry.get("path"), str) and entry["path"]
            else entry
            for entry in experts
        ]
    data = out.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str) and data["path"]:
        out["data"] = {**data, "path": expand_path(data["path"], root, places)}
    compare = out.get("compare")
    if isinstance(compare, dict):
        out["compare"] = {
            key: expand_path(value, root, places) if isinstance(value, str) and value else value for key, value in compare.items()
        }
    return out


def _known_keys() -> list[str]:
    keys: set[str] = set()
    for value in vars(schema).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            keys.update(value.model_fields)
    return sorted(keys)


def describe_errors(exc: ValidationError) -> str:
    """One line from a pydantic error: `field.path: problem` per problem, unknown keys with a suggestion."""
    parts = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not str(part).startswith(("function-", "literal["))]
        where = ".".join(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(loc[-1] if loc else "", _known_keys(), n=1)
            message = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif error["type"] == "missing":
            message = "missing (required)"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(dict.fromkeys(parts))


def _restrict_methods(raw: dict[str, Any], only: Sequence[str], label: str) -> dict[str, Any]:
    """The space with only these of its `methods:` (searching one method alone, or a few, with the same ranges;
    the `task_arithmetic` seed goes when no kept method can express it)."""
    methods = raw.get("methods")
    if not isinstance(methods, dict):
        raise UserError(f"{label} has no methods: section to choose from (--methods needs a methods search space)")
    unknown = [name for name in only if name not in methods]
    if unknown or not only:
        given = ", ".join(methods)
        raise UserError(f"{label}: --methods {unknown[0] if unknown else '(empty)'} is not one of its methods ({given})")
    kept = list(dict.fromkeys(only))
    out = {**raw, "methods": {name: methods[name] for name in kept}, "name": f"{raw['name']}-{'+'.join(kept)}"}
    if isinstance(raw.get("seeds"), list) and not any(host in kept for host in schema.TASK_ARITHMETIC_HOSTS):
        # Task arithmetic 1/N is a point of the methods that host it only; without them it is no seed here.
        out["seeds"] = [seed for seed in raw["seeds"] if seed != "task_arithmetic"]
    return out
