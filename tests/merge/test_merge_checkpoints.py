"""Checkpoint I/O: HF directories (single file and shards), openai-whisper .pt files, Hub ids offline,
validation before any maths, and saving a merged checkpoint that transformers reloads."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file
from transformers import GenerationConfig, WhisperForConditionalGeneration

from lors_search.checkpoints import (
    CardInfo,
    load_checkpoint,
    openai_to_hf_name,
    save_merged,
    validate_compatible,
)
from lors_search.errors import UserError
from lors_search.merging import DEFAULT_RULES, MergeParams, merge_state_dicts

from merge_fixtures import LANG_TO_ID, TINY, openai_dims, write_openai


def test_load_hf_directory(tiny) -> None:
    checkpoint = load_checkpoint(tiny.base_dir)
    assert checkpoint.format == "hf"
    assert checkpoint.state_dict.keys() == tiny.base.keys()  # tied proj_out left out
    assert all(torch.equal(checkpoint.state_dict[n], tiny.base[n]) for n in tiny.base)
    assert checkpoint.config.d_model == TINY["d_model"]
    assert checkpoint.generation_config["lang_to_id"] == LANG_TO_ID
    assert {f.name for f in checkpoint.processor_files} >= {"tokenizer.json", "tokenizer_config.json"}


def test_load_sharded_safetensors(tiny, tmp_path: Path) -> None:
    directory = tmp_path / "sharded"
    directory.mkdir()
    shutil.copy(tiny.base_dir / "config.json", directory)
    names = list(tiny.base)
    halves = {"model-00001-of-00002.safetensors": names[:40], "model-00002-of-00002.safetensors": names[40:]}
    weight_map = {}
    for file, part in halves.items():
        save_file({n: tiny.base[n].contiguous() for n in part}, str(directory / file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    checkpoint = load_checkpoint(directory)
    assert all(torch.equal(checkpoint.state_dict[n], tiny.base[n]) for n in names)


def test_openai_names_map_to_hf_names() -> None:
    assert openai_to_hf_name("decoder.blocks.3.cross_attn.key.weight") == "model.decoder.layers.3.encoder_attn.k_proj.weight"
    assert openai_to_hf_name("encoder.blocks.0.mlp.2.bias") == "model.encoder.layers.0.fc2.bias"
    assert openai_to_hf_name("encoder.blocks.5.attn_ln.weight") == "model.encoder.layers.5.self_attn_layer_norm.weight"
    assert openai_to_hf_name("decoder.blocks.1.mlp_ln.bias") == "model.decoder.layers.1.final_layer_norm.bias"
    assert openai_to_hf_name("encoder.ln_post.weight") == "model.encoder.layer_norm.weight"
    assert openai_to_hf_name("encoder.positional_embedding") == "model.encoder.embed_positions.weight"
    assert openai_to_hf_name("decoder.token_embedding.weight") == "model.decoder.embed_tokens.weight"
    assert openai_to_hf_name("decoder.blocks.0.attn.rotary") is None


def test_load_openai_checkpoint(tiny, tmp_path: Path) -> None:
    path = write_openai(tmp_path / "small.pt", tiny.base, tiny.config)
    checkpoint = load_checkpoint(path)
    assert checkpoint.format == "openai"
    assert checkpoint.state_dict.keys() == tiny.base.keys()
    assert all(torch.equal(checkpoint.state_dict[n], tiny.base[n].half()) for n in tiny.base)
    # An openai-format expert merges with an HF-format base: same architecture.
    validate_compatible(load_checkpoint(tiny.base_dir), [checkpoint])


class NotATensor:
    pass


def test_openai_checkpoint_with_arbitrary_objects_is_refused(tiny, tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"dims": openai_dims(tiny.config), "model_state_dict": {}, "payload": NotATensor()}, path)
    with pytest.raises(UserError, match="not a readable openai-whisper checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("hub", "could not be fetched from the Hugging Face Hub"),
        ("corrupt", "not a readable safetensors file"),
        ("pickle_only", "safetensors only"),
        ("no_config", "has no config.json"),
        ("not_whisper", "not a Whisper model"),
        ("other_file", "is a file"),
    ],
)
def test_unloadable_sources_raise_one_line_user_errors(tiny, tmp_path: Path, setup: str, message: str) -> None:
    source: str | Path = tmp_path / "model"
    if setup == "hub":
        source = "lors-search-tests/no-such-model"
    elif setup != "missing":
        shutil.copytree(tiny.base_dir, source)
        if setup == "corrupt":
            weights = source / "model.safetensors"
            weights.write_bytes(weights.read_bytes()[:200])
        elif setup == "pickle_only":
            (source / "model.safetensors").rename(source / "pytorch_model.bin")
        elif setup == "no_config":
            (source / "config.json").unlink()
        elif setup == "not_whisper":
            (source / "config.json").write_text(json.dumps({"model_type": "bert"}))
        elif setup == "other_file":
            source = source / "config.json"
    with pytest.raises(UserError, match=message) as caught:
        load_checkpoint(source)
    assert "\n" not in str(caught.value)


def test_validation_catches_incompatible_experts(tiny) -> None:
    base = load_checkpoint(tiny.base_dir)
    expert = load_checkpoint(tiny.expert_dirs["de"])
    assert validate_compatible(base, [expert])["model.encoder.layers.0.fc1.weight"] == "lowrank_sparse"

    def variant(**changes):
        copy = load_checkpoint(tiny.expert_dirs["de"])
        for key, value in changes.items():
            setattr(copy, key, value)
        return copy

    wider = variant()
    wider.config.encoder_ffn_dim = 128
    with pytest.raises(UserError, match="encoder_ffn_dim is 128"):
        validate_compatible(base, [wider])
    nan = variant()
    nan.state_dict["model.decoder.layers.1.fc2.weight"][0, 0] = float("nan")
    with pytest.raises(UserError, match=re.escape("'model.decoder.layers.1.fc2.weight' holds NaN")):
        validate_compatible(base, [nan])
    short = variant()
    del short.state_dict["model.decoder.layer_norm.bias"]
    with pytest.raises(UserError, match=re.escape("lacks tensor 'model.decoder.layer_norm.bias'")):
        validate_compatible(base, [short])
    reshaped = variant()
    reshaped.state_dict["model.encoder.conv1.bias"] = torch.zeros(3)
    with pytest.raises(UserError, match="has shape \\(3,\\)"):
        validate_compatible(base, [reshaped])
    no_conv_rule = [rule for rule in DEFAULT_RULES if "conv" not in rule.pattern]
    with pytest.raises(UserError, match=re.escape("'model.encoder.conv1.weight' is covered by no merge rule")):
        validate_compatible(base, [expert], no_conv_rule)


def test_save_merged_reloads_with_transformers(tiny, tmp_path: Path) -> None:
    base = load_checkpoint(tiny.base_dir)
    params = MergeParams(method="lors", params={"rank": 3})
    merged = merge_state_dicts(tiny.base, tiny.experts, params)
    card = CardInfo(params=params, base=str(tiny.base_dir), experts=[(n, str(p)) for n, p in tiny.expert_dirs.items()])
    out = save_merged(tmp_path / "merged", base, merged, params, card)
    files = {f.name for f in out.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "merge_config.yaml", "README.md"} <= files
    assert {f.name for f in base.processor_files} <= files
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")]  # no temporary directory left

    model = WhisperForConditionalGeneration.from_pretrained(out)
    reloaded = model.state_dict()
    for name, tensor in merged.items():
        assert torch.equal(reloaded[name], tensor), name
    assert torch.equal(reloaded["proj_out.weight"], merged["model.decoder.embed_tokens.weight"])
    assert model.generation_config.lang_to_id == LANG_TO_ID
    assert GenerationConfig.from_pretrained(out).task_to_id == {"transcribe": 31, "translate": 32}
    assert yaml.safe_load((out / "merge_config.yaml").read_text())["params"] == {"rank": 3}
    card_text = (out / "README.md").read_text()
    assert "arXiv 2502.17380" in card_text and "| de |" in card_text and "`rank`: 3" in card_text


def test_save_merged_refuses_an_existing_directory_unless_forced(tiny, tmp_path: Path) -> None:
    base = load_checkpoint(tiny.base_dir)
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists"):
        save_merged(out, base, tiny.base, None, None)
    assert [f.name for f in out.iterdir()] == ["keep.txt"]
    save_merged(out, base, tiny.base, None, None, force=True)
    assert (out / "model.safetensors").exists() and not (out / "keep.txt").exists()


def test_openai_base_gets_a_generation_config(tiny, tmp_path: Path) -> None:
    base = load_checkpoint(write_openai(tmp_path / "base.pt", tiny.base, tiny.config))
    out = save_merged(tmp_path / "from-pt", base, base.state_dict, None, None)
    model = WhisperForConditionalGeneration.from_pretrained(out)
    assert model.dtype == torch.float16
    assert model.generation_config.decoder_start_token_id == base.config.decoder_start_token_id
