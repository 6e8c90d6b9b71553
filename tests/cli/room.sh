# The room's operator commands (fairway member|invite|alias|deny|room):
# usage errors (exit 2, naming what was wrong), refusals (exit 1, nothing
# written), the database directly (--db, no portal), and the same commands
# on a running portal, where they take effect at once. Sourced by run.sh
# (uses its expect/ok/not_ok, $B and $d).
r=$d/room; mkdir -p "$r"
db=$r/room.db
"$B" keygen --secret "$r/a" >/dev/null 2>&1; "$B" keygen --secret "$r/m" >/dev/null 2>&1
A=$("$B" id --secret "$r/a"); M=$("$B" id --secret "$r/m")
X='@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519'
nothere=(--ctl "$r/none.sock")

for c in member invite alias deny room; do
	expect 0 "usage: fairway $c" "fairway $c --help: usage, exit 0" "$B" "$c" --help
done
# usage errors: exit 2, the wrong thing named, nothing created
expect 2 "'bogus' is not a feed id" "member add bogus: exit 2" "$B" member add bogus --db "$db" "${nothere[@]}"
expect 2 "member add wants one identity" "member add without an id: exit 2" "$B" member add --db "$db" "${nothere[@]}"
expect 2 "'frob' is not add, rm, list or role" "member frob: exit 2" "$B" member frob --db "$db" "${nothere[@]}"
expect 2 "--role 'king' is not member, moderator or admin" "member add --role king: exit 2" "$B" member add "$A" --role king --db "$db" "${nothere[@]}"
expect 2 "member role ID wants --role" "member role without a role: exit 2" "$B" member role "$A" --db "$db" "${nothere[@]}"
expect 2 "'abc' is not an invite number" "invite revoke abc: exit 2" "$B" invite revoke abc --db "$db" "${nothere[@]}"
expect 2 "--ttl: 'soon' is not a duration" "invite create --ttl soon: exit 2" "$B" invite create --ttl soon --db "$db" "${nothere[@]}"
expect 2 "'Bad-Name' is not an alias name" "alias rm Bad-Name: exit 2" "$B" alias rm Bad-Name --db "$db" "${nothere[@]}"
expect 2 "privacy 'secret' is not open, community or restricted" "room set privacy secret: exit 2" "$B" room set privacy secret --db "$db" "${nothere[@]}"
expect 2 "room set 'colour'" "room set colour: exit 2" "$B" room set colour red --db "$db" "${nothere[@]}"
expect 2 "--comment is longer than 255 bytes" "deny add --comment of 256 bytes: exit 2" "$B" deny add "$X" --comment "$(printf '%0256d' 0)" --db "$db" "${nothere[@]}"
[ ! -e "$db" ] && ok "no usage error created the database" || not_ok "a usage error created $db"
expect 1 "give --db FILE" "no portal and no database: exit 1, says what to give" "$B" member list "${nothere[@]}"

# the database directly
expect 0 "is a member now" "member add --role admin --db (created)" "$B" member add "$A" --role admin --db "$db" "${nothere[@]}"
expect 1 "is a member already" "member add twice: exit 1" "$B" member add "$A" --db "$db" "${nothere[@]}"
out=$("$B" member list --json --db "$db" "${nothere[@]}")
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["ok"] and [m["role"] for m in j["members"]]==["admin"] and j["members"][0]["id"]==sys.argv[2]' "$out" "$A" 2>/dev/null &&
	ok "member list --json: the admin" || not_ok "member list --json" "$out"
