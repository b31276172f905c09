"""The batched greedy decoder gives exactly `model.generate`'s tokens, whatever the batch size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lors_search.errors import UserError
from eval_fixtures import WINDOW_SECONDS

from lors_search.evaluation.decoding import GreedyDecoder, PromptIds, window_seconds


def _generate(model, features: np.ndarray, languages: list[str], task: str, max_new_tokens: int) -> list[list[int]]:
    """Reference: transformers' own Whisper generate, greedy, cut at the first end-of-text."""
    eos = model.generation_config.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            torch.from_numpy(features.astype(np.float32)), language=languages, task=task, max_new_tokens=max_new_tokens
        )
    rows = []
    for row in out.tolist():
        rows.append(row[: row.index(eos)] if eos in row else row)
    return rows


@pytest.mark.parametrize("task", ["transcribe", "translate"])
def test_decoder_equals_generate(model, dev, task: str) -> None:
    clips = list(range(dev.n_clips))
    features = np.asarray(dev.features[clips])
    languages = [dev.clip_languages[c] for c in clips]
    decoder = GreedyDecoder(model, max_new_tokens=12)
    mine = decoder.decode(features, clips, [decoder.ids.prompt(lang, task) for lang in languages])
    assert mine == _generate(model, features, languages, task, 12)
    lengths = {len(tokens) for tokens in mine}
    # The trained fixture stops at varied lengths, so rows leave the batch at different steps.
    assert len(lengths) >= 3 and min(lengths) < 12


def test_decoder_shares_the_encoder_between_tasks(model, dev) -> None:
    decoder = GreedyDecoder(model, max_new_tokens=12)
    features = np.asarray(dev.features[:4])
    rows = [c for c in range(4) for _ in range(2)]
    prompts = [decoder.ids.prompt(dev.clip_languages[c], t) for c in range(4) for t in ("transcribe", "translate")]
    mixed = decoder.decode(features, rows, prompts)
    assert decoder.encoder_clips == 4 and decoder.rows_decoded == 8
    for task_index, task in enumerate(("transcribe", "translate")):
        expected = _generate(model, features, [dev.clip_languages[c] for c in range(4)], task, 12)
        assert mixed[task_index::2] == expected


def test_decoder_is_batch_size_invariant(model, dev) -> None:
    decoder = GreedyDecoder(model)
    rows = dev.rows()
    prompts = [decoder.ids.prompt(dev.row_language(r), dev.row_task(r)) for r in rows]
    clips = [dev.row_clip(r) for r in rows]

    def run(batch: int) -> list[list[int]]:
        out: list[list[int]] = []
        for i in range(0, len(rows), batch):
            part = clips[i : i + batch]
            unique = list(dict.fromkeys(part))
            out += decoder.decode(
                np.asarray(dev.features[unique]), [unique.index(c) for c in part], prompts[i : i + batch]
            )
        return out

    whole = run(len(rows))
    assert run(1) == whole
    assert run(7) == whole


def test_untrained_model_runs_to_max_new_tokens(tokenizer, dev) -> None:
    from lors_search.whisper.model import ModelShape, new_model

    shape = ModelShape(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
                       window_seconds=WINDOW_SECONDS, max_target_positions=16)
    model = new_model(shape, tokenizer, seed=3).eval()
    decoder = GreedyDecoder(model)
    assert decoder.max_new_tokens == 12  # max_target_positions minus the 4-token prompt
    features = np.asarray(dev.features[:3])
    languages = [dev.clip_languages[c] for c in range(3)]
    mine = decoder.decode(features, [0, 1, 2], [decoder.ids.prompt(lang, "translate") for lang in languages])
    assert mine == _generate(model, features, languages, "translate", 12)


def test_suppressed_tokens_are_never_chosen(model, dev) -> None:
    """Like real Whisper checkpoints, whose generation configs suppress many tokens."""
    decoder = GreedyDecoder(model, max_new_tokens=8)
    features = np.asarray(dev.features[:6])
    prompts = [decoder.ids.prompt(dev.clip_languages[c], "transcribe") for c in range(6)]
    first = decoder.decode(features, list(range(6)), prompts)
    banned_first = sorted({tokens[0] for tokens in first if tokens})
    banned = sorted({tokens[1] for tokens in first if len(tokens) > 1})
    assert banned_first and banned
    gen = model.generation_config
    gen.begin_suppress_tokens, gen.suppress_tokens = banned_first, banned
    try:
        again = GreedyDecoder(model, max_new_tokens=8).decode(features, list(range(6)), prompts)
        reference = _generate(model, features, [dev.clip_languages[c] for c in range(6)], "transcribe", 8)
    finally:
        gen.begin_suppress_tokens, gen.suppress_tokens = [], []
    assert again == reference and again != first
    assert all(tokens[0] not in banned_first for tokens in again if tokens)
    assert not any(set(tokens) & set(banned) for tokens in again)


def test_prompts_and_window(model, tokenizer) -> None:
    ids = PromptIds.from_model(model)
    expected = tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "<|sv|>", "<|translate|>", "<|notimestamps|>"])
    assert list(ids.prompt("sv", "translate")) == expected
    assert ids.eos == tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert window_seconds(model.config) == WINDOW_SECONDS
    with pytest.raises(UserError, match="no language token for 'xx'"):
        ids.prompt("xx", "transcribe")


def test_bad_decoder_inputs(model) -> None:
    with pytest.raises(UserError, match="max_new_tokens must be between 1 and 20"):
        GreedyDecoder(model, max_new_tokens=21)
    decoder = GreedyDecoder(model)
    with pytest.raises(UserError, match="features have 3000 frames but the model needs 200"):
        decoder.decode(np.zeros((1, 80, 3000), dtype=np.float16), [0], [decoder.ids.prompt("de", "transcribe")])
