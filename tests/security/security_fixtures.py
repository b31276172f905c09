"""Builders for tests/security: a workspace of tiny real inputs (HF Whisper checkpoints written with
save_pretrained, datasets written with save_to_disk, a search run directory) and broken copies of them."""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from merge_fixtures import perturb, save_model, tiny_config, write_processor
from safetensors.torch import load_file, save_file
from transformers import WhisperForConditionalGeneration

LANGUAGES = ("de", "es")
CLIPS = 3  # per language in dev


@dataclass(frozen=True)
class Workspace:
    root: Path

    def __getattr__(self, name: str) -> Path:  # ws.base -> root/base etc.; keeps the case table short
        return self.root / name.replace("__", "/")


def _tiny_state(config: Any, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = WhisperForConditionalGeneration(config).state_dict()
    state.pop("proj_out.weight")
    return state


def _edit_weights(directory: Path, edit: Any) -> None:
    file = directory / "model.safetensors"
    state = load_file(str(file))
    edit(state)
    save_file(state, str(file), metadata={"format": "pt"})


def _first(state: dict[str, torch.Tensor], part: str) -> str:
    return next(name for name in sorted(state) if part in name)


def _dataset(directory: Path, *, audio: str = "list", empty_dev: bool = False, rate: int | None = 16000) -> Path:
    import datasets

    value = datasets.Value("float32")
    audio_feature: Any = (
        {"array": datasets.Sequence(value), "sampling_rate": datasets.Value("int32")} if audio == "struct"
        else datasets.Sequence(value)
    )
    features = datasets.Features(
        {name: datasets.Value("string") for name in ("id", "language", "transcript", "translation")} | {"audio": audio_feature}
    )

    def split(count: int, name: str) -> Any:
        rows = [(f"{name}-{lang}-{i}", lang) for lang in LANGUAGES for i in range(count)]
        clip = np.zeros(1600, dtype=np.float32).tolist()
        return datasets.Dataset.from_dict(
            {
                "id": [r[0] for r in rows],
                "language": [r[1] for r in rows],
                "transcript": ["eins"] * len(rows),
                "translation": ["one"] * len(rows),
                "audio": [{"array": clip, "sampling_rate": 8000} if audio == "struct" else clip for _ in rows],
            },
            features=features,
        )

    # An empty split saved without an explicit shard, as datasets does by default: no data files at all.
    splits = {"train": split(2, "train"), "dev": split(0 if empty_dev else CLIPS, "dev"), "test": split(2, "test")}
    datasets.disable_progress_bars()
    datasets.DatasetDict(splits).save_to_disk(str(directory))
    if rate is not None:
        (directory / "corpus_info.json").write_text(json.dumps({"sampling_rate": rate}) + "\n", encoding="utf-8")
    return directory


def build_workspace(root: Path) -> Workspace:
    """Every input the bad-input cases need, under `root`."""
    config = tiny_config()
    base = _tiny_state(config, 0)
    save_model(root / "base", base, config)
    write_processor(root / "base")
    for seed, language in enumerate(LANGUAGES, start=1):
        save_model(root / "experts" / language, perturb(base, seed), config)

    # Broken experts.
    for name, edit in (
        ("wide", lambda s: s.__setitem__(_first(s, "fc1.weight"), torch.zeros(64, 33))),
        ("nan", lambda s: s[_first(s, "fc1.weight")].__setitem__((0, 0), float("nan"))),
    ):
        shutil.copytree(root / "experts" / "de", root / "broken" / name)
        _edit_weights(root / "broken" / name, edit)
    shutil.copytree(root / "experts" / "de", root / "broken" / "corrupt")
    (root / "broken" / "corrupt" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    shutil.copytree(root / "experts" / "de", root / "broken" / "pickled")
    (root / "broken" / "pickled" / "model.safetensors").unlink()
    (root / "broken" / "pickled" / "pytorch_model.bin").write_bytes(b"not read")
    # openai-style .pt files: a raw pickle, and a torch zip whose pickle calls os.system.
    with open(root / "broken" / "raw.pt", "wb") as handle:
        pickle.dump({"dims": {}, "model_state_dict": {"x": [1, 2]}}, handle, protocol=4)
    torch.save({"dims": {}, "model_state_dict": {"x": _Planted()}}, root / "broken" / "planted.pt")

    # A model `evaluate` accepts up to decoding: 80 mel bins, a 1-s window (50 positions = 100 frames).
    eval_config = tiny_config(num_mel_bins=80, max_source_positions=50)
    save_model(root / "evalmodel", _tiny_state(eval_config, 0), eval_config)
    write_processor(root / "evalmodel")
    shutil.copytree(root / "evalmodel", root / "evalnan")
    _edit_weights(root / "evalnan", lambda s: s[_first(s, "fc1.weight")].__setitem__((0, 0), float("nan")))
    shutil.copytree(root / "evalmodel", root / "evalcorrupt")
    (root / "evalcorrupt" / "model.safetensors").write_bytes(b"\xff" * 16)
    shutil.copytree(root / "evalmodel", root / "evalbert")
    raw = json.loads((root / "evalbert" / "config.json").read_text())
    (root / "evalbert" / "config.json").write_text(json.dumps({**raw, "model_type": "bert"}))

    _dataset(root / "data")
    _dataset(root / "data_struct", audio="struct", rate=None)
    _dataset(root / "data_8k", rate=8000)
    _dataset(root / "data_empty", empty_dev=True)

    # A search run directory over these inputs, as far as export and report read it before any work.
    run = root / "runs" / "run1"
    (run / "tune").mkdir(parents=True)
    space = space_dict(root, "run1")
    (run / "space.yaml").write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    (run / "run.json").write_text(json.dumps({"name": "run1", "study_name": "run1-x", "status": "finished"}) + "\n")
    (root / "space.yaml").write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    (root / "a_file").write_text("not a directory\n")
    return Workspace(root)


class _Planted:
    """A pickle that would run a command when unpickled (torch.load(weights_only=True) must refuse it)."""

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, ("touch /tmp/lors-search-planted-pickle-ran",))


def space_dict(root: Path, name: str, **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": name,
        "base": str(root / "base"),
        "experts": [{"name": lang, "path": str(root / "experts" / lang), "language": lang} for lang in LANGUAGES],
        "data": {"path": str(root / "data"), "split": "dev"},
        "method": "lors",
        "fidelity": {"n_per_language": [2, None]},
    }
    raw.update(changes)
    return raw
