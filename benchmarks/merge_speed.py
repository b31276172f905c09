"""Per-call merge speed: the prepared LoRS merge against the reference path, side by side in one run.

Reference path (what the authors' scripts do on every merge, arXiv 2502.17380): a full SVD of every
eligible matrix of every expert, torch.topk of the residual, sum. Prepared path (lors_search): task vectors
and SVD factors computed once; each merge only slices factors, multiplies, selects top-k and sums, written
in place into a resident set of weights. Base and experts are random but shaped like real Whisper models,
with task vectors that have realistic spectra (a decaying low-rank part plus noise).

    python benchmarks/merge_speed.py                      # whisper-small, 5 experts, CPU
    python benchmarks/merge_speed.py --device cuda --experts 10
    python benchmarks/merge_speed.py --device cuda --shape large-v3 --experts 5 --skip-reference
    python benchmarks/merge_speed.py --also all --skip-reference   # every registered method side by side

Methods that need the experts' Gram matrices (RegMean, arXiv 2212.09849) get random symmetric positive
definite ones of the real input sizes (one per expert and input width, shared by the layers of that width:
the per-call cost is the regularisation, products and solve, which do not depend on the values).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from lors_search.merging import (
    MergeParams,
    PreparedMerger,
    describe_state,
    get_method,
    method_names,
    prepare_expert,
    resolve_plan,
)
from lors_search.merging.reference import reference_pruned
from lors_search.merging.rules import assign_treatments

SHAPES = {
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, heads=8, ffn=2048, vocab=51865, mels=80),
    "small": dict(d_model=768, encoder_layers=12, decoder_layers=12, heads=12, ffn=3072, vocab=51865, mels=80),
    "large-v3": dict(d_model=1280, encoder_layers=32, decoder_layers=32, heads=20, ffn=5120, vocab=51866, mels=128),
}


def whisper_shapes(name: str) -> dict[str, tuple[int, ...]]:
    spec = SHAPES[name]
    config = WhisperConfig(
        vocab_size=spec["vocab"], num_mel_bins=spec["mels"], d_model=spec["d_model"],
        encoder_layers=spec["encoder_layers"], decoder_layers=spec["decoder_layers"],
        encoder_attention_heads=spec["heads"], decoder_attention_heads=spec["heads"],
        encoder_ffn_dim=spec["ffn"], decoder_ffn_dim=spec["ffn"],
    )
    with torch.device("meta"):
        state = WhisperForConditionalGeneration(config).state_dict()
    state.pop("proj_out.weight")  # tied to the token embedding
    return {name: tuple(tensor.shape) for name, tensor in state.items()}


def task_vector(shape: tuple[int, ...], eligible: bool, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Fine-tuning-like update: for eligible matrices a rank-32 part with decaying singular values plus
    noise (as measured on real Whisper task vectors: a few strong directions, a long noisy tail)."""
    noise = 2e-4 * torch.randn(shape, generator=generator).to(device)
    if not eligible:
        return noise
    rows, cols = shape
    strength = torch.tensor([0.02 * 0.8**j for j in range(32)])
    left = torch.randn(rows, 32, generator=generator) / math.sqrt(rows)
    right = torch.randn(32, cols, generator=generator) / math.sqrt(cols)
    return noise.add_(((left * strength) @ right).to(device))


def random_grams(
    eligible: list[str], shapes: dict[str, tuple[int, ...]], generator: torch.Generator, device: torch.device
) -> dict[str, torch.Tensor]:
    """One expert's stand-in mean Grams: a random SPD matrix per input width (A A^T / n + a small ridge, as
    an input covariance is), shared by every eligible matrix of that width."""
    by_width: dict[int, torch.Tensor] = {}
    for name in eligible:
        width = shapes[name][1]
        if width not in by_width:
            factor = torch.randn(width, width, generator=generator) / math.sqrt(width)
            by_width[width] = (factor @ factor.T + 1e-2 * torch.eye(width)).to(device)
    return {name: by_width[shapes[name][1]] for name in eligible}


