#!/bin/bash
# The churn soak of issue 11, by hand:
#   bench/reliability/soak.sh BUILD_DIR [SECONDS]
# BUILD_DIR is a release build (meson --buildtype=release) or an
# ASan+UBSan one (build-asan of scripts/test); SECONDS defaults to 600.
# Connects, transfers checked byte for byte (soak.py), SIGKILL/SIGTERM of
# clients, kills mid-transfer, junk connections, host restarts. Prints the
# counts, every mismatch with its details, sanitizer reports from any
# process, and the portal's RSS sampled every 10 s. Exit 1 on any of
# those, 0 when all was well. Logs stay in the directory it prints.
set -eu
build=$(cd "${1:?usage: $0 BUILD_DIR [SECONDS]}" && pwd)
secs=${2:-600}
case $secs in ''|*[!0-9]*) echo "$0: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/fairway-soak.XXXXXX)
export HOME=$dir FAIRWAY_HOME=$dir/.fairway
# Sanitizers report and carry on (the grep below counts them); leaks are
# reported by processes that exit (SIGTERM), not by those killed (-9).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=0}
ulimit -n 4096 2>/dev/null || true
cd "$dir"
for k in portal host c0 c1 c2 c3 c4 c5 c6 c7; do "$build/fairway" keygen --secret $k.secret >/dev/null; done
if nm -D "$build/fairway" 2>/dev/null | grep -q __asan_init || ldd "$build/fairway" | grep -q libasan; then
	kind="ASan+UBSan"
else
	kind=$(python3 -c "import json,sys; print([o['value'] for o in json.load(open(sys.argv[1])) if o['name']=='buildtype'][0])" \
		"$build/meson-info/intro-buildoptions.json" 2>/dev/null || echo unknown)
fi
echo "soak: $kind build $build, $secs s, logs in $dir/logs"
rc=0
python3 "$here/soak.py" "$build/fairway" "$secs" "$dir" || rc=$?
reports=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' logs/*.err 2>/dev/null || true)
if [ -n "$reports" ]; then
	echo "sanitizer reports in: $reports"
	grep -hE -A3 'ERROR: (Address|Leak)Sanitizer|runtime error:' $reports | head -40
	rc=1
else
	echo "sanitizer reports: none ($(ls logs/*.err | wc -l) process logs)"
fi
exit $rc
