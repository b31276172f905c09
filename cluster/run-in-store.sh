#!/usr/bin/env bash
# Runs a command from the persistent run store instead of the Ray job's working directory.
#
# A job submitted with `ray job submit --working-dir .` starts in a temporary copy of that folder,
# which Ray deletes later. runs/<name>/ (with its SQLite Optuna study) must outlive the job so that
# `--resume`, export and report find it, so this script first copies the job's search_spaces/
# folder into the store (relative space paths keep working), then changes into the store and runs
# the command there.
#
#   ray job submit ... --working-dir . -- \
#     bash cluster/run-in-store.sh lors-search search search_spaces/demo.yaml --name demo-1
#
# LORS_STORE names the store (default /data/lors: the head's persistent disk in cluster/*.yaml and
# the head's volume in cluster/kuberay/).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "run-in-store.sh: error: no command given (e.g. lors-search search search_spaces/demo.yaml --name demo-1)" >&2
  exit 2
fi

store="${LORS_STORE:-/data/lors}"
if ! mkdir -p "$store" 2>/dev/null || [ ! -w "$store" ]; then
  echo "run-in-store.sh: error: run store $store is missing or not writable (set LORS_STORE)" >&2
  exit 2
fi

if [ -d search_spaces ]; then
  mkdir -p "$store/search_spaces"
  cp -R search_spaces/. "$store/search_spaces/"
fi

cd "$store"
exec "$@"
