"""The run directory `runs/<name>/` of a search (docs/search.md): its file names, the typed trial records of
trials.parquet, the best-trial rule, and reading and writing. `search` writes it; `export` and `report` read it.

Sits below search, export and report and imports none of them. Nothing read from a run directory is unpickled.
"""

from lors_search.rundir.best import (
    best_trial,
    is_full_fidelity,
    ranked,
    read_selection,
    winner,
    write_best,
    write_selection,
)
from lors_search.rundir.files import (
    BEST_JSON,
    BEST_YAML,
    LOG_FILE,
    PROCESSES_FILE,
    REPORT_FILE,
    RUN_JSON,
    SELECTION_JSON,
    SPACE_YAML,
    STUDY_DB,
    TRIALS_PARQUET,
    TUNE_DIR,
    WINNER_YAML,
    RunDir,
    new_run_record,
    new_study_name,
    now,
)
from lors_search.rundir.lock import check_not_held, hold_run
from lors_search.rundir.records import STATE_WORDS, STATES, Cells, TrialRecord
from lors_search.rundir.run import SearchRun
from lors_search.rundir.table import TrialTable

__all__ = [
    "BEST_JSON",
    "BEST_YAML",
    "LOG_FILE",
    "PROCESSES_FILE",
    "REPORT_FILE",
    "RUN_JSON",
    "SELECTION_JSON",
    "SPACE_YAML",
    "STATES",
    "STATE_WORDS",
    "STUDY_DB",
    "TRIALS_PARQUET",
    "TUNE_DIR",
    "WINNER_YAML",
    "Cells",
    "RunDir",
    "SearchRun",
    "TrialRecord",
    "TrialTable",
    "best_trial",
    "check_not_held",
    "hold_run",
    "is_full_fidelity",
    "new_run_record",
    "new_study_name",
    "now",
    "ranked",
    "read_selection",
    "winner",
    "write_best",
    "write_selection",
]
