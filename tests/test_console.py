"""Foreign console output (Ray's and Optuna's log records, Tune's start-of-experiment prints) goes to the run's
log file, not the console; records that arrive before the run directory exists are kept and written later."""

from __future__ import annotations

import logging
from pathlib import Path

from lors_search import console


def test_foreign_output_goes_to_the_run_log(tmp_path: Path, capsys) -> None:
    import optuna
    from ray.tune.experimental import output as tune_output

    run = tmp_path / "runs" / "r1"
    before = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate) for name in ("ray", "optuna")}
    # Optuna's default verbosity (INFO), whatever earlier tests in this process set (reading a study for a
    # report sets WARNING, process-wide): the study-created record must reach the log, not be filtered out.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        _check(run, capsys, optuna, tune_output)
    finally:
        console.release_foreign_output()
        optuna.logging.set_verbosity(verbosity)
    after = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate) for name in ("ray", "optuna")}
    assert after == before and not hasattr(tune_output, "print")  # released: as it was


def _check(run: Path, capsys, optuna, tune_output) -> None:
    path = console.capture_foreign_output(run, say=lambda m: print(f"lors-search search: {m}"))
    assert path == run / "console.log"
    logging.getLogger("ray._private.authentication").warning("Token authentication is enabled")
    optuna.create_study(study_name="noise-check")  # logs "A new study created in memory"
    tune_output.print("Configuration for experiment | tune")
    tune_output.print("To visualize your results with TensorBoard, run: ...")
    assert not path.exists()  # the run directory does not exist yet: kept in memory
    run.mkdir(parents=True)
    logging.getLogger("ray").warning("GCS address 192.0.2.2:1234")
    out = capsys.readouterr()
    assert out.out.count("console.log") == 1  # the path, printed once
    for text in ("Token authentication", "A new study created", "Configuration for experiment", "TensorBoard", "GCS"):
        assert text not in out.out and text not in out.err, text
        assert text in path.read_text(), text


def test_local_ray_address_goes_to_the_run_log(tmp_path: Path, capsys) -> None:
    from lors_search.runtime.local_ray import RayConnection, _describe_and_return

    connection = RayConnection(address="127.0.0.1:45567", started_local=True, in_job=False, job_submission_id=None,
                               dashboard_url="http://127.0.0.1:8265", metrics_url=None, token_auth=False,
                               namespace="lors")
    run = tmp_path / "run"
    run.mkdir()
    path = console.capture_foreign_output(run, say=lambda m: None)
    try:
        _describe_and_return(connection, print)
    finally:
        console.release_foreign_output()
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Ray: running in a local Ray started for this search"
    assert "GCS" not in out and "45567" not in out
    assert "Ray GCS address: 127.0.0.1:45567" in path.read_text()
