"""Run a small search on a two-node Ray cluster simulated on this machine (ray.cluster_utils.Cluster: two
nodes of 1 CPU, each with its own custom resource) and print where the actors ran, as one JSON line.
Run by test_search_cluster.py in a subprocess (a Cluster cannot share a process with another local Ray).

usage: python two_node_search.py SPACE.yaml RUNS_DIR
"""

from __future__ import annotations

import json
import sys

import ray
from ray.cluster_utils import Cluster

from lors_search.search.driver import check_run_dir, run_search
from lors_search.space import load_search_space


def main(space_path: str, runs_dir: str) -> None:
    space = load_search_space(space_path)
    run_dir = check_run_dir(runs_dir, "two-node", resume=False)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "resources": {"lors_node_a": 1}, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, resources={"lors_node_b": 1})
    cluster.wait_for_nodes()
    try:
        ray.init(address=cluster.address, logging_level="WARNING")
        names = {}
        for node in ray.nodes():
            label = "a" if "lors_node_a" in node["Resources"] else "b" if "lors_node_b" in node["Resources"] else "?"
            names[node["NodeID"]] = label
        outcome = run_search(space, run_dir, workers=2, progress=lambda message: print(message, flush=True))
        print(
            "RESULT "
            + json.dumps(
                {
                    "experts": {info["name"]: names[info["node_id"]] for info in outcome.extra["expert_info"]},
                    "workers": {str(info["index"]): names[info["node_id"]] for info in outcome.extra["worker_info"]},
                    "counts": outcome.counts,
                    "status": outcome.status,
                }
            ),
            flush=True,
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
