"""The Grafana dashboard and the Prometheus scrape configuration for lors-search's custom metrics.

The search publishes these through `ray.util.metrics`; Ray exports them with a `ray_` prefix,
a Counter as `<name>_total` and a Histogram as `_bucket`/`_sum`/`_count` series (checked against
a live Ray 2.60 metrics endpoint when the dashboard was written). Every query must use only the names
`lors_search.runtime.metrics` declares and filter by the `$run` template variable; every declared metric is
plotted; Prometheus reads the service-discovery file Ray writes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cluster_files import CLUSTER_DIR, load_yaml
from ray._private import ray_constants

from lors_search.runtime.metrics import COUNTERS, GAUGES, HISTOGRAMS

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


def test_prometheus_scrapes_rays_service_discovery_file() -> None:
    config = load_yaml(CLUSTER_DIR / "prometheus.yml")
    (job,) = config["scrape_configs"]
    (file_sd,) = job["file_sd_configs"]
    assert file_sd["files"] == [f"/tmp/ray/{ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE}"]
    assert config["global"]["scrape_interval"] == "10s"
