"""Export: a search run's best (or chosen) trial -> a verified Hugging Face Whisper checkpoint with its merge
config, model card and re-measured dev metrics. The run directory is read through lors_search.rundir.
"""

from lors_search.export.exporter import EVAL_FILE, ExportResult, VerificationError, export_trial

__all__ = ["EVAL_FILE", "ExportResult", "VerificationError", "export_trial"]