def rss_gib() -> tuple[float, float]:
    """(current, peak since the last reset) resident memory of this process in GiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 2**20, int(fields["VmHWM"].split()[0]) / 2**20


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--experts", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--rank", type=int, default=7, help="rank of the reference merge (paper: 7)")
    parser.add_argument("--density", type=float, default=0.2, help="density of the reference merge (paper: 0.2)")
    parser.add_argument("--max-rank", type=int, default=64, help="factors kept per matrix by the prepared path")
    parser.add_argument("--calls", type=int, default=5, help="prepared merges timed (each with other parameters)")
    parser.add_argument("--skip-reference", action="store_true", help="time only the prepared path")
    parser.add_argument(
        "--also", default="",
        help="comma-separated other methods to time per call too (e.g. ties,dare,sparse), or 'all' for every "
        f"registered method ({', '.join(method_names())})",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    also = [name for name in method_names() if name != "lors"] if args.also == "all" else list(
        filter(None, args.also.split(","))
    )
    for method in also:
        get_method(method)  # an unknown name fails now, not after the preparation
    grams_needed = any("gram" in get_method(method).needs for method in also)
    shapes = whisper_shapes(args.shape)
    treatments = assign_treatments(shapes)
    eligible = [name for name, t in treatments.items() if t == "lowrank_sparse"]
    params_total = sum(math.prod(s) for s in shapes.values())
    print(f"whisper-{args.shape} shapes: {params_total / 1e6:.1f} M parameters, {len(eligible)} eligible matrices, "
          f"{args.experts} experts, device {device}, {torch.get_num_threads()} CPU threads")

    generator = torch.Generator().manual_seed(0)
    base = {name: (0.02 * torch.randn(shape, generator=generator)).to(device) for name, shape in shapes.items()}
    names = [f"expert{i}" for i in range(args.experts)]

    started = time.perf_counter()
    prepared = []
    for name in names:
        expert_state = {
            tensor: base[tensor] + task_vector(shape, treatments[tensor] == "lowrank_sparse", generator, device)
            for tensor, shape in shapes.items()
        }
        grams = random_grams(eligible, shapes, generator, device) if grams_needed else None
        prepared.append(
            prepare_expert(base, expert_state, max_rank=args.max_rank, device=device, name=name, grams=grams)
        )
        del expert_state
    sync(device)
    prepare_seconds = time.perf_counter() - started
    print(f"prepare (task vectors + SVD up to rank {args.max_rank}), all experts: {prepare_seconds:.1f} s "
          f"({prepare_seconds / args.experts:.1f} s per expert, paid once)")

    merger = PreparedMerger(base, prepared)
    infos = describe_state(base)
    target = {name: torch.empty_like(tensor) for name, tensor in base.items()}  # the resident model
    reset_peak()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before, _ = rss_gib()
    times = []
    for call in range(args.calls + 1):
        # Different numbers every call, as a search would ask: nothing can be reused between calls.
        rank = args.rank + call % 3
        density = args.density + 0.01 * call
        plan = resolve_plan(MergeParams(method="lors", params={"rank": rank, "density": density}), infos, names)
        sync(device)
        started = time.perf_counter()
        merger.merge_into(target, "lors", plan)
        sync(device)
        if call:  # the first call allocates the scratch buffers
            times.append(time.perf_counter() - started)
    per_call = statistics.median(times)
    rss_after, rss_peak = rss_gib()
    print(f"prepared per-call merge (lors, rank ~{args.rank}, density ~{args.density}): median {per_call:.3f} s "
          f"over {len(times)} calls (min {min(times):.3f}, max {max(times):.3f})")
    print(f"  memory: RSS {rss_before:.2f} GiB before the calls, {rss_after:.2f} GiB after, peak {rss_peak:.2f} GiB")
    if device.type == "cuda":
        print(f"  CUDA peak allocated {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")

    for method in also:
        plan = resolve_plan(MergeParams(method=method), infos, names)
        sync(device)
        started = time.perf_counter()
        merger.merge_into(target, method, plan)  # the first call also fills what later calls may reuse
        sync(device)
        first = time.perf_counter() - started
        other = []
        for _ in range(max(1, args.calls // 2)):
            sync(device)
            started = time.perf_counter()
            merger.merge_into(target, method, plan)
            sync(device)
            other.append(time.perf_counter() - started)
        cost = get_method(method).cost
        # RegMean keeps its unscaled solution while alpha stays: a repeated call shows the scale-only trial's cost.
        print(f"prepared per-call merge ({method}, defaults): first call {first:.3f} s, then median "
              f"{statistics.median(other):.3f} s")
        print(f"  prepared once: {cost.prepared}; per merge: {cost.per_merge}")

    if args.skip_reference:
        return
    reset_peak()
    plan = resolve_plan(MergeParams(method="lors", params={"rank": args.rank, "density": args.density}), infos, names)
    started = time.perf_counter()
    reference: dict[str, torch.Tensor] = {}
    for tensor, base_tensor in base.items():
        if treatments[tensor] == "base":
            reference[tensor] = base_tensor.clone()
            continue
        total = torch.zeros_like(base_tensor)
        for expert in prepared:
            delta = expert.deltas[tensor]
            pruned = reference_pruned(delta, args.rank, args.density) if treatments[tensor] == "lowrank_sparse" else delta
            total += pruned / args.experts
        reference[tensor] = base_tensor + total
    sync(device)
    reference_seconds = time.perf_counter() - started
    _, reference_peak = rss_gib()
    print(f"reference per-call merge (full SVD + topk of every eligible matrix of every expert): "
          f"{reference_seconds:.1f} s, peak RSS {reference_peak:.2f} GiB")
    # Same numbers both ways (the reference's single lambda is 1/N, the prepared default).
    merger.merge_into(target, "lors", plan)
    worst = max(float((target[n] - reference[n]).abs().max()) for n in eligible)
    differing = sum(int(((target[n] - reference[n]).abs() > 1e-6).sum()) for n in eligible)
    total = sum(target[n].numel() for n in eligible)
    # Both keep exactly k entries per matrix; rounding in R = D - L can swap entries lying within
    # rounding distance of the threshold, which shows up as a few entries differing by about |R| there.
    print(f"largest difference between the two merges: {worst:.2e}; entries differing by > 1e-6: "
          f"{differing} of {total}")
    print(f"speed-up of the prepared per-call merge: {reference_seconds / per_call:.0f}x")


if __name__ == "__main__":
    main()
