"""`lors-search demo`: the embedded synthetic benchmark. `demo build` writes the corpus, base, experts and
multitask model (`lors_search.demo`); `demo` alone runs the main job (build, search, export, report)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo",
        help="build and run the embedded synthetic speech benchmark",
        description=(
            "The embedded benchmark: eSpeak NG speech in up to ten languages, a tiny Whisper base trained on "
            "it, one expert per language and a multitask model. Without a subcommand: build the demo, search "
            "the best merge, export and report it."
        ),
    )
    _common(parser, None)
    parser.add_argument("--name", metavar="RUN", help="run name of the search (default: demo-<date>-<time>)")
    parser.add_argument("--runs-dir", default="runs", metavar="DIR", help="where run directories go (default ./runs)")
    parser.add_argument("--exports-dir", default="exports", metavar="DIR",
                        help="where the exported model goes, as DIR/RUN (default ./exports)")
    parser.add_argument("--address", metavar="ADDR", help="search on this Ray cluster instead of a local Ray")
    commands = parser.add_subparsers(dest="demo_command", metavar="SUBCOMMAND")
    build = commands.add_parser(
        "build",
        help="build (or reuse) the demo's corpus and models, then score them on dev",
        description=(
            "Write DIR/data (speech corpus), DIR/tokenizer, DIR/base, DIR/experts/<lang>, DIR/multitask "
            "(Hugging Face Whisper directories) and DIR/scores.json (dev scores), reusing every stage that "
            "already matches the recipe. Default DIR: $LORS_DEMO_DIR, else ~/.cache/lors_search/demo "
            "(demo-quick with --quick)."
        ),
    )
    _common(build, argparse.SUPPRESS)
    build.add_argument("--force", action="store_true", help="rebuild every stage, even those that match")
    build.set_defaults(func=run_build)
    parser.set_defaults(func=run_main)


def _common(parser: argparse.ArgumentParser, default: object) -> None:
    # The build subcommand's copies default to SUPPRESS, so `demo --quick build` and `demo build --quick` agree.
    parser.add_argument("--out", metavar="DIR", default=default, help="demo directory (default: see above)")
    parser.add_argument("--quick", action="store_true", default=default if default is not None else False,
                        help="small build for tests and smoke runs (under 3 minutes on 2 cores)")
    parser.add_argument("--langs", nargs="+", metavar="LANG", default=default,
                        help="languages (default: ca de es fr it; quick: de es fr); any of ca de es fr it id nl pt ru sv")


def _check_outputs(args: argparse.Namespace) -> None:
    """Before the build (minutes): the run name is one path component, and neither the runs nor the exports
    directory is or lies inside the demo directory, which `demo build --force` replaces whole."""
    from pathlib import Path

    from lors_search.demo.paths import default_demo_dir
    from lors_search.errors import UserError
    from lors_search.fsutil import check_run_name

    if getattr(args, "name", None) is not None:
        check_run_name(args.name)
    demo = Path(getattr(args, "out", None) or default_demo_dir(bool(getattr(args, "quick", False)))).expanduser().resolve()
    for flag, default in (("--runs-dir", "runs"), ("--exports-dir", "exports")):
        folder = Path(getattr(args, flag[2:].replace("-", "_"), None) or default).expanduser().resolve()
        if folder.is_relative_to(demo):
            raise UserError(f"{flag} {folder} lies inside the demo directory {demo}, which a rebuild replaces; put it elsewhere")


def run_main(args: argparse.Namespace) -> int:
    _check_outputs(args)
    from lors_search.demo.main_job import run_main_job

    return int(run_main_job(args) or 0)


def run_build(args: argparse.Namespace) -> int:
    from lors_search.demo.build import build_command

    return build_command(bool(getattr(args, "quick", False)), getattr(args, "out", None), getattr(args, "langs", None),
                         bool(args.force))
