"""The Grafana dashboard and the Prometheus scrape configuration for lors-search's custom metrics.

The search publishes these through `ray.util.metrics`; Ray exports them with a `ray_` prefix,
a Counter as `<name>_total` and a Histogram as `_bucket`/`_sum`/`_count` series (checked against
a live Ray 2.60 metrics endpoint when the dashboard was written). Every query must use only those
names and filter by the `$run` template variable.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cluster_files import CLUSTER_DIR, load_yaml
from ray._private import ray_constants

COUNTERS = ("lors_trials_finished", "lors_trials_pruned", "lors_trials_failed")
GAUGES = (
    "lors_best_objective",
    "lors_trial_objective",
    "lors_trial_wer",
    "lors_trial_cer",
    "lors_trial_bleu",
)
HISTOGRAMS = ("lors_merge_seconds", "lors_eval_seconds")
PER_LANGUAGE = ("lors_trial_wer", "lors_trial_cer", "lors_trial_bleu")

EXPORTED_NAMES = (
    {f"ray_{c}_total" for c in COUNTERS}
    | {f"ray_{g}" for g in GAUGES}
    | {f"ray_{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
)
# Words a PromQL expression may contain besides metric names: functions, aggregation keywords
# and the labels the metrics carry (run, language; le on histogram buckets).
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile",
    "by", "without", "run", "language", "le",
}  # fmt: skip


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    with (CLUSTER_DIR / "grafana" / "lors_search_dashboard.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def _targets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(panel["title"], target) for panel in dashboard["panels"] for target in panel["targets"]]


def _identifiers(expr: str) -> set[str]:
    """Names in a PromQL expression, after removing label matchers, ranges, variables and numbers."""
    stripped = re.sub(r"\{[^}]*\}", " ", expr)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r"\$\w+", " ", stripped)
    stripped = re.sub(r"\b\d+(\.\d+)?\b", " ", stripped)
    return set(re.findall(r"[A-Za-z_:][\w:]*", stripped))


def _balanced(expr: str) -> bool:
    pairs, stack = {")": "(", "}": "{", "]": "["}, []
    for char in re.sub(r'"[^"]*"', '""', expr):
        if char in "({[":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def test_identifier_check_catches_foreign_names() -> None:
    """The name check below is not vacuous: a misspelt or foreign metric is seen."""
    assert _identifiers('sum(ray_lors_trials_finished_total{run=~"$run"})') == {
        "sum", "ray_lors_trials_finished_total",
    }  # fmt: skip
    assert "ray_lors_trial_werr" in _identifiers('max(ray_lors_trial_werr{run=~"$run"})')
    assert not _balanced("sum(rate(x[5m])")


def test_every_query_uses_only_the_lors_metrics_and_the_run_variable(dashboard: dict[str, Any]) -> None:
    targets = _targets(dashboard)
    assert targets
    for title, target in targets:
        expr = target["expr"]
        unknown = _identifiers(expr) - EXPORTED_NAMES - PROMQL_WORDS
        assert not unknown, f"{title}: {sorted(unknown)} in {expr}"
        assert _identifiers(expr) & EXPORTED_NAMES, f"{title}: no lors metric in {expr}"
        assert _balanced(expr), f"{title}: unbalanced {expr}"
        # Every selector filters by the run variable.
        selectors = re.findall(r"ray_\w+\s*(\{[^}]*\})?", expr)
        assert selectors and all(s == '{run=~"$run"}' for s in selectors), f"{title}: {expr}"


def test_every_metric_has_a_panel(dashboard: dict[str, Any]) -> None:
    used = set().union(*(_identifiers(t["expr"]) for _, t in _targets(dashboard)))
    for counter in COUNTERS:
        assert f"ray_{counter}_total" in used
    for gauge in GAUGES:
        assert f"ray_{gauge}" in used
    for histogram in HISTOGRAMS:
        assert f"ray_{histogram}_bucket" in used


def test_latency_panels_show_p50_and_p95_from_buckets(dashboard: dict[str, Any]) -> None:
    for histogram in HISTOGRAMS:
        exprs = [t["expr"] for _, t in _targets(dashboard) if f"ray_{histogram}_bucket" in t["expr"]]
        for quantile in ("0.5", "0.95"):
            assert any(e.startswith(f"histogram_quantile({quantile}, sum by (le") for e in exprs), histogram


def test_per_language_metrics_are_split_by_language(dashboard: dict[str, Any]) -> None:
    for metric in PER_LANGUAGE:
        for _, target in _targets(dashboard):
            if f"ray_{metric}" in target["expr"]:
                assert "language" in target["expr"] and "{{language}}" in target["legendFormat"]


def test_datasource_is_a_prometheus_template_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    selected = {"type": "prometheus", "uid": "${datasource}"}
    for panel in dashboard["panels"]:
        assert panel["datasource"] == selected, panel["title"]
        assert all(t["datasource"] == selected for t in panel["targets"]), panel["title"]
    run = variables["run"]
    assert run["type"] == "query" and run["datasource"] == selected
    assert run["query"]["query"] == "label_values(ray_lors_trials_finished_total, run)"
    assert run["multi"] is True and run["includeAll"] is True


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    boxes = [(p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"]) for p in panels]
    for x, _, w, _ in boxes:
        assert 0 <= x and x + w <= 24
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1


def test_prometheus_scrapes_rays_service_discovery_file() -> None:
    config = load_yaml(CLUSTER_DIR / "prometheus.yml")
    (job,) = config["scrape_configs"]
    (file_sd,) = job["file_sd_configs"]
    assert file_sd["files"] == [f"/tmp/ray/{ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE}"]
    assert config["global"]["scrape_interval"] == "10s"
