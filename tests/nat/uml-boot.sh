#!/bin/bash
# uml-boot.sh — run a script inside user-mode Linux (Debian's linux.uml,
# kernel 6.1: sfq, prio, fq_codel, cake, netem and iptables-legacy, which
# this machine's kernel lacks).
#
#   host:  uml-boot.sh OUTDIR LIMIT SCRIPT [ARG...]
#          boots UML on the host's root filesystem (hostfs, read-only) with
#          this file as PID 1, runs SCRIPT ARG... as root inside it, and
#          powers off. SCRIPT's output goes to OUTDIR/guest.log (printed
#          here too), its exit status is ours. The whole run is bounded by
#          LIMIT seconds. OUTDIR is the only host folder the guest can write.
#          Exit 3 when UML is missing or did not finish (console in
#          OUTDIR/console.log).
#   guest: PID 1 (when FW_UML_SCRIPT is set by the kernel command line):
#          mounts proc/sys/tmpfs, points modprobe at /usr/lib/uml/modules,
#          loads the qdiscs and iptables modules, runs the script.
#
# UML gets no network device to the host: every packet stays inside it.
# Arguments travel on the kernel command line, so they cannot hold spaces.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

guest() {
	local ver rc
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t tmpfs -o mode=755 run /run
	mount -t tmpfs tmp /tmp
	[ -e /dev/null ] || mount -t devtmpfs dev /dev
	[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd   # bash's <(...)
	mkdir -p /run/netns /run/out /run/modroot/lib/modules
	trap 'sync; umount /run/out 2>/dev/null; echo o >/proc/sysrq-trigger; sleep 10' EXIT
	mount -t hostfs -o "$FW_UML_OUT" hostout /run/out || { echo "uml-boot: cannot mount $FW_UML_OUT"; exit 1; }
	# modules are in /usr/lib/uml/modules/VER; modprobe wants ROOT/lib/modules/VER.
	# The kernel's own autoloading (tc qdiscs, iptables matches) goes through it too.
	ver=$(uname -r)
	ln -s "/usr/lib/uml/modules/$ver" "/run/modroot/lib/modules/$ver"
	printf '#!/bin/sh\nexec /usr/sbin/modprobe -d /run/modroot "$@"\n' >/run/modprobe
	chmod +x /run/modprobe
	echo /run/modprobe >/proc/sys/kernel/modprobe
	/run/modprobe -a ipv6 veth sch_htb sch_sfq sch_prio sch_cake sch_fq_codel sch_netem sch_tbf cls_u32 \
		ip_tables iptable_filter iptable_mangle iptable_nat nf_conntrack nf_nat xt_MASQUERADE \
		xt_CLASSIFY xt_DSCP xt_dscp xt_length xt_multiport xt_tcpudp xt_comment xt_TCPMSS \
		xt_connbytes xt_HL >/run/out/modprobe.log 2>&1
	echo "uml-boot: kernel $ver, modules loaded at $(cut -d' ' -f1 /proc/uptime) s" >/run/out/guest.log
	# shellcheck disable=SC2086
	"$FW_UML_SCRIPT" $(echo "${FW_UML_ARGS:-}" | tr ',' ' ') >>/run/out/guest.log 2>&1 </dev/null
	rc=$?
	echo "uml-boot: script exit $rc at $(cut -d' ' -f1 /proc/uptime) s" >>/run/out/guest.log
	echo "$rc" >/run/out/status
}

if [ -n "${FW_UML_SCRIPT:-}" ] && [ "$$" = 1 ]; then
	guest
	exit 0
fi

OUT=${1:?usage: uml-boot.sh OUTDIR LIMIT SCRIPT [ARG...]}
LIMIT=${2:?usage: uml-boot.sh OUTDIR LIMIT SCRIPT [ARG...]}
SCRIPT=${3:?usage: uml-boot.sh OUTDIR LIMIT SCRIPT [ARG...]}
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
UML=$(command -v linux.uml) || { echo "uml-boot: linux.uml not found: apt-get install user-mode-linux" >&2; exit 3; }
ls -d /usr/lib/uml/modules/*/ >/dev/null 2>&1 || { echo "uml-boot: no /usr/lib/uml/modules (user-mode-linux is incomplete)" >&2; exit 3; }
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
SCRIPT=$(cd "$(dirname "$SCRIPT")" && pwd)/$(basename "$SCRIPT")
for a in "$@"; do
	case $a in *[[:space:],]*) echo "uml-boot: argument \"$a\" has a space or comma" >&2; exit 2 ;; esac
done
args=$(IFS=,; echo "$*")
rm -f "$OUT/status" "$OUT/guest.log"
# The XSAVE shim (see uml-xstate.c): harmless where it is not needed.
preload=
if cc -O2 -shared -fPIC -o "$OUT/uml-xstate.so" "$HERE/uml-xstate.c" -ldl 2>"$OUT/uml-xstate.log"; then
	preload=$OUT/uml-xstate.so
else
	echo "uml-boot: cannot build uml-xstate.so (UML may die on AMX hosts): $(cat "$OUT/uml-xstate.log")" >&2
fi
umldir=$(mktemp -d /tmp/fairway-uml.XXXXXX)
t0=$(date +%s%N)
# con0 to our stdout, no stdin (CI has none), all other consoles off
timeout -k 5 "$LIMIT" env ${preload:+LD_PRELOAD=$preload} "$UML" mem=512M rootfstype=hostfs rootflags=/ ro \
	init="$HERE/uml-boot.sh" con=null ssl=null con0=null,fd:1 umid="fw$$" uml_dir="$umldir" \
	FW_UML_OUT="$OUT" FW_UML_SCRIPT="$SCRIPT" FW_UML_ARGS="$args" </dev/null >"$OUT/console.log" 2>&1
rc=$?
t1=$(date +%s%N)
rm -rf "$umldir"
[ -f "$OUT/guest.log" ] && cat "$OUT/guest.log"
echo "uml-boot: linux.uml exit $rc after $(( (t1 - t0) / 1000000 )) ms"
if [ ! -f "$OUT/status" ]; then
	[ "$rc" = 124 ] && echo "uml-boot: time limit of $LIMIT s reached" >&2
	echo "uml-boot: the guest did not finish; last console lines:" >&2
	grep -v '^ \[<' "$OUT/console.log" | tail -15 >&2
	exit 3
fi
exit "$(cat "$OUT/status")"
