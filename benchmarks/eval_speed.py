"""Evaluation speed: the same model and clips decoded in batches against one utterance at a time.

Both arms run `lors_search.evaluation.Evaluator` (the search's code path); only the batch size differs. A third
arm times transformers' own `model.generate` on the same batches, for reference. By default the model is a
random Whisper of the benchmark's size (`ModelShape()` defaults) with Whisper's full 51,865-token vocabulary:
untrained, it never emits end-of-text and decodes every row to max_new_tokens, the worst case. Give --model and
--data to time a trained checkpoint on a real dev set instead.

    python benchmarks/eval_speed.py [--clips 32] [--batch-size 64] [--vocab full|restricted]
    python benchmarks/eval_speed.py --model DIR --data DATA_DIR [--limit N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def synthetic_eval_set(clips: int, window: int, languages: tuple[str, ...]):
    """Clips of tone sequences (real audio through the real Whisper feature extractor) in several languages."""
    from transformers import WhisperFeatureExtractor

    from lors_search.evaluation.evalset import EvalSet

    rng = np.random.default_rng(0)
    rate = 16_000
    audio = []
    for _ in range(clips):
        tones = []
        for _ in range(int(rng.integers(3, 9))):
            t = np.arange(int(rate * rng.uniform(0.15, 0.4))) / rate
            tones.append(0.3 * np.sin(2 * np.pi * rng.uniform(150, 1500) * t) * np.hanning(len(t)))
        audio.append(np.concatenate(tones).astype(np.float32)[: rate * window])
    extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=rate, chunk_length=window)
    features = extractor(audio, sampling_rate=rate, return_tensors="np").input_features.astype(np.float16)
    langs = [languages[i % len(languages)] for i in range(clips)]
    ids = [f"clip-{i:04d}" for i in range(clips)]
    return EvalSet.build(features, ids, langs, ["x"] * clips, ["x"] * clips)


def random_model(vocab: str):
    from lors_search.whisper.model import ModelShape, new_model
    from lors_search.whisper.tokenizer import load_tokenizer, restricted_tokenizer

    if vocab == "full":
        tokenizer = load_tokenizer()
    else:  # what a benchmark model trained on number words would use: a few thousand tokens
        from num2words import num2words

        words = [num2words(n, lang=lang) for lang in ("ca", "de", "es", "fr", "it", "en") for n in range(0, 2000, 7)]
        tokenizer = restricted_tokenizer(words)
    return new_model(ModelShape(), tokenizer, seed=0).eval(), tokenizer


def timed(evaluator, n_per_language: int | None) -> tuple[float, int, list[str], int]:
    """Seconds, rows, hypotheses and generated tokens of one evaluation from scratch."""
    evaluator.reset()
    tokens = evaluator.decoder.tokens_generated
    start = time.perf_counter()
    result = evaluator.evaluate(n_per_language)
    seconds = time.perf_counter() - start
    return seconds, result.n, [h.hypothesis for h in result.hypotheses], evaluator.decoder.tokens_generated - tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="trained checkpoint directory (default: a random ModelShape() model)")
    parser.add_argument("--data", help="dataset directory (with --model); default: synthetic tone clips")
    parser.add_argument("--limit", type=int, help="with --data: first N clips per language")
    parser.add_argument("--clips", type=int, default=16, help="synthetic clips (each decoded for both tasks)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocab", choices=("full", "restricted"), default="full")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the best of each arm counts")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-generate", action="store_true", help="skip the transformers generate() arm")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from lors_search.evaluation.decoding import window_seconds
    from lors_search.evaluation.evaluator import Evaluator

    if args.model:
        from lors_search.evaluation.evalset import load_eval_set
        from lors_search.evaluation.model_dir import load_model_dir

        model, tokenizer = load_model_dir(args.model, args.device)
        eval_set = load_eval_set(args.data, "dev", window_seconds=window_seconds(model.config))
        what = f"trained checkpoint {args.model} on {args.data} dev"
    else:
        model, tokenizer = random_model(args.vocab)
        eval_set = synthetic_eval_set(args.clips, window_seconds(model.config), ("ca", "de", "es", "fr", "it"))
        what = (
            f"random ModelShape() model, {args.vocab} vocabulary ({len(tokenizer)} tokens), synthetic tone clips: "
            "untrained, so every row decodes to max_new_tokens (worst case)"
        )
    limit = args.limit if args.model else None
    c = model.config
    print(f"model: {what}")
    print(
        f"shape: d_model {c.d_model}, {c.encoder_layers}+{c.decoder_layers} layers, window "
        f"{window_seconds(c)} s, vocab {c.vocab_size}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {args.device}"
    )
    batched = Evaluator(model, tokenizer, eval_set, batch_size=args.batch_size, device=args.device)
    single = Evaluator(model, tokenizer, eval_set, batch_size=1, device=args.device)
    batched.evaluate(1)  # warm-up: first calls allocate and pick kernels
    single.evaluate(1)

    # Arms alternate and each keeps its fastest repeat: other jobs on a shared machine only ever slow a run down.
    t_batch = t_single = float("inf")
    for _ in range(args.repeats):
        seconds, rows, hyp_batch, generated = timed(batched, limit)
        t_batch = min(t_batch, seconds)
        seconds, _, hyp_single, _ = timed(single, limit)
        t_single = min(t_single, seconds)
    tokens = generated / max(1, rows)
    print(f"utterances: {rows} ({eval_set.n_clips if limit is None else len(eval_set.clips(limit))} clips x "
          f"{len(eval_set.tasks)} tasks), max_new_tokens {batched.decoder.max_new_tokens}, "
          f"{tokens:.1f} generated tokens per row; best of {args.repeats} alternating repeats")
    print(f"batched (batch {args.batch_size:>3}): {t_batch:8.2f} s  {rows / t_batch:8.1f} utt/s")
    print(f"one at a time (batch 1): {t_single:8.2f} s  {rows / t_single:8.1f} utt/s")
    print(f"same hypotheses: {hyp_batch == hyp_single}")
    print(f"speed-up batched / one at a time: {t_single / t_batch:.1f}x (target >= 5x)")

    if not args.no_generate:
        from lors_search.whisper.generate_warning import quiet_whisper_generate_warning

        quiet_whisper_generate_warning()  # transformers' Whisper generate warns about its own arguments
        rows_all = eval_set.rows(limit)
        start = time.perf_counter()
        with torch.inference_mode():  # one repeat only: a reference, not a target
            for task in eval_set.tasks:
                clips = [eval_set.row_clip(r) for r in rows_all if eval_set.row_task(r) == task]
                for i in range(0, len(clips), args.batch_size):
                    part = clips[i : i + args.batch_size]
                    feats = torch.from_numpy(np.asarray(eval_set.features[part], dtype=np.float32)).to(args.device)
                    model.generate(
                        feats,
                        language=[eval_set.clip_languages[k] for k in part],
                        task=task,
                        max_new_tokens=batched.decoder.max_new_tokens,
                    )
        t_generate = time.perf_counter() - start
        print(f"transformers generate (batch {args.batch_size}, per task): {t_generate:8.2f} s  "
              f"{rows / t_generate:8.1f} utt/s  (Evaluator batched is {t_generate / t_batch:.1f}x faster)")


if __name__ == "__main__":
    main()
