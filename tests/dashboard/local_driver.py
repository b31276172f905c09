"""Run by test_dashboard_local.py in a fresh process: connect() with no address, as `lors-search search` does,
then report what a user would find (JSON on stdout's last line)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from dashboard_head import http_get, listening_addresses

from lors_search.runtime.local_ray import connect


def main() -> int:
    connection = connect(None, 1)
    try:
        port = int(connection.dashboard_url.rsplit(":", 1)[1])
        token_path = Path(os.environ["HOME"]) / ".ray" / "auth_token"
        token = token_path.read_text().strip() if token_path.exists() else ""
        report = {
            "connection": dataclasses.asdict(connection),
            "dashboard_listeners": sorted(listening_addresses(port)),
            "jobs_without_token": http_get(f"{connection.dashboard_url}/api/jobs/")[0],
            "jobs_with_token": http_get(
                f"{connection.dashboard_url}/api/jobs/", headers={"Authorization": f"Bearer {token}"}
            )[0],
            "token_file": bool(token),
        }
    finally:
        connection.shutdown()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
