#!/usr/bin/env bash
# The Debian package, end to end, with the tools made for each piece:
#   mandoc -Tlint on the man pages, and every command-line option and policy
#   key present in them; bash completion called through its function; zsh
#   loading its completion; dpkg-buildpackage on a copy of the tree; lintian
#   (no errors; warnings only those listed in debian/lintian-warnings);
#   dpkg -i; fairway --version, man -w; the identity made once, mode 0600,
#   kept across a reinstall; systemd-analyze verify and security (≤ 2.0);
#   a changed conffile kept over an upgrade; remove keeps the state, purge
#   leaves nothing.
# TAP output. Usage: tests/pkg/run.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
BUILD=${1:-build-test}
BIN=$SRC/$BUILD/fairway
LOG=$SRC/build-logs/pkg
mkdir -p "$LOG"
n=0 fails=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
not_ok() { n=$((n+1)); fails=$((fails+1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2"; }
check() { local what=$1; shift; local out; if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what" "$out"; fi; }

# ---- man pages ----
lint=$(for f in man/*.[0-9]; do mandoc -Tlint "$f" 2>&1; done |
       grep -v 'referenced manual not found\|outdated mandoc.db')
[ -z "$lint" ] && ok "mandoc -Tlint: nothing to report" || not_ok "mandoc -Tlint" "$lint"

# Every long option the commands accept (getopt tables and hand parsers)
# and every one their help prints must be in fairway(1) or fairway-nat(8).
man_text=$(for f in man/*.[0-9]; do mandoc -Tascii "$f" | col -b; done)
opts=$( { grep -ohE '\{ *"[a-z][a-z0-9-]+", *(no|required|optional)_argument' src/cli/*.c |
          sed -E 's/\{ *"([^"]+)".*/--\1/';
          grep -ohE 'strcmp\([a-z]+, "--[a-z][a-z0-9-]+"\)' src/cli/*.c | grep -oE -- '--[a-z0-9-]+';
          "$BIN" help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]+'; } | sort -u)
missing=""
for o in $opts; do grep -qF -- "$o" <<<"$man_text" || missing+="$o "; done
[ -z "$missing" ] && ok "every command-line option is in the man pages ($(wc -w <<<"$opts") options)" \
	|| not_ok "options missing from the man pages" "$missing"
cmds=$("$BIN" help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1}' | grep -E '^[a-z]+$')
missing=""
for c in $cmds; do grep -qE "^ +$c( |$)" <<<"$man_text" || missing+="$c "; done
[ -z "$missing" ] && ok "every command has an entry in fairway(1)" || not_ok "commands missing from fairway(1)" "$missing"
keys=$(grep -ohE '\[K_[A-Z_]+\] = \{ "[a-z0-9-]+"' src/policy/*.c | grep -oE '"[a-z0-9-]+"' | tr -d '"' | sort -u)
conf_text=$(mandoc -Tascii man/fairway.conf.5 | col -b)
missing=""
for k in $keys id addr mac rate-up ceil-up rate-down ceil-down forward; do
	grep -qE "(^|[ ,])$k([ ,]|$)" <<<"$conf_text" || missing+="$k "
done
[ -z "$missing" ] && ok "every policy key is in fairway.conf(5)" || not_ok "policy keys missing from fairway.conf(5)" "$missing"

# ---- shell completion ----
comp=$(PATH=$SRC/$BUILD:$PATH bash -c '
	source /usr/share/bash-completion/bash_completion 2>/dev/null
	source dist/completion/fairway.bash
	t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _fairway; echo "${COMPREPLY[*]}"; }
	t fairway po; t fairway portal --pri; t fairway portal --privacy re; t fairway nat s; t fairway help ch
	cd "$(mktemp -d)" && touch policy.ini && t fairway check -c pol')
want=$'portal\n--privacy\nrestricted\nstart stop\ncheck\npolicy.ini'
[ "$comp" = "$want" ] && ok "bash completion: commands, options, values, files" \
	|| not_ok "bash completion" "got: $comp"
check "zsh loads its completion" zsh -fc "fpath=($SRC/dist/completion \$fpath); autoload -Uz compinit; compinit -u -d /tmp/zcomp.$$; autoload -Uz _fairway; whence -w _fairway | grep -q function"

# ---- under a service manager ----
nd=$(mktemp -d)
while read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" "$(tail -5 "$nd/portal.log" 2>/dev/null)" ;;
	esac
done < <(python3 tests/pkg/notify.py "$BIN" "$nd" 2>&1)
rm -rf "$nd"
# Bad start-up state: the error names the file, the mode it has and the one it needs.
nd=$(mktemp -d)
out=$(FAIRWAY_HOME=$nd/missing "$BIN" portal 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "$nd/missing/secret" <<<"$out" && ok "no state directory: exit 2 naming the secret file" \
	|| not_ok "no state directory (exit $rc)" "$out"
"$BIN" keygen --secret "$nd/secret" >/dev/null 2>&1; chmod 644 "$nd/secret"
out=$("$BIN" portal --secret "$nd/secret" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "mode 0644" <<<"$out" && grep -q "600" <<<"$out" && ok "a secret readable by others is refused: says 0644 and 600" \
	|| not_ok "secret with wrong permissions (exit $rc)" "$out"
printf '[portal]\n' > "$nd/p.ini"; chmod 000 "$nd/p.ini"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN" check -c "$nd/p.ini" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "Permission denied" <<<"$out" && ok "an unreadable policy: exit 2, says why" \
	|| not_ok "unreadable policy (exit $rc)" "$out"
rm -rf "$nd"

# ---- the package ----
if ! command -v dpkg-buildpackage >/dev/null; then
	not_ok "dpkg-buildpackage is installed (scripts/deps)"
	echo "1..$n"; exit 1
fi
dpkg -s fairway >/dev/null 2>&1 && dpkg --purge fairway >"$LOG/purge-old.log" 2>&1
work=$(mktemp -d /tmp/fairway-pkg.XXXXXX)
trap 'rm -rf "$work" /tmp/zcomp.$$' EXIT
ver=$(dpkg-parsechangelog -l debian/changelog -S Version)
mkdir "$work/fairway-$ver"
git ls-files -co --exclude-standard | grep -vE '^build|/node_modules/' |
	tar -cf - -T - 2>/dev/null | tar -xf - -C "$work/fairway-$ver"
if (cd "$work/fairway-$ver" && dpkg-buildpackage -us -uc -b) >"$LOG/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b builds fairway_${ver}_*.deb"
else
	not_ok "dpkg-buildpackage" "$(tail -30 "$LOG/build.log")"
	echo "1..$n"; exit 1
fi
deb=$(ls "$work"/fairway_"$ver"_*.deb)
lintian "$work"/fairway_"$ver"_*.changes >"$LOG/lintian.txt" 2>&1
errs=$(grep '^E:' "$LOG/lintian.txt")
[ -z "$errs" ] && ok "lintian: no errors" || not_ok "lintian errors" "$errs"
unlisted=""
while read -r line; do
	tag=$(awk '{print $3}' <<<"$line")
	grep -qE "^$tag( |$)" debian/lintian-warnings || unlisted+="$line"$'\n'
done < <(grep '^W:' "$LOG/lintian.txt")
[ -z "$unlisted" ] && ok "lintian: every warning is listed and justified in debian/lintian-warnings ($(grep -c '^W:' "$LOG/lintian.txt"))" \
	|| not_ok "lintian warnings not in debian/lintian-warnings" "$unlisted"

check "dpkg -i installs it" dpkg -i "$deb"
check "fairway --version" bash -c "fairway --version | grep -qx 'fairway $ver'"
check "man -w fairway finds the page" bash -c "man -w fairway | grep -q fairway.1"
check "man -w fairway.conf and fairway-nat" bash -c "man -w 5 fairway.conf && man -w 8 fairway-nat"
check "an example policy in /usr/share/doc/fairway/examples" bash -c "ls /usr/share/doc/fairway/examples/* >/dev/null"
check "the installed example policies pass fairway check" bash -c \
	'for f in /usr/share/doc/fairway/examples/*; do fairway check "$f" >/dev/null || exit 1; done'
check "the system user exists" getent passwd fairway
check "the identity exists, mode 0600, owned by fairway" bash -c \
	'[ "$(stat -c %a:%U /var/lib/fairway/secret)" = 600:fairway ]'
id1=$(fairway id --secret /var/lib/fairway/secret 2>&1)
dpkg -i "$deb" >"$LOG/reinstall.log" 2>&1
id2=$(fairway id --secret /var/lib/fairway/secret 2>&1)
[ -n "$id1" ] && [ "$id1" = "$id2" ] && ok "a reinstall keeps the identity ($id1)" || not_ok "identity changed on reinstall" "$id1 → $id2"
check "fairway check on the packaged policy" fairway check -c /etc/fairway/portal.conf
check "systemd-analyze verify: the units are clean" systemd-analyze verify \
	/lib/systemd/system/fairway-portal.service /lib/systemd/system/fairway-portal.socket \
	/lib/systemd/system/fairway-nat.service
score=$(systemd-analyze security --offline=true /lib/systemd/system/fairway-portal.service 2>/dev/null |
        sed -nE 's/.*Overall exposure level for fairway-portal.service: ([0-9.]+).*/\1/p')
echo "# systemd-analyze security fairway-portal.service: $score"
awk -v s="${score:-99}" 'BEGIN {exit !(s <= 2.0)}' && ok "systemd-analyze security: exposure $score ≤ 2.0" \
	|| not_ok "systemd-analyze security exposure ${score:-?} > 2.0"
check "bash completion installed where bash-completion finds it" test -f /usr/share/bash-completion/completions/fairway
check "zsh completion installed" test -f /usr/share/zsh/vendor-completions/_fairway

# An upgrade over a changed conffile: dpkg keeps the administrator's file
# and puts the new one beside it (no silent overwrite).
echo "name = my room" >> /etc/fairway/portal.conf
mine=$(sha256sum < /etc/fairway/portal.conf)
rm -rf "$work/v2" && dpkg-deb -R "$deb" "$work/v2" &&
	sed -i "s/^Version: .*/Version: $ver+1/" "$work/v2/DEBIAN/control" &&
	echo "; a change in the next version" >> "$work/v2/etc/fairway/portal.conf" &&
	(cd "$work/v2" && find etc -type f | sed 's#^#/#' > DEBIAN/conffiles.new && mv DEBIAN/conffiles.new DEBIAN/conffiles) &&
	dpkg-deb -b "$work/v2" "$work/fairway_v2.deb" >/dev/null
dpkg -i --force-confold "$work/fairway_v2.deb" </dev/null >"$LOG/upgrade.log" 2>&1
[ "$(sha256sum < /etc/fairway/portal.conf)" = "$mine" ] && [ -f /etc/fairway/portal.conf.dpkg-dist ] &&
	ok "an upgrade keeps a changed conffile and puts the new one in .dpkg-dist" ||
	not_ok "conffile handling on upgrade" "$(cat "$LOG/upgrade.log")"
grep -q "Configuration file '/etc/fairway/portal.conf'" "$LOG/upgrade.log" &&
	ok "dpkg reported the changed conffile" || not_ok "dpkg said nothing about the conffile" "$(cat "$LOG/upgrade.log")"
rm -f /etc/fairway/portal.conf.dpkg-dist

check "dpkg -r removes it" dpkg -r fairway
check "remove leaves the binary gone and the state directory" bash -c \
	'! command -v fairway >/dev/null && [ -f /var/lib/fairway/secret ]'
check "dpkg --purge purges it" dpkg --purge fairway
left=$(ls -d /var/lib/fairway /etc/fairway /lib/systemd/system/fairway-* /usr/share/doc/fairway \
       /usr/share/man/man1/fairway.1.gz 2>/dev/null)
[ -z "$left" ] && ok "purge leaves no files" || not_ok "purge left files" "$left"

echo "1..$n"
echo "# pass $((n - fails))"
echo "# fail $fails"
[ "$fails" -eq 0 ]
