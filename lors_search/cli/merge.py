"""`lors-search merge`: merge a base Whisper model and its experts into one checkpoint, from flags or a
merge YAML; thin wiring of the merge config, the merge service (lors_search.merging.service: load, validate,
RegMean's Grams from a corpus's train split, prepare, merge) and the checkpoint writer.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lors_search.errors import UserError
from lors_search.fsutil import check_output_location, check_writable
from lors_search.merging.registry import PARAMS, get_method, method_names

if TYPE_CHECKING:
    from lors_search.merge_config import MergeConfig

# Parameters with their own hand-written flags; every other declared parameter gets --<name> from its declaration.
_FIXED_PARAMS = ("rank", "rank_ratio", "density", "scale", "seed")
_DECLARED = tuple(name for name in PARAMS if name not in _FIXED_PARAMS)
_FLAG_ONLY = (
    "base", "expert", "method", *_FIXED_PARAMS, *(f"param_{name}" for name in _DECLARED), "dtype", "gram_data",
    "gram_clips",
)


def _flag(name: str) -> str:
    return "--" + name.removeprefix("param_").replace("_", "-")


def _methods_help() -> str:
    return "; ".join(f"{name}: {get_method(name).summary}" for name in method_names()).replace("%", "%%")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "merge",
        help="merge a base Whisper model and experts into one checkpoint",
        description=(
            "Merge fine-tuned Whisper experts into their base with LoRS-Merging (low-rank + sparse, "
            "arXiv 2502.17380) or a baseline, and save a Hugging Face checkpoint. Either give the base, "
            "experts and global parameters as flags, or a merge YAML with --config (per-layer overrides)."
        ),
    )
    source = parser.add_argument_group("what to merge (or --config)")
    source.add_argument("--config", metavar="MERGE.yaml", help="merge config file (see docs/merge-config.md)")
    source.add_argument("--base", metavar="B", help="base model: HF directory, openai-whisper .pt, or Hub id")
    source.add_argument(
        "--expert", metavar="[NAME=]E", action="append", help="an expert (repeat the flag for each); like --base"
    )
    source.add_argument("--method", metavar="M", help=f"merge method ({_methods_help()})")
    knobs = parser.add_argument_group("global parameters (defaults depend on the method)")
    rank = knobs.add_mutually_exclusive_group()
    rank.add_argument("--rank", type=int, metavar="R", help="rank of the low-rank part (capped per matrix)")
    rank.add_argument(
        "--rank-ratio", type=float, metavar="F", help="rank as a fraction of each matrix's smaller side (0.01 = 1%%)"
    )
    knobs.add_argument("--density", type=float, metavar="D", help="kept fraction of the residual / task vector")
    knobs.add_argument("--scale", type=float, metavar="L", help="lambda of the final sum (default 1/#experts)")
    knobs.add_argument("--seed", type=int, metavar="S", help="seed of DARE's random masks")
    for name in _DECLARED:
        param = PARAMS[name]
        users = [method for method in method_names() if name in get_method(method).param_names]
        knobs.add_argument(
            _flag(name), dest=f"param_{name}", type=param.type, metavar=name.upper()[:1],
            help=f"{param.help} ({', '.join(users)})".replace("%", "%%"),
        )
    grams = parser.add_argument_group("Gram matrices (methods that read the experts' layer inputs: regmean)")
    grams.add_argument(
        "--gram-data", metavar="DIR",
        help="corpus directory (datasets save_to_disk) whose train split holds each expert's language; never dev "
        "or test. An expert's language is its name (--expert de=PATH) or language: in a merge config",
    )
    grams.add_argument("--gram-clips", type=int, metavar="N", help="train clips per expert (default 64)")
    grams.add_argument(
        "--gram-cache", metavar="DIR", help="where Grams are cached (default DIR/grams of --gram-data when writable)"
    )
    output = parser.add_argument_group("output")
    output.add_argument("--out", required=True, metavar="DIR", help="directory to write (must not exist)")
    output.add_argument("--force", action="store_true", help="replace DIR if it exists")
    output.add_argument(
        "--dtype", metavar="T", help="dtype of the saved weights: float32, float16, bfloat16 (default: the base's)"
    )
    output.add_argument("--device", default="cpu", help="device for the maths, e.g. cpu or cuda (default cpu)")
    parser.set_defaults(func=run)


def _config(args: argparse.Namespace) -> MergeConfig:
    from lors_search.merge_config import config_from_flags, load_merge_config, with_local_paths

    if args.config:
        given = [_flag(name) for name in _FLAG_ONLY if getattr(args, name) is not None]
        if given:
            raise UserError(f"--config cannot be combined with {', '.join(given)}; put them in the config file")
        return load_merge_config(args.config)
    missing = [flag for flag, value in (("--base", args.base), ("--expert", args.expert), ("--method", args.method)) if not value]
    if missing:
        raise UserError(f"missing {', '.join(missing)} (or give --config MERGE.yaml)")
    config = config_from_flags(
        base=args.base,
        experts=args.expert,
        method=args.method,
        rank=args.rank,
        rank_ratio=args.rank_ratio,
        density=args.density,
        scale=args.scale,
        seed=args.seed,
        dtype=args.dtype,
        params={name: getattr(args, f"param_{name}") for name in _DECLARED},
        gram_data=args.gram_data,
        gram_clips=args.gram_clips,
    )
    return with_local_paths(config, Path.cwd())


def _inputs(args: argparse.Namespace, config: MergeConfig) -> list[tuple[str, str | None]]:
    """What the merge reads: the merge YAML, the base, every expert, the Gram corpus."""
    return [
        ("merge config", args.config),
        ("base", config.base),
        *((f"expert {expert.name}", expert.path) for expert in config.experts),
        *((("Gram corpus", config.gram_data),) if config.needs_grams else ()),
    ]


def _progress(message: str) -> None:
    # Progress goes to stdout: stderr carries nothing but the one-line error on bad input.
    print(f"lors-search merge: {message}", flush=True)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `lors-search --help` does not pay for transformers.
    from lors_search.checkpoints import CardInfo, save_merged
    from lors_search.merge_config import gram_sources
    from lors_search.merging.service import MergeService, merge_device

    config = _config(args)
    sources = {}
    if config.needs_grams:
        # Before any loading: a missing corpus or an expert without a language is refused in one line.
        config, sources = gram_sources(config, args.gram_cache)
    device = merge_device(args.device)
    out = Path(args.out)
    # Before any loading: --force replaces the output, so an output that overlaps an input would destroy it.
    check_output_location(out, _inputs(args, config))
    if out.exists() and not args.force:
        raise UserError(f"output directory {out.resolve()} already exists (use --force to replace it)")
    check_writable(out)  # now, not after the whole merge
    started = time.perf_counter()

    service = MergeService.from_config(config, device=device, progress=_progress)
    params = config.merge_params()
    plan = service.plan(params)
    service.prepare(plan.max_ranks(), sources)
    _progress(f"merging with {config.method}")
    merged = service.merge(params)
    if config.dtype is not None:
        dtype = getattr(torch, config.dtype)
        merged = {name: tensor.to(dtype) for name, tensor in merged.items()}

    card = CardInfo(params=params, base=config.base, experts=[(e.name, e.path) for e in config.experts])
    saved = save_merged(out, service.base, merged, config, card, force=args.force)
    seconds = time.perf_counter() - started
    print(
        f"merged {len(config.experts)} expert(s) into {saved} with {config.method} "
        f"({len(plan.max_ranks())} low-rank/sparse-eligible matrices, {len(merged)} tensors) in {seconds:.1f} s"
    )
    return 0
