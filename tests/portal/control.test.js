// The control socket: portal.sock beside the secret (mode 0600) or
// --ctl PATH / none; `fairway info [--json]`, `fairway stop`; a second
// portal with the same secret directory warns and runs without one; a
// stale socket file is replaced.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const L = require('./lib')

let s
before(() => { s = L.scratch('control', ['room', 'alice', 'other']) })
after(async () => {
  try { await L.closeAll() } finally { L.killAll(); s.cleanup() }
})

const sockOf = (id) => path.join(path.dirname(id.secret), 'portal.sock')
const esc = (t) => t.replace(/[+/.[\]()]/g, '\\$&')

// One request on the control socket by hand; resolves the reply text.
function ctlRaw (sockPath, line) {
  return L.withTimeout(new Promise((resolve, reject) => {
    const c = net.connect(sockPath)
    let out = ''
    c.setEncoding('utf8')
    c.on('data', (d) => { out += d })
    c.on('end', () => resolve(out))
    c.on('error', reject)
    c.write(line)
  }), 5000, 'control socket reply')
}

test('portal.sock beside the secret, mode 0600; info; stop exits the portal with 0', { timeout: 20000 }, async () => {
  const p = await L.portal(s, s.ids.room.secret, ['--privacy', 'community', '--member', s.ids.alice.id])
  const sock = sockOf(s.ids.room)
  try {
    const st = fs.statSync(sock)
    assert.ok(st.isSocket(), 'portal.sock is a unix socket')
    assert.equal(st.mode & 0o777, 0o600)
    await L.waitLog(p, new RegExp(`portal listening on ${esc(p.addr)}, privacy community, 1 members, control socket ${esc(sock)}$`, 'm'))

    const alice = await L.jsConnect(s, p.addr, s.ids.alice.keys)
    assert.equal(await L.rpcCall((cb) => alice.rpc.tunnel.announce(cb)), true)

    const j = await L.info(s, { secret: s.ids.room.secret })
    assert.equal(j.ok, true)
    assert.equal(j.id, s.ids.room.id)
    assert.equal(j.address, p.addr)
    assert.equal(j.privacy, 'community')
    assert.equal(j.connections, 1)
    assert.equal(j.handshaking, 0)
    assert.equal(j.attendants, 1)
    // (More counters may come, e.g. from the scheduler; these must be there.)
    for (const k of ['closed_idle', 'refused_conns_per_ip', 'refused_denied', 'refused_multihop',
      'refused_not_member', 'refused_pending', 'refused_tunnels_per_peer', 'refused_unknown_target',
      'tunnels_opened']) {
      assert.equal(j.counters[k], 0, k)
    }
    assert.equal(j.peers.length, 1)
    const peer = j.peers[0]
    assert.equal(peer.id, s.ids.alice.id)
    assert.match(peer.address, /^127\.0\.0\.1:\d+$/)
    assert.equal(peer.state, 'OPEN')
    assert.equal(peer.attendant, true)
    assert.equal(peer.member, true)
    assert.equal(peer.tunnels, 0)

    // The text form, like `tc -s class show`.
    const t = await L.fw(s, ['info', '--secret', s.ids.room.secret])
    assert.equal(t.code, 0, t.stderr)
    // (Lines may be added, e.g. the scheduler's class tree; these must be there.)
    const lines = t.stdout.trimEnd().split('\n')
    assert.equal(lines[0], `portal ${s.ids.room.id}  ${p.addr}  privacy community`)
    assert.ok(lines.includes(' connections 1 (0 in handshake)  attendants 1  tunnels 0 open, 0 opened'), t.stdout)
    assert.ok(lines.some((l) => l.startsWith(' refused: per-address 0, pending 0 (per-address 0, evicted 0), denied 0, not-member 0, ' +
      'tunnels-per-peer 0, multi-hop 0, unknown-target 0; idle closes 0')), t.stdout)
    const peerRe = new RegExp(`^ peer ${esc(s.ids.alice.id)}  127\\.0\\.0\\.1:\\d+  OPEN  attendant  member  tunnels 0  queued \\d+ bytes`)
    assert.equal(lines.filter((l) => peerRe.test(l)).length, 1, t.stdout)

    const st2 = await L.fw(s, ['stop', '--secret', s.ids.room.secret])
    assert.equal(st2.code, 0, st2.stderr)
    assert.equal(st2.stdout, '')
    const r = await L.withTimeout(p.exited, 5000, 'the portal exiting after fairway stop')
    assert.deepEqual(r, { code: 0, signal: null })
    await L.waitLog(p, /stop requested on the control socket$/m)
    assert.equal(fs.existsSync(sock), false, 'the socket file is removed')
    await L.withTimeout(alice.closed, 3000, 'the client seeing the portal go')
  } finally {
    await p.stop()
  }
})

