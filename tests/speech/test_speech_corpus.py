"""End to end: a tiny corpus is built, reloads with `datasets.load_from_disk`, holds what the spec asked for,
and is bit-identical whether built in this process or by two spawned workers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
from speech_fixtures import tiny_spec_data

from lors_search.errors import UserError
from lors_search.speech.content import ContentKey, render
from lors_search.speech.corpus import INFO_FILE, SPEC_FILE, build_corpus, read_corpus_spec
from lors_search.speech.spec import parse_corpus_spec

COLUMNS = ["id", "language", "transcript", "translation", "audio", "duration", "voice", "rate", "pitch",
           "snr_db", "noise", "domain", "form", "content_key", "subset"]  # fmt: skip


def test_corpus_reloads_with_the_promised_columns(tiny_corpus: Path) -> None:
    corpus = datasets.load_from_disk(str(tiny_corpus))
    assert list(corpus) == ["train", "dev", "test"]
    assert [len(corpus[s]) for s in corpus] == [2 * 16 + 6, 12, 12]
    for split in corpus.values():
        assert split.column_names == COLUMNS
        assert split.features["audio"].feature.dtype == "float32"
    assert read_corpus_spec(tiny_corpus) == parse_corpus_spec(tiny_spec_data())
    info = json.loads((tiny_corpus / INFO_FILE).read_text())
    assert info["splits"]["dev"]["clips"] == 12 and info["window_seconds"] == 5
    assert (tiny_corpus / SPEC_FILE).is_file()


def test_rows_hold_real_audio_and_consistent_texts(tiny_corpus: Path) -> None:
    corpus = datasets.load_from_disk(str(tiny_corpus))
    ids: set[str] = set()
    for name, split in corpus.items():
        for row in split:
            key = ContentKey.parse(row["content_key"])
            assert row["transcript"] == render(key, row["language"])
            assert row["translation"] == render(key, "en")
            assert row["form"] == key.form and row["id"].startswith(f"{name}-")
            samples = np.asarray(row["audio"], dtype=np.float32)
            assert row["duration"] == pytest.approx(len(samples) / 16_000, abs=1e-6)
            assert 0.3 < row["duration"] <= 5.0
            assert np.sqrt(np.mean(samples**2)) > 1e-3
            assert row["voice"].split("+")[0] == row["language"]
            ids.add(row["id"])
    assert len(ids) == sum(len(s) for s in corpus.values())


def test_subsets_domains_and_noise_follow_the_spec(tiny_corpus: Path) -> None:
    corpus = datasets.load_from_disk(str(tiny_corpus))
    train = corpus["train"]
    assert set(train["subset"]) == {"base", "expert"}
    base = train.filter(lambda row: row["subset"] == "base")
    assert set(base["noise"]) == {"none"} and all(math.isnan(x) for x in base["snr_db"])
    assert {v.split("+", 1)[-1] if "+" in v else "" for v in base["voice"]} <= {"", "m1", "f2"}
    expert = train.filter(lambda row: row["subset"] == "expert")
    assert set(expert["language"]) == {"de"} and set(expert["form"]) == {"currency"}
    noisy = [(n, s) for n, s in zip(corpus["dev"]["noise"], corpus["dev"]["snr_db"], strict=True) if n != "none"]
    assert noisy and all(5 <= snr <= 15 for _, snr in noisy)
    keys = {name: set(split["content_key"]) for name, split in corpus.items()}
    assert not keys["train"] & keys["dev"] and not keys["train"] & keys["test"] and not keys["dev"] & keys["test"]


def test_worker_count_does_not_change_the_corpus(tiny_corpus: Path, tiny_corpus_two_workers: Path) -> None:
    one = datasets.load_from_disk(str(tiny_corpus))
    two = datasets.load_from_disk(str(tiny_corpus_two_workers))
    for name in one:
        a, b = one[name].with_format("numpy"), two[name].with_format("numpy")
        for column in COLUMNS:
            if column == "audio":
                assert all(np.array_equal(x, y) for x, y in zip(a["audio"], b["audio"], strict=True))
            else:
                assert np.array_equal(a[column], b[column], equal_nan=column == "snr_db"), column


def test_same_spec_same_audio_different_seed_different_audio(tiny_corpus: Path, tmp_path: Path) -> None:
    small = tiny_spec_data()
    small["subsets"] = small["subsets"][2:3]  # the dev subset only: fast
    first = build_corpus(small, tmp_path / "a", workers=1, progress=False)
    again = build_corpus(small, tmp_path / "b", workers=1, progress=False)
    other = build_corpus({**small, "seed": 99}, tmp_path / "c", workers=1, progress=False)
    a, b, c = (datasets.load_from_disk(str(p))["dev"] for p in (first, again, other))
    assert a["content_key"] == b["content_key"] and a["audio"] == b["audio"]
    assert a["content_key"] != c["content_key"]
    reference = datasets.load_from_disk(str(tiny_corpus))["dev"]
    assert a["audio"] == reference["audio"]  # the other subsets do not change this one
    assert len(datasets.load_from_disk(str(first))["train"]) == 0


def test_existing_output_is_refused_and_failures_leave_nothing(tiny_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="already exists"):
        build_corpus(tiny_spec_data(), tiny_corpus, workers=1, progress=False)
    bad: dict[str, Any] = tiny_spec_data()
    bad["subsets"][2]["forms"] = {"clock": {}}
    with pytest.raises(UserError, match="pool has only"):
        build_corpus(bad, tmp_path / "out", workers=1, progress=False)
    with pytest.raises(UserError, match="workers"):
        build_corpus(tiny_spec_data(), tmp_path / "out", workers=0, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_content_too_long_for_the_window_is_redrawn_not_truncated(tmp_path: Path) -> None:
    data = tiny_spec_data()
    # At 120-140 words/min German numbers from 1000 up last more than 2 s; those below fit.
    data["window_seconds"] = 2
    data["domains"]["clean"]["rate"] = [120, 140]
    data["subsets"] = [{"split": "dev", "tag": "long", "domain": "clean", "clips_per_language": 6,
                        "languages": ["de"], "forms": {"cardinal": {"range": [1, 2999]}}}]  # fmt: skip
    done = build_corpus(data, tmp_path / "long", workers=1, progress=False)
    info = json.loads((done / INFO_FILE).read_text())
    dev = datasets.load_from_disk(str(done))["dev"]
    assert len(dev) == 6 and max(dev["duration"]) <= 2.0
    assert info["splits"]["dev"]["replaced_content"] > 0  # long German numbers did not fit and were replaced
    assert len(set(dev["content_key"])) == 6
    data["window_seconds"] = 1
    data["voice_attempts"] = 1
    data["subsets"][0]["forms"] = {"cardinal": {"range": [700_000, 799_999]}}
    with pytest.raises(UserError, match="did not fit the 1-s window"):
        build_corpus(data, tmp_path / "never", workers=1, progress=False)
    assert not (tmp_path / "never").exists()


def test_a_progress_callback_sees_every_clip(tmp_path: Path) -> None:
    small = tiny_spec_data()
    small["subsets"] = small["subsets"][3:]
    seen: list[tuple[str, int, int]] = []
    build_corpus(small, tmp_path / "p", workers=1, progress=lambda *event: seen.append(event))
    assert seen[-1] == ("test", 12, 12) and len(seen) == 12
