"""Export: a search run's best (or chosen) trial -> a verified Hugging Face Whisper checkpoint with its merge
config, model card and re-measured dev metrics. Also the run-directory reader shared with `report`.
"""

from lors_search.export.exporter import EVAL_FILE, ExportResult, VerificationError, export_trial
from lors_search.export.run import SearchRun, TrialRecord

__all__ = ["EVAL_FILE", "ExportResult", "SearchRun", "TrialRecord", "VerificationError", "export_trial"]
