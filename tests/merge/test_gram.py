"""RegMean's Gram matrices (lors_search.whisper.gram) on a tiny real Whisper and real eSpeak NG speech through
the real WhisperFeatureExtractor: each Gram equals X^T X of the layer's inputs captured independently in plain
full-model forward passes, only train clips of the expert's language are read, and the safetensors cache is
reused, invalidated by a changed checkpoint, and written with the umask's file mode."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import WhisperForConditionalGeneration, WhisperTokenizer
from tiny_bench_kit import WINDOW_SECONDS, corpus_spec, one_thread, tiny_shape

from lors_search.checkpoints import load_checkpoint
from lors_search.errors import UserError
from lors_search.merging.rules import DEFAULT_RULES, assign_treatments
from lors_search.whisper.gram import (
    Grams,
    compute_grams,
    expert_grams,
    gram_cache_path,
    gram_tensor_names,
    load_grams,
    model_from_checkpoint,
    select_clips,
)

LANGUAGES = ("de", "es")
CLIPS = {"train": 10, "dev": 3, "test": 2}


@dataclass(frozen=True)
class GramBench:
    data_dir: Path
    model_dir: Path


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> GramBench:
    """A two-language corpus and an untrained tiny Whisper saved with its processor (random weights are real
    weights here: the Grams only need real inputs flowing through a real model)."""
    from lors_search.speech.corpus import build_corpus
    from lors_search.whisper.model import build_processor, new_model
    from lors_search.whisper.tokenizer import restricted_tokenizer

    root = tmp_path_factory.mktemp("gram")
    with one_thread():
        data_dir = build_corpus(corpus_spec(LANGUAGES, CLIPS), root / "data", workers=1, progress=False)
    corpus = datasets.load_from_disk(str(data_dir))
    tokenizer = restricted_tokenizer([" " + t for s in corpus.values() for t in (*s["transcript"], *s["translation"])])
    model = new_model(tiny_shape(), tokenizer, seed=0)
    model.generation_config._from_model_config = False
    model.save_pretrained(root / "expert")
    build_processor(tokenizer, WINDOW_SECONDS).save_pretrained(root / "expert")
    return GramBench(data_dir, root / "expert")


def independent_grams(model, tokenizer, clips) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """X^T X in float64 from inputs captured by forward hooks (module, input, output) in ordinary full-model
    forward passes, one unpadded (clip, task) row at a time, prompts built from the generation config."""
    from lors_search.evaluation.decoding import PromptIds

    ids = PromptIds.from_model(model)
    names = [n for n, t in assign_treatments([n for n, _ in model.named_parameters()]).items() if t == "lowrank_sparse"]
    modules = dict(model.named_modules())
    sums = {name: np.zeros((modules[name[:-7]].in_features,) * 2) for name in names}
    counts = dict.fromkeys(names, 0)
    capture = {"encoder": True}

    def hook(name):
        def record(module, inputs, output):
            if name.startswith("model.encoder.") and not capture["encoder"]:
                return  # each clip's encoder pass is counted once, as the encoder runs once per clip
            x = inputs[0].detach().double().reshape(-1, inputs[0].shape[-1]).numpy()
            sums[name] += x.T @ x
            counts[name] += x.shape[0]

        return record

    handles = [modules[name[:-7]].register_forward_hook(hook(name)) for name in names]
    try:
        with torch.no_grad():
            for clip in range(len(clips)):
                features = torch.from_numpy(np.asarray(clips.features[clip : clip + 1], dtype=np.float32))
                for task, text in (("transcribe", clips.transcripts[clip]), ("translate", clips.translations[clip])):
                    body = tokenizer(text, add_special_tokens=False).input_ids
                    sequence = [*ids.prompt(clips.languages[clip], task), *body, ids.eos]
                    capture["encoder"] = task == "transcribe"
                    model(input_features=features, decoder_input_ids=torch.tensor([sequence[:-1]]))
    finally:
        for handle in handles:
            handle.remove()
    return sums, counts


def test_each_gram_is_x_transpose_x_of_the_layer_input(bench: GramBench) -> None:
    checkpoint = load_checkpoint(bench.model_dir)
    model = model_from_checkpoint(checkpoint)
    from lors_search.whisper.gram import checkpoint_tokenizer

    tokenizer = checkpoint_tokenizer(checkpoint)
    clips = select_clips(bench.data_dir, "es", 6, window_seconds=WINDOW_SECONDS)
    reloaded = WhisperForConditionalGeneration.from_pretrained(bench.model_dir).eval()
    with one_thread():
        grams = compute_grams(model, tokenizer, clips, batch_clips=4)  # 6 clips: a full and a partial batch
        expected, counts = independent_grams(reloaded, WhisperTokenizer.from_pretrained(bench.model_dir), clips)
    assert set(grams.grams) == set(expected) == set(gram_tensor_names(model))
    assert grams.counts == counts
    positions = model.config.max_source_positions
    tokens = sum(len(tokenizer(t, add_special_tokens=False).input_ids) + 4  # prompt + text
                 for t in (*clips.transcripts, *clips.translations))
    assert grams.encoder_frames == 6 * positions
    assert grams.decoder_tokens == tokens
    assert grams.counts["model.decoder.layers.1.encoder_attn.k_proj.weight"] == 2 * 6 * positions
    # One input, several projections: self-attention q/k/v and cross-attention k/v share one Gram object.
    layer = "model.decoder.layers.0"
    assert grams.grams[f"{layer}.self_attn.k_proj.weight"] is grams.grams[f"{layer}.self_attn.q_proj.weight"]
    assert grams.grams[f"{layer}.self_attn.v_proj.weight"] is grams.grams[f"{layer}.self_attn.q_proj.weight"]
    assert grams.grams[f"{layer}.encoder_attn.v_proj.weight"] is grams.grams[f"{layer}.encoder_attn.k_proj.weight"]
    assert grams.grams[f"{layer}.encoder_attn.q_proj.weight"] is not grams.grams[f"{layer}.encoder_attn.k_proj.weight"]
    assert grams.grams[f"{layer}.fc1.weight"] is not grams.grams[f"{layer}.self_attn.out_proj.weight"]
    for name, gram in grams.grams.items():
        assert gram.dtype == torch.float32
        reference = torch.from_numpy(expected[name]).float()
        torch.testing.assert_close(gram, reference, rtol=2e-5, atol=2e-5 * float(reference.abs().max()), msg=name)
        torch.testing.assert_close(grams.mean(name), reference / counts[name], rtol=2e-5,
                                   atol=2e-5 * float(reference.abs().max()) / counts[name])


def test_gram_names_are_the_eligible_linear_weights(bench: GramBench) -> None:
    model = model_from_checkpoint(load_checkpoint(bench.model_dir))
    names = gram_tensor_names(model, DEFAULT_RULES)
    shape = tiny_shape()
    assert len(names) == shape.encoder_layers * 6 + shape.decoder_layers * 10
    assert "model.encoder.layers.0.self_attn.q_proj.weight" in names
    assert "model.decoder.layers.1.encoder_attn.v_proj.weight" in names
    assert "model.decoder.layers.1.fc2.weight" in names
    assert not any(name.endswith(".bias") or "conv" in name or "embed" in name for name in names)


def test_clips_come_from_the_train_split_of_one_language(bench: GramBench) -> None:
    train = datasets.load_from_disk(str(bench.data_dir))["train"]
    by_id = {row_id: (lang, tr) for row_id, lang, tr in zip(train["id"], train["language"], train["transcript"], strict=True)}
    clips = select_clips(bench.data_dir, "de", 4)
    assert len(clips) == 4 and set(clips.languages) == {"de"}
    assert all(by_id[i] == ("de", t) for i, t in zip(clips.ids, clips.transcripts, strict=True))
    assert clips.features.shape == (4, 80, 100 * WINDOW_SECONDS)
    everything = select_clips(bench.data_dir, "de", 1000)
    assert len(everything) == sum(1 for lang in train["language"] if lang == "de")
    assert select_clips(bench.data_dir, "de", 4, seed=1).ids != clips.ids  # a seeded draw, not the first rows
    assert len(select_clips(bench.data_dir, "de", 3, subset="base")) == 3
    with pytest.raises(UserError, match="no 'fr' clips"):
        select_clips(bench.data_dir, "fr", 4)
    with pytest.raises(UserError, match="subset 'expert'"):
        select_clips(bench.data_dir, "de", 4, subset="expert")


def test_cache_is_reused_and_invalidated_when_the_checkpoint_changes(bench: GramBench, tmp_path: Path) -> None:
    cache = tmp_path / "grams"
    checkpoint = load_checkpoint(bench.model_dir)
    with one_thread():
        first = expert_grams(checkpoint, bench.data_dir, "de", clips=3, cache_dir=cache)
    assert not first.cached and first.key
    files = sorted(cache.iterdir())
    assert [f.name for f in files] == [gram_cache_path(cache, "de", first.key).name]
    mask = os.umask(0)
    os.umask(mask)
    assert files[0].stat().st_mode & 0o777 == 0o666 & ~mask
    with open(files[0], "rb") as handle:  # safetensors: an 8-byte header length, then a JSON header
        header = handle.read(9)
    assert header[8:9] == b"{"

    again = expert_grams(load_checkpoint(bench.model_dir), bench.data_dir, "de", clips=3, cache_dir=cache)
    assert again.cached and again.key == first.key and again.counts == first.counts
    for name in first.grams:
        assert torch.equal(again.grams[name], first.grams[name])
    # Shared Grams (q/k/v of one attention) are stored once and shared again on reading.
    with safe_open(str(files[0]), framework="pt") as handle:
        assert len(list(handle.keys())) == 2 * 4 + 2 * 7 < len(first.grams) == 2 * 6 + 2 * 10
    q = "model.encoder.layers.1.self_attn.q_proj.weight"
    assert again.grams[q.replace("q_proj", "v_proj")] is again.grams[q]

    changed = load_checkpoint(bench.model_dir)
    changed.state_dict["model.decoder.layers.0.fc1.weight"] = changed.state_dict[
        "model.decoder.layers.0.fc1.weight"] * 1.5
    with one_thread():
        other = expert_grams(changed, bench.data_dir, "de", clips=3, cache_dir=cache)
    assert not other.cached and other.key != first.key
    # fc1 of decoder layer 0 scales what decoder layer 0's fc2 reads: that Gram changes, the encoder's do not.
    assert not torch.equal(other.grams["model.decoder.layers.0.fc2.weight"], first.grams["model.decoder.layers.0.fc2.weight"])
    assert torch.equal(other.grams["model.encoder.layers.1.fc1.weight"], first.grams["model.encoder.layers.1.fc1.weight"])
    assert len(list(cache.iterdir())) == 2

    more = expert_grams(checkpoint, bench.data_dir, "de", clips=4, cache_dir=cache)
    assert not more.cached and more.key not in (first.key, other.key) and more.clips == 4
    assert not [f for f in cache.iterdir() if f.name.startswith(".")]  # no temporary file left behind


def test_a_damaged_or_foreign_cache_file_is_recomputed(bench: GramBench, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(bench.model_dir)
    first = expert_grams(checkpoint, bench.data_dir, "es", clips=2, cache_dir=tmp_path)
    path = gram_cache_path(tmp_path, "es", first.key)
    assert isinstance(load_grams(path, first.meta), Grams)
    assert load_grams(path, {**first.meta, "language": "de"}) is None
    path.write_bytes(b"not a safetensors file")
    again = expert_grams(checkpoint, bench.data_dir, "es", clips=2, cache_dir=tmp_path)
    assert not again.cached
    assert load_grams(path, first.meta) is not None
