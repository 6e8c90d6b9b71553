// The portal's policy file (-c FILE): members are the identities of its
// [user NAME] sections, [portal] sets privacy, name, deny list, limits and
// timeouts, the command line overrides the file, and a file with errors
// is refused at start with `file:line: error: …` and exit status 2.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const L = require('./lib')

const REFUSED = /^fairway call: connection closed before a reply: server hung up after our auth/m

let s
before(() => { s = L.scratch('policy', ['room', 'alice', 'alice2', 'bob', 'outsider', 'banned']) })
after(async () => {
  try { await L.closeAll() } finally { L.killAll(); s.cleanup() }
})

// A restricted room whose members are alice (two keys) and bob; banned is
// denied; the listen address can't be bound here, so a portal that used it
// would fail: the command line's --listen must win.
function roomFile (extra = '') {
  const { alice, alice2, bob, banned } = s.ids
  return L.policyFile(s, 'room.ini', `# a portal policy
[portal]
listen = 203.0.113.1:9
privacy = restricted
name = file-room
deny = ${banned.id}
max-conns-per-ip = 16
idle-timeout = 10min
handshake-timeout = 5s
${extra}
[user alice]
id = ${alice.id}
id = ${alice2.id}
rate-up = 1mbit

[user bob]
id = ${bob.id}
`)
}

async function stopOk (p) {
  const r = await p.stop()
  assert.equal(r.code, 0, p.stderr())
}

test('members come from the [user] ids; others and denied keys are refused', { timeout: 20000 }, async () => {
  const p = await L.portal(s, s.ids.room.secret, ['-c', roomFile()])
  try {
    for (const who of ['alice', 'alice2', 'bob']) {
      const r = await L.call(s, p.addr, 'room.metadata', { secret: s.ids[who].secret })
      assert.equal(r.code, 0, `${who}: ${r.stderr}`)
      assert.deepEqual(JSON.parse(r.stdout), { name: 'file-room', membership: true, features: ['tunnel', 'room2'] })
    }
    for (const who of ['outsider', 'banned']) {
      const r = await L.call(s, p.addr, 'whoami', { secret: s.ids[who].secret })
      assert.equal(r.code, 1, `${who} must be refused`)
      assert.match(r.stderr, REFUSED)
    }
    const i = await L.info(s, { secret: s.ids.room.secret })
    assert.equal(i.privacy, 'restricted')
    assert.equal(i.counters.refused_not_member, 1)
    assert.equal(i.counters.refused_denied, 1)
    assert.match(p.stderr(), /privacy restricted, 3 members/)
  } finally {
    await stopOk(p)
  }
})

test('the command line overrides the file: privacy, name, listen; --member and --deny add to it', { timeout: 20000 }, async () => {
  const p = await L.portal(s, s.ids.room.secret, [
    '-c', roomFile(), '--privacy', 'community', '--name', 'cli-room',
    '--member', s.ids.outsider.id, '--deny', s.ids.bob.id
  ])
  try {
    assert.match(p.addr, /^net:127\.0\.0\.1:/)
    const o = await L.call(s, p.addr, 'room.metadata', { secret: s.ids.outsider.secret })
    assert.equal(o.code, 0, o.stderr)
    assert.deepEqual(JSON.parse(o.stdout), { name: 'cli-room', membership: true, features: ['tunnel', 'room2'] })
    const a = await L.call(s, p.addr, 'room.metadata', { secret: s.ids.alice.secret })
    assert.equal(JSON.parse(a.stdout).membership, true, 'the file\'s members stay members')
    // The file's deny list stays, the command line's is added.
    for (const who of ['banned', 'bob']) {
      const r = await L.call(s, p.addr, 'whoami', { secret: s.ids[who].secret })
      assert.equal(r.code, 1, `${who} must be refused`)
    }
    // A fresh key is no member but, in a community room, may connect.
    const f = await L.call(s, p.addr, 'room.metadata')
    assert.equal(f.code, 0, f.stderr)
    assert.equal(JSON.parse(f.stdout).membership, false)
    const i = await L.info(s, { secret: s.ids.room.secret })
    assert.equal(i.privacy, 'community')
    assert.equal(i.counters.refused_denied, 2)
  } finally {
    await stopOk(p)
  }
})

test('durations from the file apply (idle-timeout = 1s); --idle-timeout overrides them', { timeout: 20000 }, async () => {
  const file = L.policyFile(s, 'idle.ini', '[portal]\nprivacy = open\nidle-timeout = 1s\n')
  const p = await L.portal(s, s.ids.room.secret, ['-c', file])
  const q = await L.portal(s, s.ids.alice.secret, ['-c', file, '--idle-timeout', '60000'])
  try {
    const a = await L.jsConnect(s, p.addr)
    const b = await L.jsConnect(s, q.addr)
    const t0 = Date.now()
    const at = await L.withTimeout(a.closed, 4000, 'the idle client being closed')
    assert.ok(at - t0 >= 900 && at - t0 <= 3200, `closed after ${at - t0} ms`)
    const r = await Promise.race([b.closed.then(() => 'closed'), L.sleep(1000).then(() => 'open')])
    assert.equal(r, 'open', 'the command line\'s idle timeout (60 s) is the one used')
    assert.equal((await L.info(s, { secret: s.ids.room.secret })).counters.closed_idle, 1)
    assert.equal((await L.info(s, { secret: s.ids.alice.secret })).counters.closed_idle, 0)
  } finally {
    await L.closeAll()
    await stopOk(p)
    await stopOk(q)
  }
})

