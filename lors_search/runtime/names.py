"""Names of a search's Ray actors: one Ray namespace per driver session of a run, one name per role in it, so
trials and tools find them and two searches on one cluster never meet (Ray's named actors and namespaces,
https://docs.ray.io/en/latest/ray-core/namespaces.html).

The namespace is `lors-search/<study name>/session-<n>`: the study name is the run's name plus 8 random hex
digits (run.json `study_name`, made once per run and kept across resumes), so a fresh run reusing a run name
or a run directory's name never shares a namespace with another; `n` counts the run's driver sessions (1, then
2 after a resume, ...), so a resumed run never meets actors a killed driver of the same run left behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMESPACE_PREFIX = "lors-search"
POOL_NAME = "lors/pool"

_SESSION_RE = re.compile(r"(?:^|-)session-(\d+)$")


def expert_actor_name(expert: str) -> str:
    return f"lors/expert/{expert}"


def worker_actor_name(index: int) -> str:
    return f"lors/worker/{index}"


@dataclass(frozen=True)
class SearchSession:
    """One driver session of a run: `study_name` (`<run name>-<8 hex>`, the run's) and its number `number`."""

    study_name: str
    number: int

    @property
    def namespace(self) -> str:
        """The Ray namespace of this session's actors (and of the driver's job when it started Ray itself)."""
        return f"{NAMESPACE_PREFIX}/{self.study_name}/session-{self.number}"

    @property
    def experiment(self) -> str:
        """The Ray Tune experiment name (`runs/<name>/tune/<experiment>/`). Unique on the cluster, not only in the
        run: Tune stages every experiment in `<Ray session dir>/artifacts/<second>/<experiment name>/`, which
        two drivers on one Ray would share if both named theirs `session-1` in the same second."""
        return f"{self.study_name}-session-{self.number}"


def session_number(folder_name: str) -> int | None:
    """The session number of a Tune experiment folder (`<study>-session-<n>`, or `session-<n>` of older runs)."""
    match = _SESSION_RE.search(folder_name)
    return int(match.group(1)) if match else None
