"""The `lors-search` command line: parses arguments, calls the library, prints results.

Each subcommand lives in its own module exposing `register(subparsers)`; the module sets
`func` on its parser. Errors the user can fix are `UserError`s: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from lors_search import __version__
from lors_search.errors import UserError

# Order is the order shown in --help.
COMMAND_MODULES = ("merge", "evaluate", "demo", "search", "export", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lors-search",
        description="Find, by distributed search, the best LoRS merge of Whisper language experts.",
    )
    parser.add_argument("--version", action="version", version=f"lors-search {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"lors_search.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Our commands report their own progress; transformers' per-load and per-save bars ("Loading weights",
    # "Writing model shards") would bury it. Set before transformers is imported, and inherited by Ray workers.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Tune warns when a result takes over 0.5 s to process; the recorder's durable per-trial writes of
    # trials.parquet and the study occasionally do, by design. Warn only past 2 s (read when ray.tune loads).
    os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except UserError as exc:
        print(f"lors-search {args.command}: error: {exc}", file=sys.stderr)
        return UserError.exit_code
    except KeyboardInterrupt:
        print(f"lors-search {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