// Starts a portal that must refuse to start; returns {code, stdout, stderr}.
function refusedStart (file, extra = []) {
  return L.fw(s, ['portal', '-c', file, '--listen', '127.0.0.1:0', '--ctl', 'none',
    '--secret', s.ids.room.secret, '--caps', L.CAPS, ...extra], 5000)
}

async function assertRefused (file, lines, extra) {
  const r = await refusedStart(file, extra)
  assert.equal(r.timedOut, false, 'the portal started instead of refusing the file')
  assert.equal(r.code, 2, r.stderr)
  assert.equal(r.stdout, '', 'no address line')
  for (const l of lines) {
    assert.ok(r.stderr.split('\n').includes(l), `missing line\n  ${l}\nin stderr:\n${r.stderr}`)
  }
  return r
}

test('an unknown key: file:line error, exit 2', { timeout: 10000 }, async () => {
  const f = L.policyFile(s, 'badkey.ini', '[portal]\nprivacy = restricted\nbogus = 1\n')
  await assertRefused(f, [`${f}:3: error: unknown key "bogus" in [portal]`])
  const g = L.policyFile(s, 'badkey2.ini', '[portal]\n\n[user a]\nid = ' + s.ids.alice.id + '\nprivacy = open\n')
  const r = await assertRefused(g, [])
  assert.match(r.stderr, new RegExp(`^${g.replace(/[.]/g, '\\.')}:5: error: unknown key "privacy" in \\[user a\\]`, 'm'))
})

test('bad values: file:line errors for each, exit 2', { timeout: 10000 }, async () => {
  const f = L.policyFile(s, 'badval.ini',
    '[portal]\nidle-timeout = 5 parsecs\nmax-conns-per-ip = lots\nprivacy = secret\nallow-multihop = maybe\n')
  await assertRefused(f, [
    `${f}:2: error: idle-timeout: expected a duration like 15s, 500ms or 10min (0 = never), got "5 parsecs"`,
    `${f}:3: error: max-conns-per-ip: expected a count (0 = no limit), got "lots"`,
    `${f}:4: error: privacy: expected open, community or restricted, got "secret"`,
    `${f}:5: error: allow-multihop: expected yes or no, got "maybe"`
  ])
  const g = L.policyFile(s, 'badid.ini', '[user a]\nid = @foo\n')
  await assertRefused(g, [`${g}:2: error: id: expected an SSB identity @<base64 of 32 bytes>.ed25519, got "@foo"`])
})

test('a duplicate identity (two users, or denied twice): file:line error, exit 2', { timeout: 10000 }, async () => {
  const id = s.ids.alice.id
  const f = L.policyFile(s, 'dup.ini', `# two users, one key\n[user a]\nid = ${id}\n\n[user b]\nid = ${id}\n`)
  await assertRefused(f, [`${f}:2: error: identity ${id.slice(0, 12)}… is listed twice (users a and b)`])
  const g = L.policyFile(s, 'dupdeny.ini', `[portal]\ndeny = ${id}\ndeny = ${id}\n`)
  await assertRefused(g, [`${g}:3: error: deny: ${id} is already denied at line 2`])
  const h = L.policyFile(s, 'dupkey.ini', '[portal]\nprivacy = open\nprivacy = community\n')
  await assertRefused(h, [`${h}:3: error: "privacy" is already set at line 2`])
})

test('a Fair NAT config given to the portal is refused, saying so', { timeout: 10000 }, async () => {
  const nat = path.join(__dirname, '..', 'nat', 'configs', 'example.config')
  const f = L.policyFile(s, 'fairnat.config', fs.readFileSync(nat, 'utf8'))
  await assertRefused(f, [
    `${f}: error: this is a Fair NAT config (for \`fairway nat\`), not a portal policy ([portal] and [user NAME] sections)`
  ])
  // Even the shortest one (no diagnostics of its own).
  const g = L.policyFile(s, 'tiny.config', 'DEV_LAN=eth0\n')
  await assertRefused(g, [
    `${g}: error: this is a Fair NAT config (for \`fairway nat\`), not a portal policy ([portal] and [user NAME] sections)`
  ])
})

test('a missing policy file: error, exit 2', { timeout: 10000 }, async () => {
  const f = path.join(s.dir, 'no-such.ini')
  await assertRefused(f, [`${f}: error: cannot open: No such file or directory`])
})

test('bad command-line values: exit 2 with the reason', { timeout: 10000 }, async () => {
  const cases = [
    [['--privacy', 'secret'], 'fairway portal: --privacy is open, community or restricted'],
    [['--member', 'foo'], "fairway portal: --member 'foo' is not a feed id (@…=.ed25519)"],
    [['--deny', '@x.ed25519'], "fairway portal: --deny '@x.ed25519' is not a feed id (@…=.ed25519)"],
    [['--max-conns-per-ip', 'x'], "fairway portal: --max-conns-per-ip: 'x' is not a whole number from 0 to 100000000"],
    [['--idle-timeout', '10x'], "fairway portal: --idle-timeout: '10x' is not a duration up to 4294967295 ms (e.g. 15s, 500ms, 10min; a bare number is milliseconds)"],
    [['--handshake-timeout', '0'], 'fairway portal: --handshake-timeout wants milliseconds > 0']
  ]
  for (const [args, msg] of cases) {
    const r = await L.fw(s, ['portal', '--listen', '127.0.0.1:0', '--ctl', 'none',
      '--secret', s.ids.room.secret, ...args], 5000)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr.trim(), msg)
  }
})
