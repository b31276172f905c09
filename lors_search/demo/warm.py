"""The main job's scoring phase: the base, every expert (on its own language) and the multi-task model decoded
once per benchmark on dev and test into the score cache kept with the data (`evaluation/score_cache.py`), so the
report (and any later run on this build) reads them instead of decoding them again."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path


def warm_scores(out: Path, languages: Sequence[str], *, batch_size: int = 64, device: str = "cpu") -> None:
    from lors_search.evaluation.score_cache import ScoreCache, score_model_dir

    cache = ScoreCache(out / "data")
    models = [("base", out / "base", None), ("multitask", out / "multitask", None)]
    models += [(f"expert {lang}", out / "experts" / lang, (lang,)) for lang in languages]
    for label, path, langs in models:
        if not path.is_dir():
            continue
        started = time.perf_counter()
        _, cached = score_model_dir(cache, path, ("dev", "test"), languages=langs or tuple(languages),
                                    device=device, batch_size=batch_size, bar=True)
        how = "cached" if cached else f"decoded in {time.perf_counter() - started:.0f} s"
        print(f"  {label}: dev and test {how}", flush=True)
