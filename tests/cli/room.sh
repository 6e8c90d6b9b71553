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
kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null
expect 0 "^@[A-Za-z0-9+/]{43}=\.ed25519  " "after the portal stopped: the same database directly" "$B" deny list --secret "$r/a" --db "$db"
# a portal without a database says so
"$B" portal --secret "$r/m" --listen 127.0.0.1:0 --ctl "$r/p2.sock" >"$r/p2.out" 2>"$r/p2.err" &
ppid=$!
for _ in $(seq 50); do [ -S "$r/p2.sock" ] && break; sleep 0.1; done
expect 1 "runs without a room database" "a portal without --db: exit 1, says so" "$B" member list --ctl "$r/p2.sock"
kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null