test('a second portal with the same secret dir warns and runs without a control socket', { timeout: 20000 }, async () => {
  const sock = sockOf(s.ids.room)
  const p1 = await L.portal(s, s.ids.room.secret)
  const p2 = await L.portal(s, s.ids.room.secret)
  try {
    assert.notEqual(p1.addr, p2.addr)
    await L.waitLog(p2, new RegExp(`warning: no control socket \\(fairway info/stop won't reach this portal\\): ${esc(sock)}: another portal is already running there$`, 'm'))
    assert.doesNotMatch(p2.stderr(), /control socket \//, 'its start line names no socket')
    // p2 serves, and info still reaches p1.
    assert.equal((await L.call(s, p2.addr, 'whoami')).code, 0)
    assert.equal((await L.info(s, { secret: s.ids.room.secret })).address, p1.addr)
    assert.equal((await L.fw(s, ['stop', '--secret', s.ids.room.secret])).code, 0)
    assert.equal((await L.withTimeout(p1.exited, 5000, 'p1 exit')).code, 0)
    // p1 removed its socket; p2 never had one, and keeps serving.
    const i = await L.fw(s, ['info', '--secret', s.ids.room.secret])
    assert.equal(i.code, 1)
    assert.equal(i.stderr, `fairway info: ${sock}: No such file or directory (is a portal running?)\n`)
    assert.equal((await L.call(s, p2.addr, 'whoami')).code, 0)
  } finally {
    await p1.stop()
    assert.equal((await p2.stop()).code, 0)
  }
})

test('--ctl PATH puts the socket there (0600); --ctl none runs without one', { timeout: 20000 }, async () => {
  const custom = path.join(s.dir, 'custom.sock')
  const p = await L.portal(s, s.ids.other.secret, ['--ctl', custom])
  const q = await L.portal(s, s.ids.alice.secret, ['--ctl', 'none'])
  try {
    assert.equal(fs.statSync(custom).mode & 0o777, 0o600)
    assert.equal(fs.existsSync(sockOf(s.ids.other)), false, 'nothing beside the secret')
    assert.equal((await L.info(s, { ctl: custom })).address, p.addr)
    assert.equal(fs.existsSync(sockOf(s.ids.alice)), false)
    await L.waitLog(q, /portal listening on .*, 0 members$/m)
    assert.doesNotMatch(q.stderr(), /control socket/)
    // A named socket where a live portal answers is an error.
    const r = await L.fw(s, ['portal', '--listen', '127.0.0.1:0', '--secret', s.ids.alice.secret, '--ctl', custom], 5000)
    assert.equal(r.code, 1, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, new RegExp(`^fairway portal: ${esc(custom)}: another portal is already running there$`, 'm'))
    assert.equal((await L.info(s, { ctl: custom })).address, p.addr, 'the first portal keeps its socket')
    assert.equal((await L.fw(s, ['stop', '--ctl', custom])).code, 0)
    assert.equal((await L.withTimeout(p.exited, 5000, 'exit')).code, 0)
    assert.equal(fs.existsSync(custom), false)
  } finally {
    await p.stop()
    assert.equal((await q.stop()).code, 0)
  }
})

test('a stale socket file left by a killed portal is replaced', { timeout: 20000 }, async () => {
  const sock = sockOf(s.ids.other)
  const p = await L.portal(s, s.ids.other.secret)
  process.kill(p.child.pid, 'SIGKILL')
  await p.exited
  assert.ok(fs.statSync(sock).isSocket(), 'the dead portal left its socket file')
  const q = await L.portal(s, s.ids.other.secret)
  try {
    await L.waitLog(q, /portal listening on /)
    assert.doesNotMatch(q.stderr(), /no control socket/)
    assert.equal((await L.info(s, { secret: s.ids.other.secret })).address, q.addr)
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600)
  } finally {
    assert.equal((await q.stop()).code, 0)
  }
})

test('control socket protocol: unknown command, bad JSON; info/stop/reload with no portal', { timeout: 20000 }, async () => {
  const p = await L.portal(s, s.ids.room.secret)
  const sock = sockOf(s.ids.room)
  try {
    assert.equal(await ctlRaw(sock, '{"cmd":"nope"}\n'), '{"ok":false,"error":"unknown command"}\n')
    assert.equal(await ctlRaw(sock, 'not json\n'), '{"ok":false,"error":"expected {\\"cmd\\":\\"…\\"}"}\n')
    assert.equal(await ctlRaw(sock, '{"cmd":"info"} \n').then((t) => JSON.parse(t).address), p.addr)
    // The portal carries on.
    assert.equal((await L.call(s, p.addr, 'whoami')).code, 0)
  } finally {
    assert.equal((await p.stop()).code, 0)
  }
  const gone = path.join(s.dir, 'none.sock')
  for (const cmd of ['info', 'stop', 'reload']) {
    const r = await L.fw(s, [cmd, '--ctl', gone])
    assert.equal(r.code, 1, cmd)
    assert.equal(r.stderr, `fairway ${cmd}: ${gone}: No such file or directory (is a portal running?)\n`)
  }
  const u = await L.fw(s, ['info', 'extra', '--ctl', gone])
  assert.equal(u.code, 2)
  assert.equal(u.stderr, "fairway info: unexpected argument 'extra'\n")
})
