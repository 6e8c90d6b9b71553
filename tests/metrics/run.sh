#!/bin/sh
# The portal's metrics with the real tools: promtool on `fairway info
# --prometheus` while three users relay bulk through a shaped portal,
# `dot -Tsvg` on `fairway info --dot` (see metrics_test.py).
#   tests/metrics/run.sh BUILD_DIR [ARTIFACT_DIR]
# Also: /metrics over HTTP (--metrics) through promtool, and a real
# Prometheus scraping it for 10 s (its query API sees the counters rise).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [ARTIFACT_DIR]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
for t in promtool dot python3; do
	command -v "$t" >/dev/null || { echo "metrics: $t is not installed (scripts/deps)" >&2; exit 2; }
done
[ $# -ge 2 ] && mkdir -p "$2"
exec timeout 180 python3 "$here/metrics_test.py" "$@"