expect 0 "" "member role ID moderator" "$B" member role "$A" moderator --db "$db" "${nothere[@]}"
expect 0 "^moderator " "member list shows the new role" "$B" member list --db "$db" "${nothere[@]}"
expect 1 "is not a member" "member rm of a stranger: exit 1" "$B" member rm "$X" --db "$db" "${nothere[@]}"
out=$("$B" invite create --public-url https://room.example --db "$db" "${nothere[@]}" 2>&1); rc=$?
tok=$(head -1 <<<"$out" | sed -n 's|^https://room.example/join?token=\([A-Za-z0-9_=-]*\)$|\1|p')
[ "$rc" -eq 0 ] && [ "${#tok}" -eq 68 ] && ok "invite create: the link is the first line, a 68-character token" || not_ok "invite create" "$out"
python3 - "$db" "$tok" <<'PY' && ok "only sha256 of the token's 50 bytes is stored" || not_ok "invite hash"
import sqlite3, sys, hashlib, base64
raw = base64.urlsafe_b64decode(sys.argv[2])
rows = sqlite3.connect(sys.argv[1]).execute("select hash from invites").fetchall()
assert len(raw) == 50 and rows == [(hashlib.sha256(raw).digest(),)], rows
blob = open(sys.argv[1], 'rb').read() + open(sys.argv[1] + '-wal', 'rb').read() if __import__('os').path.exists(sys.argv[1] + '-wal') else open(sys.argv[1], 'rb').read()
assert sys.argv[2].encode() not in blob and raw not in blob
PY
expect 0 "^1 +open" "invite list: invite 1 open" "$B" invite list --db "$db" "${nothere[@]}"
expect 0 "" "invite revoke 1" "$B" invite revoke 1 --db "$db" "${nothere[@]}"
expect 1 "used or revoked already" "invite revoke 1 again: exit 1" "$B" invite revoke 1 --db "$db" "${nothere[@]}"
expect 1 "no invite number 99" "invite revoke 99: exit 1" "$B" invite revoke 99 --db "$db" "${nothere[@]}"
expect 0 "revoked" "invite list --all shows it revoked" "$B" invite list --all --db "$db" "${nothere[@]}"
expect 0 "" "deny add --comment" "$B" deny add "$M" --comment spammer --db "$db" "${nothere[@]}"
expect 0 "spammer" "deny list shows the comment" "$B" deny list --db "$db" "${nothere[@]}"
expect 1 "is denied" "member add of a denied key: exit 1" "$B" member add "$M" --db "$db" "${nothere[@]}"
cnt=$("$B" member list --json --db "$db" "${nothere[@]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["members"]))')
[ "$cnt" = 1 ] && ok "the refused add wrote nothing" || not_ok "member count after a refused add: $cnt"
expect 0 "" "deny rm" "$B" deny rm "$M" --db "$db" "${nothere[@]}"
expect 1 "is not denied" "deny rm twice: exit 1" "$B" deny rm "$M" --db "$db" "${nothere[@]}"
expect 0 "" "room set privacy restricted" "$B" room set privacy restricted --db "$db" "${nothere[@]}"
expect 0 "" "room set name" "$B" room set name "CLI Room" --db "$db" "${nothere[@]}"
expect 0 '"privacy":"restricted","name":"CLI Room"' "room show --json" "$B" room show --json --db "$db" "${nothere[@]}"
expect 0 "^$" "alias list: none" "$B" alias list --db "$db" "${nothere[@]}"
expect 1 "no alias 'nobody'" "alias rm of an unknown alias: exit 1" "$B" alias rm nobody --db "$db" "${nothere[@]}"
cp "$db" "$r/ro.db"; chmod 0400 "$r/ro.db"
if [ "$(id -u)" -ne 0 ]; then
	expect 1 "ro.db" "an unwritable database: exit 1, the file named" "$B" member add "$M" --db "$r/ro.db" "${nothere[@]}"
fi

# a running portal on that database: changes take effect at once
"$B" portal --secret "$r/a" --listen 127.0.0.1:0 --db "$db" --caps "$CAPS_ROOM" >"$r/p.out" 2>"$r/p.err" &
ppid=$!
for _ in $(seq 50); do [ -s "$r/p.out" ] && break; sleep 0.1; done
P=$(head -1 "$r/p.out")
md() { timeout 10 "$B" call "$P" room.metadata --secret "$r/m" --caps "$CAPS_ROOM" 2>&1; }
out=$(md); [[ $out != *'"membership"'* ]] && ok "restricted (from the database): a non-member is refused" || not_ok "restricted room let a non-member in" "$out"
expect 0 "is a member now" "member add through the portal" "$B" member add "$M" --secret "$r/a"
out=$(md); [[ $out == *'"name":"CLI Room","membership":true'* ]] && ok "the new member gets in at once, room name from the database" || not_ok "member add did not take effect" "$out"
expect 0 "is no longer a member" "member rm through the portal" "$B" member rm "$M" --secret "$r/a"
out=$(md); [[ $out != *'"membership"'* ]] && ok "the removed member is refused at once" || not_ok "member rm did not take effect" "$out"
expect 0 "" "room set privacy open through the portal" "$B" room set privacy open --secret "$r/a"
out=$(md); [[ $out == *'"membership":false'*'"room1"'* ]] && ok "open at once: a non-member gets in, room1 advertised" || not_ok "privacy change did not take effect" "$out"
expect 0 "" "deny add through the portal" "$B" deny add "$M" --secret "$r/a"
out=$(md); [[ $out != *'"membership"'* ]] && ok "a denied key is refused at once" || not_ok "deny add did not take effect" "$out"
expect 0 "^@[A-Za-z0-9+/]{43}=\.ed25519  " "deny list through the portal" "$B" deny list --secret "$r/a"
out=$("$B" invite create --secret "$r/a" 2>"$r/inv.err")
[[ $(head -1 <<<"$out") == /join?token=* && $(cat "$r/inv.err") == *"no public URL known"* ]] && ok "invite create without a public URL: a relative link and a warning" || not_ok "invite without public url" "$out"
expect 1 "is a member already" "a refusal through the portal: exit 1" "$B" member add "$A" --secret "$r/a"
expect 2 "not a feed id" "a usage error through the portal: exit 2" "$B" deny add nobody --secret "$r/a"
# one portal per database: its members are indexed in memory, so neither a
# second portal nor the CLI going around the control socket may write it
expect 2 "in use by another process" "a second portal on the same database: exit 2" \
	timeout 10 "$B" portal --secret "$r/m" --listen 127.0.0.1:0 --db "$db" --ctl none
expect 1 "in use by another process" "member add --db past the running portal: exit 1" \
	"$B" member add "$X" --db "$db" "${nothere[@]}"
out=$("$B" member list --json --secret "$r/a"); [[ $out != *"$X"* ]] && ok "the refused direct write wrote nothing" || not_ok "direct write went past the portal" "$out"
kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null
expect 0 "^@[A-Za-z0-9+/]{43}=\.ed25519  " "after the portal stopped: the same database directly" "$B" deny list --secret "$r/a" --db "$db"
# a database fairway cannot use: a clear start-up error, exit 2
head -c 8192 /dev/urandom >"$r/junk.db"
expect 2 "junk.db: cannot read the database: not a database or corrupt" "portal --db on a corrupt file: exit 2, says so" \
	timeout 10 "$B" portal --secret "$r/m" --listen 127.0.0.1:0 --db "$r/junk.db" --ctl none
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	# root writes through file modes: a read-only mount, in a mount namespace of its own
	mkdir -p "$r/ro"; cp "$db" "$r/ro/room.db"
	expect 2 "Read-only file system" "portal --db on a read-only file system: exit 2, says why" \
		unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec timeout 10 "$2" portal --secret "$3" --listen 127.0.0.1:0 --db "$1/room.db" --ctl none' \
		sh "$r/ro" "$B" "$r/m"
fi
# a portal without a database says so
"$B" portal --secret "$r/m" --listen 127.0.0.1:0 --ctl "$r/p2.sock" >"$r/p2.out" 2>"$r/p2.err" &
ppid=$!
for _ in $(seq 50); do [ -S "$r/p2.sock" ] && break; sleep 0.1; done
expect 1 "runs without a room database" "a portal without --db: exit 1, says so" "$B" member list --ctl "$r/p2.sock"
kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null

# fairway room import: a go-ssb-room repo made from its published migrations
g=$r/gsr; mkdir -p "$g"
"$B" keygen --secret "$g/secret" >/dev/null 2>&1
G=$("$B" id --secret "$g/secret")
"$B" keygen --secret "$r/o" >/dev/null 2>&1; O=$("$B" id --secret "$r/o")
"$B" keygen --secret "$r/x" >/dev/null 2>&1; D=$("$B" id --secret "$r/x")
# alias signatures made with ssb-keys, as ssb-room-client makes them
sigs=$(cd tests/interop && node -e '
const k = require("ssb-keys"), fs = require("fs")
const [room, a, m] = process.argv.slice(1).map((f) => k.loadSync(f))
const s = (keys, owner, name) => k.sign(keys, `=room-alias-registration:${room.id}:${owner}:${name}`).replace(".sig.ed25519", "")
console.log(JSON.stringify({ alice: s(a, a.id, "alice"), forged: s(m, a.id, "forged"), upper: s(a, a.id, "Upper") }))
' "$g/secret" "$r/a" "$r/m" 2>&1)
tok=$(python3 -c 'import os,base64; print(base64.urlsafe_b64encode(os.urandom(50)).decode())')
hex=$(python3 -c 'import sys,base64,hashlib; print(hashlib.sha256(base64.urlsafe_b64decode(sys.argv[1])).hexdigest())' "$tok")
python3 - "$sigs" "$A" "$M" "$O" "$D" "$hex" >"$r/spec.json" <<'PY'
import json, sys
sig, A, M, O, X, h = json.loads(sys.argv[1]), *sys.argv[2:]
print(json.dumps({
  "members": [[1, 3, A], [2, 1, M], [5, 2, O]],
  "aliases": [["alice", 1, sig["alice"]], ["forged", 1, sig["forged"]], ["Upper", 1, sig["upper"]]],
  "denied": [[X, "spam"]],
  "invites": [[h, 1, 1], ["ab" * 32, 1, 0]],
  "privacy": 3, "sessions": [["t" * 32, 1]], "passwords": [[1]]}))
PY
python3 tests/cli/gsr/make-roomdb.py "$g/roomdb" "$r/spec.json" 2>&1 || not_ok "make a go-ssb-room roomdb" "$sigs"
idb=$r/imported.db
out=$("$B" room import "$g" --db "$idb" --json "${nothere[@]}" 2>&1); rc=$?
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert (j["members"],j["aliases"],j["aliases_refused"],j["denied"],j["invites"],j["notices"],j["privacy"],j["sessions_skipped"],j["passwords_skipped"])==(3,1,2,1,1,4,"restricted",1,1), j' "$out" 2>/dev/null &&
	[ "$rc" -eq 0 ] && ok "room import: 3 members, 1 alias (2 refused), 1 denied, 1 unused invite, 4 notices, restricted" || not_ok "room import counts (exit $rc)" "$out"
out=$("$B" member list --json --db "$idb" "${nothere[@]}")
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert [(m["n"],m["role"],m["id"]) for m in j["members"]]==[(1,"admin",sys.argv[2]),(2,"member",sys.argv[3]),(5,"moderator",sys.argv[4])], j' "$out" "$A" "$M" "$O" 2>/dev/null &&
	ok "imported members keep their ids and roles" || not_ok "imported members" "$out"
out=$("$B" alias list --json --db "$idb" "${nothere[@]}")
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); a=j["aliases"]; assert len(a)==1 and a[0]["name"]=="alice" and a[0]["owner"]==sys.argv[2] and a[0]["signature"]==json.loads(sys.argv[3])["alice"], j' "$out" "$A" "$sigs" 2>/dev/null &&
	ok "the alias whose signature verifies came over with it; forged and Upper stayed behind" || not_ok "imported aliases" "$out"
python3 - "$idb" "$tok" <<'PY' && ok "the unused invite's hash carried over unchanged (the old link still works)" || not_ok "imported invite hash"
import sqlite3, sys, hashlib, base64
rows = sqlite3.connect(sys.argv[1]).execute("select hash, used_by, revoked, expires from invites").fetchall()
assert rows == [(hashlib.sha256(base64.urlsafe_b64decode(sys.argv[2])).digest(), None, 0, 0)], rows
PY
expect 0 '"privacy":"restricted"' "imported privacy mode" "$B" room show --json --db "$idb" "${nothere[@]}"
expect 0 "spam" "imported denied key with its comment" "$B" deny list --db "$idb" "${nothere[@]}"
expect 2 "import into a new one" "room import into a database with members: exit 2" "$B" room import "$g" --db "$idb" "${nothere[@]}"
expect 2 "not a go-ssb-room roomdb" "room import of fairway's own database: exit 2" "$B" room import "$db" --room-id "$G" --db "$r/other.db" "${nothere[@]}"
expect 2 "room's id is needed" "room import of a roomdb without its secret: exit 2" "$B" room import "$r/room.db" --db "$r/other2.db" "${nothere[@]}"
expect 1 "No such file" "room import of a missing path: exit 1" "$B" room import "$r/nothere" --db "$r/other3.db" "${nothere[@]}"
# a row it cannot take: nothing is written
python3 - "$r/spec.json" >"$r/spec2.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["members"].append([9, 1, "@garbage.ed25519"]); print(json.dumps(s))
PY
mkdir -p "$r/gsr2"; cp "$g/secret" "$r/gsr2/secret"
python3 tests/cli/gsr/make-roomdb.py "$r/gsr2/roomdb" "$r/spec2.json"
expect 2 "members row 9: '@garbage.ed25519' is not a feed id" "room import of a bad member row: exit 2, the row named" "$B" room import "$r/gsr2" --db "$r/bad.db" "${nothere[@]}"
out=$("$B" member list --json --db "$r/bad.db" "${nothere[@]}")
[ "$out" = '{"ok":true,"members":[]}' ] && ok "the failed import wrote nothing" || not_ok "a failed import left rows" "$out"
