"""`lors-search search`: run (or resume) a distributed search of a space's merge parameters with Ray Tune and
Optuna; thin wiring of `lors_search.space` (validated before Ray starts) and `lors_search.search.command`."""

from __future__ import annotations

import argparse

from lors_search.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "search",
        help="search per-layer merge parameters with Ray Tune + Optuna",
        description=(
            "Search the rank, density and scale of a LoRS merge (or a baseline) per layer group against dev "
            "WER/BLEU, with Ray Tune + Optuna (TPE by default) and ASHA over dev-subset size. Runs on a local "
            "Ray by default, on an existing cluster with --address. Writes RUNS/NAME/: space.yaml, run.json, "
            "study.db, trials.parquet, best.yaml, best.json, tune/ (docs/search.md)."
        ),
    )
    parser.add_argument("space", metavar="SPACE.yaml", help="search space (see search_spaces/ and docs/search-space.md)")
    parser.add_argument("--name", metavar="RUN", help="run name (default: the space's name)")
    parser.add_argument(
        "--methods", metavar="M[,M...]",
        help="search only these of a methods space's methods, with its ranges (e.g. tsv_m to search TSV-M alone); "
        "the run is named <space name>-<m1>+<m2> unless --name is given",
    )
    parser.add_argument(
        "--num-samples", type=int, metavar="N",
        help="the run's budget in finished trials (default: the space's; with --resume the run's, or a larger N to extend it)",
    )
    parser.add_argument("--address", metavar="ADDR", help="connect to this Ray cluster (e.g. auto, ray://host:10001)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run RUNS/NAME")
    parser.add_argument(
        "--cleanup", action="store_true",
        help="only end the local Ray processes a killed driver of RUNS/NAME left behind (by the PIDs it recorded)",
    )
    parser.add_argument("--runs-dir", default="runs", metavar="DIR", help="where run directories go (default ./runs)")
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker actors (default: one per GPU, else one per 4 CPUs)"
    )
    parser.add_argument(
        "--cpus", type=int, metavar="N",
        help="use at most N of the cluster's CPUs (default: all), e.g. to run two searches on one cluster at once",
    )
    parser.add_argument("--no-dashboard", action="store_true", help="local Ray without the dashboard")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lors_search.demo.paths import space_places
    from lors_search.search.command import search_command
    from lors_search.space import load_search_space

    only = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    # Every problem is a one-line UserError, before Ray starts; {demo} in the shipped spaces is the demo's directory.
    space = load_search_space(args.space, only_methods=only, places=space_places())
    if args.num_samples is not None and args.num_samples < 1:
        raise UserError(f"--num-samples must be at least 1, got {args.num_samples}")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.cpus is not None and args.cpus < 1:
        raise UserError(f"--cpus must be at least 1, got {args.cpus}")
    return search_command(
        space,
        args.space,
        name=args.name,
        runs_dir=args.runs_dir,
        address=args.address,
        resume=args.resume,
        cleanup=args.cleanup,
        num_samples=args.num_samples,
        workers=args.workers,
        cpus=args.cpus,
        dashboard=not args.no_dashboard,
    )
