"""Just enough of the Prometheus text format to read the `ray_lors_*` samples of a metrics endpoint."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_JSON = REPO_ROOT / "cluster" / "grafana" / "lors_search_dashboard.json"

_SAMPLE = re.compile(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_samples(text: str, prefix: str = "ray_lors_") -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        match = _SAMPLE.match(line)
        if match:
            name, labels, value = match.groups()
            samples.append(Sample(name, dict(_LABEL.findall(labels or "")), float(value)))
    return samples


def grafana_metric_names() -> set[str]:
    """Every exported metric name the Grafana dashboard queries (ray_lors_..._total, _bucket, ...)."""
    dashboard = json.loads(GRAFANA_JSON.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in re.findall(r"ray_lors_\w+", expr)}
