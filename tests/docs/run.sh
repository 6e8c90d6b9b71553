#!/usr/bin/env bash
# Markdown references (issue 16 item 17): first that the checker catches
# dangling ones (a scratch repository citing files it lacks), then that the
# repository's own Markdown has none. TAP output. Usage: tests/docs/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
here=$PWD
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
git -C "$d" init -q
mkdir -p "$d/docs" "$d/scripts"
echo '#!/bin/sh' >"$d/scripts/test"
cat >"$d/README.md" <<'MD'
See [the design](docs/design.md), [interop](docs/interop.md#peers), `fairnat.md`,
`scripts/bench`, `scripts/test` and [a site](https://example.org/x.md).
MD
echo 'Back to [the README](../README.md), [nat](nat.md).' >"$d/docs/design.md"
git -C "$d" add -A
out=$(python3 tests/docs/links.py "$d" 2>&1)
got=$(grep -cF -e 'link (docs/interop.md#peers)' -e 'file `fairnat.md`' -e 'file `scripts/bench`' \
	-e 'link (nat.md)' <<<"$out")
if [ "$got" -eq 4 ] && ! grep '^#   ' <<<"$out" | grep -qE 'design.md\)|scripts/test|example.org|README'; then
	echo "ok 1 - the checker finds each dangling link and file reference, and only those"
	rc=0
else
	echo "not ok 1 - the checker on a scratch repository (found $got of 4)"; sed 's/^/#   /' <<<"$out"
	rc=1
fi
python3 tests/docs/links.py "$here" >"$d/out"
links_rc=$?
# the checker's own TAP, numbered after test 1
awk -v first="$rc" '/^(not )?ok [0-9]+/ { n++; bad += /^not/; sub(/ok [0-9]+/, "ok " n + 1) }
     !/^1\.\.|^# (pass|fail)/ { print }
     END { f = bad + (first != 0); print "1.." n + 1; print "# pass " n + 1 - f; print "# fail " f }' "$d/out"
[ "$links_rc" -eq 0 ] && [ "$rc" -eq 0 ]
