"""Copy a file or folder between local disk and cloud storage (s3://, gs://, or local paths).

Cluster nodes use it to pull inputs onto every node and to push run and export folders to a
bucket. It relies only on pyarrow's filesystems (`pyarrow.fs.copy_files`), which the project
already installs, so no cloud CLI is needed inside the Ray image.

Usage: python cluster/copy_tree.py SOURCE DESTINATION
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import pyarrow.fs as pafs

USAGE = "usage: copy_tree.py SOURCE DESTINATION  (local paths, s3://bucket/prefix or gs://bucket/prefix)"


class CopyError(Exception):
    """A copy that cannot start: bad location or missing source."""


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and path of `location`: a URI with a scheme, or else a local path."""
    if "://" not in location:
        # pyarrow reads scheme-less strings as URIs and rejects relative paths.
        return pafs.LocalFileSystem(), os.path.abspath(location)
    try:
        return pafs.FileSystem.from_uri(location)
    except ValueError as exc:  # pyarrow.lib.ArrowInvalid is a ValueError
        raise CopyError(f"not a supported location: {location} ({exc})") from None


def count_files(location: str) -> int:
    """Number of files at `location` (1 for a file, recursive count for a folder)."""
    filesystem, path = resolve(location)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        return 1
    if info.type != pafs.FileType.Directory:
        raise CopyError(f"source does not exist: {location}")
    entries = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
    return sum(1 for entry in entries if entry.type == pafs.FileType.File)


def copy_tree(source: str, destination: str) -> int:
    """Copy `source` to `destination` recursively and return how many files were copied.

    Both locations are checked before anything is written, so a typo leaves the destination
    untouched. Existing files at the destination are overwritten; others are left alone.
    """
    copied = count_files(source)
    source_fs, source_path = resolve(source)
    destination_fs, destination_path = resolve(destination)
    if source_fs.get_file_info(source_path).type == pafs.FileType.File:
        # copy_files creates the folders of a tree, not the parent folder of a single file.
        parent = destination_path.rstrip("/").rpartition("/")[0]
        if parent:
            destination_fs.create_dir(parent, recursive=True)
    pafs.copy_files(
        source_path,
        destination_path,
        source_filesystem=source_fs,
        destination_filesystem=destination_fs,
    )
    return copied


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or any(a in ("-h", "--help") for a in args):
        print(USAGE, file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    source, destination = args
    try:
        copied = copy_tree(source, destination)
    except CopyError as exc:
        print(f"copy_tree.py: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # credentials, permissions, network: one line, not a traceback
        print(f"copy_tree.py: error: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(f"copied {copied} file(s) from {source} to {destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
