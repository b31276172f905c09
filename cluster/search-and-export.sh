#!/usr/bin/env bash
# Search, then export the best merge, inside the persistent run store; safe to run again.
#
#   bash cluster/search-and-export.sh SPACE.yaml RUN
#
# Used as the entrypoint of cluster/kuberay/rayjob-search.yaml (and usable with `ray job submit`).
# In the store ($LORS_STORE, default /data/lors) it copies SPACE to search_spaces/, runs
# `lors-search search` (with --resume when runs/RUN already exists, so a retried job continues the
# same run and study), then `lors-search export runs/RUN --out exports/RUN` unless that export
# already exists. A single command with plain arguments, because KubeRay pastes a RayJob's
# entrypoint into a shell line of its own: `&&`, `;` or `$(...)` there would run in the wrong place.
set -euo pipefail

die() { echo "search-and-export.sh: error: $*" >&2; exit 2; }

[ "$#" -eq 2 ] || die "usage: search-and-export.sh SPACE.yaml RUN"
space="$1"
run="$2"
[ -f "$space" ] || die "search space not found: $space"
case "$run" in
  ""|*/*|.*) die "run name must be a plain folder name, got: '$run'" ;;
esac

space_dir="$(cd "$(dirname "$space")" && pwd)"
space_name="$(basename "$space")"
store="${LORS_STORE:-/data/lors}"
if ! mkdir -p "$store/search_spaces" 2>/dev/null || [ ! -w "$store" ]; then
  die "run store $store is missing or not writable (set LORS_STORE)"
fi
if [ "$space_dir/$space_name" != "$store/search_spaces/$space_name" ]; then
  cp "$space_dir/$space_name" "$store/search_spaces/$space_name"
fi
cd "$store"

if [ -d "runs/$run" ]; then
  echo "search-and-export.sh: runs/$run exists: resuming it"
  lors-search search "search_spaces/$space_name" --name "$run" --resume
else
  lors-search search "search_spaces/$space_name" --name "$run"
fi

if [ -e "exports/$run" ]; then
  echo "search-and-export.sh: exports/$run exists: not exporting again"
else
  lors-search export "runs/$run" --out "exports/$run"
fi
echo "search-and-export.sh: run in $store/runs/$run, model in $store/exports/$run"
