#!/usr/bin/env python3
"""Builds a go-ssb-room roomdb from its published migrations (this folder),
then fills it from a JSON description:
  make-roomdb.py OUT.db SPEC.json
SPEC: {"members": [[id, role, pub_key]], "aliases": [[name, member_id, sig_b64]],
       "denied": [[pub_key, comment]], "invites": [[sha256_hex, created_by, active]],
       "privacy": N, "sessions": [[token, member_id]], "passwords": [[member_id]]}"""
import base64, glob, json, os, sqlite3, sys

out, spec = sys.argv[1], json.load(open(sys.argv[2]))
db = sqlite3.connect(out)
db.execute("PRAGMA foreign_keys = ON")
db.execute("CREATE TABLE gorp_migrations (id text not null primary key, applied_at datetime)")
here = os.path.dirname(os.path.abspath(__file__))
for f in sorted(glob.glob(os.path.join(here, "*.sql"))):
    up = open(f).read().split("-- +migrate Down")[0]
    db.executescript(up)
    db.execute("INSERT INTO gorp_migrations VALUES (?, datetime('now'))", (os.path.basename(f),))
for i, role, key in spec.get("members", []):
    db.execute("INSERT INTO members(id, role, pub_key) VALUES (?, ?, ?)", (i, role, key))
for name, mid, sig in spec.get("aliases", []):
    db.execute("INSERT INTO aliases(name, member_id, signature) VALUES (?, ?, ?)",
               (name, mid, base64.b64decode(sig)))
for key, comment in spec.get("denied", []):
    db.execute("INSERT INTO denied_keys(pub_key, comment) VALUES (?, ?)", (key, comment))
for h, by, active in spec.get("invites", []):
    db.execute("INSERT INTO invites(hashed_token, created_by, active) VALUES (?, ?, ?)", (h, by, active))
if "privacy" in spec:
    db.execute("UPDATE config SET privacyMode = ? WHERE id = 0", (spec["privacy"],))
for tok, mid in spec.get("sessions", []):
    db.execute("INSERT INTO SIWSSB_sessions(token, member_id) VALUES (?, ?)", (tok, mid))
for (mid,) in spec.get("passwords", []):
    db.execute("INSERT INTO fallback_passwords(password_hash, member_id) VALUES (?, ?)", (b"$2a$10$x", mid))
db.commit()
