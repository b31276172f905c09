"""The tiny corpus spec shared by the speech tests (a uniquely named module, so test files can import it
without colliding with other folders' conftest modules)."""

from __future__ import annotations

from typing import Any


def tiny_spec_data() -> dict[str, Any]:
    """Two languages, a clean and a noisy domain, all three splits; about 60 clips."""
    return {
        "languages": ["es", "de"],
        "domains": {
            "clean": {"variants": ["", "m1", "f2"], "rate": [150, 190], "pitch": [30, 70]},
            "noisy": {
                "variants": ["klatt", "f3"],
                "rate": [120, 220],
                "noise": {"snr_db": [5, 15], "colours": ["white", "pink"], "probability": 0.75},
            },
        },
        "subsets": [
            {"split": "train", "tag": "base", "domain": "clean", "clips_per_language": 16,
             "forms": {"cardinal": {"weight": 3}, "clock": {}, "percent": {}}},
            {"split": "train", "tag": "expert", "domain": "noisy", "clips_per_language": 6, "languages": ["de"],
             "forms": {"currency": {}}},
            {"split": "dev", "tag": "expert", "domain": "noisy", "clips_per_language": 6,
             "forms": {"currency": {}, "date": {}}, "language_forms": {"de": {"year": {}}}},
            {"split": "test", "tag": "expert", "domain": "noisy", "clips_per_language": 6,
             "forms": {"ordinal": {}, "decimal": {"range": [0, 20]}}},
        ],
        "seed": 7,
        "window_seconds": 5,
    }  # fmt: skip
