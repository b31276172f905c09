"""Report: a search run -> an HTML page with PNG plots (objective by trial, per-layer heatmap of the best merge,
Pareto front) and the per-language comparison with the base, experts, baselines and the multi-task model.
"""

from lors_search.report.builder import ReportResult, build_report, dashboard_command, files_dir

__all__ = ["ReportResult", "build_report", "dashboard_command", "files_dir"]
