"""The search's Ray runtime: long-lived actors that own the heavy state (expert factors, resident models, dev
features) so that a trial only passes a small config and gets metrics back (DESIGN.md, "cluster runtime").

`spec` (what the actors load), `layout` (how many workers, which resources), `payload` (prepared experts as
numpy for the object store), `expert_actor`, `worker_actor`, `pool` (worker leases), `cluster` (start/stop,
placement, references), `names` (actor names and each search session's namespace), `local` (the same worker without Ray, for
benchmarks); `local_ray` (connecting the driver) and `metrics` (Ray metrics of the trials).
"""
