"""Fetch Whisper's multilingual BPE ranks (`multilingual.tiktoken`, MIT licence) from the openai-whisper
source archive on PyPI, once, into a local cache. The package registry is reachable where the Hub is not."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from lors_search.errors import UserError
from lors_search.fsutil import atomic_write_text

WHISPER_SDIST = "openai-whisper==20250625"
RANKS_MEMBER = "whisper/assets/multilingual.tiktoken"
# sha256 of multilingual.tiktoken in openai-whisper 20250625: a tampered or truncated file is refused.
RANKS_SHA256 = "b34b360dbb493e781e479794586d661700670d65564001f23024971d1f2fa126"


def cache_dir() -> Path:
    """Where lors_search keeps downloaded assets: $LORS_SEARCH_CACHE or ~/.cache/lors_search."""
    root = os.environ.get("LORS_SEARCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lors_search"
    )
    return Path(root)


def multilingual_ranks_path() -> Path:
    """Path of a verified `multilingual.tiktoken`, downloading the openai-whisper sdist if needed."""
    target = cache_dir() / "whisper-assets" / "multilingual.tiktoken"
    if target.exists() and _sha256(target.read_bytes()) == RANKS_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               WHISPER_SDIST, "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        archives = list(Path(tmp).glob("openai_whisper-*.tar.gz"))
        if done.returncode != 0 or not archives:
            raise UserError(
                f"could not download {WHISPER_SDIST} from the package index to build Whisper's tokenizer "
                f"({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no archive'})"
            )
        data = _extract_member(archives[0], RANKS_MEMBER)
    digest = _sha256(data)
    if digest != RANKS_SHA256:
        raise UserError(f"{RANKS_MEMBER} from {WHISPER_SDIST} has sha256 {digest}, expected {RANKS_SHA256}")
    atomic_write_text(target, data.decode("utf-8"))
    return target


def _extract_member(archive: Path, suffix: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(suffix):
                handle = tar.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise UserError(f"{archive.name} has no {suffix}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
