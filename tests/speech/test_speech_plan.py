"""Corpus specs and plans: validation with one-line errors, the seeded train/dev/test partition of content,
exact form shares, disjoint splits, deterministic plans and clear failures when a content pool is too small."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from speech_fixtures import tiny_spec_data

from lors_search.errors import UserError
from lors_search.speech.content import FORMS
from lors_search.speech.plan import SPLIT_CODES, content_pool, form_counts, plan_corpus, split_assignment
from lors_search.speech.spec import FormChoice, load_corpus_spec, parse_corpus_spec


def _with(change: dict[str, Any] | None = None, **subset0: Any) -> dict[str, Any]:
    data = copy.deepcopy(tiny_spec_data())
    data.update(change or {})
    data["subsets"][0].update(subset0)
    return data


@pytest.mark.parametrize("form", ["clock", "date", "ordinal", "currency", "cardinal"])
def test_partition_covers_every_key_once_with_the_requested_shares(form: str) -> None:
    assignment = split_assignment(form, 0, 0.1, 0.15)
    valid = FORMS[form].codes()
    counts = np.bincount(assignment[valid], minlength=3)
    assert counts.sum() == len(valid)
    assert counts[SPLIT_CODES["test"]] == math.ceil(0.15 * len(valid))
    assert counts[SPLIT_CODES["dev"]] == math.ceil(0.1 * len(valid))
    assert not assignment.flags.writeable


def test_partition_depends_on_the_seed_only() -> None:
    a, b = split_assignment("cardinal", 1, 0.1, 0.1), split_assignment("cardinal", 2, 0.1, 0.1)
    assert np.array_equal(a, split_assignment("cardinal", 1, 0.1, 0.1))
    assert 0.05 < np.mean(a != b) < 0.5


def test_pools_of_overlapping_ranges_agree() -> None:
    spec = parse_corpus_spec(tiny_spec_data())
    wide = set(content_pool(spec, "cardinal", "dev", (0, 9999)).tolist())
    narrow = set(content_pool(spec, "cardinal", "dev", (0, 999)).tolist())
    assert narrow and narrow <= wide
    assert not narrow & set(content_pool(spec, "cardinal", "train", (0, 999)).tolist())


def test_form_counts_are_exact() -> None:
    forms = {"cardinal": FormChoice(weight=3), "clock": FormChoice(), "percent": FormChoice()}
    assert form_counts(forms, 16) == {"cardinal": 10, "clock": 3, "percent": 3}
    assert form_counts(forms, 1) == {"cardinal": 1, "clock": 0, "percent": 0}
    assert sum(form_counts(forms, 1001).values()) == 1001


def test_plan_is_deterministic_and_splits_share_no_content() -> None:
    spec = parse_corpus_spec(tiny_spec_data())
    plan, again = plan_corpus(spec), plan_corpus(spec)
    keys = {split: {str(c.key) for c in clips} for split, clips in plan.clips.items()}
    assert [c.id for c in plan.clips["train"]] == [c.id for c in again.clips["train"]]
    assert [c.job for c in plan.clips["dev"]] == [c.job for c in again.clips["dev"]]
    assert not keys["train"] & keys["dev"] and not keys["train"] & keys["test"] and not keys["dev"] & keys["test"]
    assert len(plan.clips["train"]) == 2 * 16 + 6 and len(plan.clips["dev"]) == 12 and len(plan.clips["test"]) == 12
    # dev/test content does not repeat within a language; a language-specific form table is honoured.
    for split in ("dev", "test"):
        for language in ("es", "de"):
            drawn = [str(c.key) for c in plan.clips[split] if c.language == language]
            assert len(drawn) == len(set(drawn)) == 6
    assert {c.key.form for c in plan.clips["dev"] if c.language == "de"} == {"year"}
    assert {c.key.form for c in plan.clips["dev"] if c.language == "es"} == {"currency", "date"}
    base = [c for c in plan.clips["train"] if c.tag == "base" and c.language == "es"]
    assert [c.key.form for c in base].count("cardinal") == 10


def test_another_seed_gives_another_plan() -> None:
    one = plan_corpus(parse_corpus_spec(tiny_spec_data()))
    two = plan_corpus(parse_corpus_spec(_with({"seed": 8})))
    assert [str(c.key) for c in one.clips["test"]] != [str(c.key) for c in two.clips["test"]]


def test_voice_draws_stay_inside_the_domain() -> None:
    spec = parse_corpus_spec(tiny_spec_data())
    for clip in plan_corpus(spec).clips["dev"]:
        assert len(clip.job.draws) == spec.voice_attempts
        for draw in clip.job.draws:
            assert draw.variant in ("klatt", "f3") and 120 <= draw.rate <= 220
            assert draw.noise in ("none", "white", "pink")
            assert (draw.noise == "none") == math.isnan(draw.snr_db)
            assert draw.noise == "none" or 5 <= draw.snr_db <= 15


def test_a_too_small_dev_pool_is_refused_with_a_clear_message() -> None:
    data = tiny_spec_data()
    data["subsets"][2]["forms"] = {"clock": {}}
    with pytest.raises(UserError, match=r"needs 6 distinct clock items .* pool has only 2"):
        plan_corpus(parse_corpus_spec(data))
    data["subsets"][2]["repeat_content"] = True
    assert len(plan_corpus(parse_corpus_spec(data)).clips["dev"]) == 12


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with({"languages": ["es", "xx"]}), "unknown languages"),
        (_with(forms={"haiku": {}}), "unknown content form 'haiku'"),
        (_with(forms={"clock": {"range": [0, 20]}}), r"range \[0, 20\] must lie within \[1, 12\]"),
        (_with(domain="studio"), "unknown domain 'studio'"),
        (_with(language_forms={"fr": {"clock": {}}}), r"language_forms names \['fr'\]"),
        (_with(languages=["sv"]), r"languages \['sv'\] are not in the corpus languages"),
        (_with(split="validation"), "subsets.0.split"),
        (_with(clips_per_language=0), "clips_per_language"),
        (_with({"domains": {"clean": {"variants": ["m99"]}}}), "unknown eSpeak NG voice variants"),
        (_with({"domains": {"clean": {"rate": [50, 100]}}}), "rate must lie within"),
        (_with({"holdout": {"dev": 0.6, "test": 0.5}}), "leave some content for train"),
        (_with({"colour": "blue"}), "Extra inputs are not permitted"),
    ],
)
def test_bad_specs_raise_one_line_user_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        parse_corpus_spec(data)
    assert "\n" not in str(info.value) and str(info.value).startswith("invalid corpus spec")


def test_specs_load_from_yaml(tmp_path: Any) -> None:
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_data()), encoding="utf-8")
    assert load_corpus_spec(path) == parse_corpus_spec(tiny_spec_data())
    path.write_text("languages: [es\n", encoding="utf-8")
    with pytest.raises(UserError, match="not valid YAML"):
        load_corpus_spec(path)
    with pytest.raises(UserError, match="cannot read"):
        load_corpus_spec(tmp_path / "missing.yaml")
