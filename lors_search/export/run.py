"""The run-directory reader moved to lors_search.rundir; this name stays only until its last importers move."""

from lors_search.rundir import SearchRun, TrialRecord

__all__ = ["SearchRun", "TrialRecord"]
