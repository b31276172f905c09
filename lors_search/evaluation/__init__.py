"""Scoring Whisper checkpoints on the dev/test sets: batched greedy decoding, WER/CER (ASR) and BLEU/chrF (ST)
per language and task, multi-fidelity dev subsets, and the normalised scores the search optimises.

Import from the submodules: `evalset` (EvalSet, load_eval_set), `fidelity` (nested stratified order),
`evaluator` (Evaluator, EvalResult), `decoding` (GreedyDecoder), `metrics`, `normalizer`, `scores`,
`model_dir` (load a local checkpoint). This package knows nothing about Ray or merging.
"""
