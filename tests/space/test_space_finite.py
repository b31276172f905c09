"""Every bound, step and fixed value of a search-space parameter is a finite number, refused at load (before Ray
starts) with one line naming the file and the field: NaN passed every comparison and ran failing trials, an
infinite bound crashed the driver with OverflowError after the seed trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from space_fixtures import space_dict, write_space

from lors_search.errors import UserError
from lors_search.space import load_search_space

NAN, INF = float("nan"), float("inf")

# (changes to the valid space, the field the message names, the offending key)
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "fixed scale nan": ({"scale": NAN}, "scale", "value"),
    "fixed scale inf": ({"scale": {"value": INF}}, "scale", "value"),
    "scale high inf": ({"scale": {"low": 0.1, "high": INF}}, "scale", "high"),
    "scale low -inf": ({"scale": {"low": -INF, "high": 1.0}}, "scale", "low"),
    "scale low nan": ({"scale": {"low": NAN, "high": 1.0}}, "scale", "low"),
    "density high nan": ({"density": {"low": 0.1, "high": NAN}}, "density", "high"),
    "rank_ratio step nan": ({"rank_ratio": {"low": 0.1, "high": 0.5, "step": NAN}}, "rank_ratio", "step"),
    "rank_ratio step inf": ({"rank_ratio": {"low": 0.1, "high": 0.5, "step": INF}}, "rank_ratio", "step"),
    "group range nan": (
        {"group_ranges": {"enc.*": {"density": {"low": NAN, "high": 0.5}}}},
        "group_ranges.enc.*.density",
        "low",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_non_finite_numbers_fail_at_load(tree: Path, case: str) -> None:
    changes, field, key = CASES[case]
    # yaml.safe_dump writes .nan / .inf, as a user would.
    path = write_space(tree, space_dict(tree, **changes), f"finite-{abs(hash(case))}.yaml")
    with pytest.raises(UserError) as caught:
        load_search_space(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"search space {path}: {field}")
    assert f"{key} must be a finite number" in message


def test_yaml_spellings_of_nan_and_inf(tree: Path) -> None:
    path = tree / "finite-spelled.yaml"
    path.write_text(
        "base: models/base\n"
        "experts:\n"
        + "".join(f"  - {{name: {lang}, path: models/{lang}, language: {lang}}}\n" for lang in ("de", "es", "fr"))
        + "data: {path: data, split: dev}\n"
        "fidelity: {n_per_language: [2, null]}\n"
        "scale: {low: 0.1, high: .inf}\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError, match=r"scale: high must be a finite number, got inf"):
        load_search_space(path)
