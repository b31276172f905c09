"""The search: Ray Tune + Optuna over a search space's per-layer merge parameters, multi-fidelity (ASHA over
dev-subset size), persistent (Optuna study in SQLite, trials.parquet, best.yaml) and resumable.

`searcher` (OptunaSearch that records ASHA-stopped trials as pruned), `trainable` (the light Tune function
that leases a worker), `rundir` (the run directory's files), `recorder` (the Tune callback writing them),
`driver` (wires it all: `run_search`).
"""
