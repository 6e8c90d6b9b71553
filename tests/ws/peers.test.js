// Node peers over WebSocket, room clients like any other: the real
// ssb-room-client 2.0.2 (secret-stack 6.4.1 + ssb-conn 6.0.4, dialling
// the portal through multiserver's ws transport) finds a TCP target among
// the attendants and tunnels to it; a TCP caller reaches a WebSocket
// target; 64 MiB from a ws:// caller through the portal to a TCP host
// arrive intact; killing either end mid-transfer leaves the portal
// serving.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const L = require('../portal/lib')
const W = require('./lib')

const pull = W.req('pull-stream')
let s
before(() => { s = L.scratch('ws-peers', ['room', 'host', 'caller', 'other']) })
after(async () => {
  try { await W.closePeers(); await W.stopGates() } finally { L.killAll(); s.cleanup() }
})

// conn.connect through ssb-conn (what ssb-room-client watches for rooms);
// resolves the rpc once room.metadata has been read.
async function join (node, addr) {
  node.conn.remember(addr, {})
  const rpc = await L.withTimeout(L.cbPromise((cb) => node.conn.connect(addr, cb)), 10000, `conn.connect ${addr}`)
  assert.ok(rpc, 'conn.connect gave no rpc')
  await L.waitFor(() => (node.conn.db().get(addr) || {}).type === 'room', 10000, 'recognised as a room')
  return rpc
}

// The first attendant ssb-room-client discovers whose key is `id`.
function discovered (node, id, ms = 10000) {
  return L.withTimeout(new Promise((resolve) => {
    pull(node.roomClient.discoveredAttendants(), pull.filter((a) => a.key === id), pull.take(1),
      pull.drain((a) => resolve(a)))
  }), ms, `discovering ${id}`)
}

test('a WebSocket room client finds a TCP fairway host among the attendants and tunnels to it; the host sees its true id', { timeout: 40000 }, async () => {
  const g = await W.startGate(s)
  const h = await W.startHost(s, g.net)
  const keys = L.ssbKeys.generate()
  const node = W.roomPeer(s, keys)
  try {
    const found = discovered(node, s.ids.host.id)
    await join(node, g.ws)
    assert.match(g.stderr(), new RegExp(`authenticated ${keys.id.replace(/[+/.]/g, '\\$&')}`))
    const a = await found
    assert.equal(a.address, `tunnel:${s.ids.room.id}:${s.ids.host.id}~shs:${s.ids.host.id.slice(1, -8)}`)
    const rpc = await L.withTimeout(L.cbPromise((cb) => node.conn.connect(a.address, cb)), 10000, 'tunnel connect')
    assert.equal(rpc.id, s.ids.host.id)
    // a call through (tunnel.ping: in ssb-room-client's manifest, which
    // secret-stack 6 assumes the remote shares; fairway host serves it)
    const t = await L.withTimeout(L.cbPromise((cb) => rpc.tunnel.ping(cb)), 5000, 'tunnel.ping through the tunnel')
    assert.ok(Math.abs(t - Date.now()) < 60000, `tunnel.ping answered ${t}`)
    await L.waitFor(() => h.stderr().includes(`authenticated ${keys.id}`), 3000, 'the host naming the WebSocket caller')
  } finally {
    await h.stop()
    await g.stop()
  }
})

test('a TCP caller reaches a WebSocket room client through the portal; the target sees the caller\'s true id', { timeout: 40000 }, async () => {
  const g = await W.startGate(s)
  const keys = L.ssbKeys.generate()
  const node = W.roomPeer(s, keys)
  const callers = []
  node.on('rpc:connect', (rpc) => callers.push(rpc.id))
  try {
    await join(node, g.ws)
    const addr = `tunnel:${s.ids.room.id}:${keys.id}~shs:${keys.id.slice(1, -8)}`
    // fairway as the TCP caller (tunnel.ping, which ssb-room-client serves)
    const r = await L.fw(s, ['ping', addr, '--portal', g.net, '--secret', s.ids.caller.secret,
      '--caps', L.CAPS, '-c', '3', '-i', '50'], 15000)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /3 sent, 3 received/)
    await L.waitFor(() => callers.includes(s.ids.caller.id), 3000, 'the target seeing the caller\'s id')
    // and a JS room client on TCP, through ssb-room-client's own tunnel
    const other = W.roomPeer(s, s.ids.other.keys)
    const found = discovered(other, keys.id)
    await join(other, g.net)
    const a = await found
    const rpc = await L.withTimeout(L.cbPromise((cb) => other.conn.connect(a.address, cb)), 10000, 'tunnel connect')
    assert.equal(rpc.id, keys.id)
    const t = await L.withTimeout(L.cbPromise((cb) => rpc.tunnel.ping(cb)), 5000, 'tunnel.ping on the ws target')
    assert.equal(typeof t, 'number')
    await L.waitFor(() => callers.includes(s.ids.other.id), 3000, 'the target seeing the JS caller\'s id')
  } finally {
    await g.stop()
  }
})

// fairway connect over ws:// -L → portal → fairway host on TCP --expose
// bulk; returns {c, h, port, svc, g}.
async function bulkPath (g, size) {
  const svc = await W.bulkService(size)
  const h = await W.startHost(s, g.net, ['--expose', `bulk=127.0.0.1:${svc.port}`])
  const port = await L.freePort()
  const c = L.spawnFairway(s, ['connect', h.tunnel, '--portal', g.ws, '--secret', s.ids.caller.secret,
    '--caps', L.CAPS, '-L', `127.0.0.1:${port}:bulk`])
  await L.withTimeout(c.line, 10000, 'the forwarding line')
  return { c, h, port, svc }
}

async function portalServes (g) {
  const h = await W.startHost(s, g.ws, [], s.ids.other)
  try {
    const r = await L.fw(s, ['ping', h.tunnel, '--portal', g.net, '--secret', s.ids.caller.secret,
      '--caps', L.CAPS, '-c', '2', '-i', '50'], 15000)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /2 sent, 2 received/)
  } finally { await h.stop() }
  assert.equal(g.stderr().match(/fatal|assert|sanitizer/i), null, g.stderr())
}

test('64 MiB from a TCP host to a ws:// caller arrive intact (sha256)', { timeout: 120000 }, async () => {
  const g = await W.startGate(s)
  const size = 64 << 20
  const p = await bulkPath(g, size)
  try {
    const t0 = Date.now()
    const got = await L.withTimeout(W.readAll(p.port), 100000, '64 MiB through the tunnel')
    const ms = Date.now() - t0
    assert.equal(got.n, size)
    assert.equal(got.sha, p.svc.sha)
    console.log(`# 64 MiB ws caller <- portal <- TCP host in ${ms} ms (${(size / 1048576 / (ms / 1000)).toFixed(1)} MiB/s)`)
  } finally {
    await p.c.stop(); await p.h.stop(); p.svc.close()
  }
  await portalServes(g)
  await g.stop()
})

for (const victim of ['caller', 'host']) {
  test(`killing the ${victim} mid-transfer leaves the portal serving`, { timeout: 60000 }, async () => {
    const g = await W.startGate(s)
    const p = await bulkPath(g, 64 << 20)
    try {
      let killed = false
      const got = await L.withTimeout(W.readAll(p.port, (n) => {
        if (!killed && n > (8 << 20)) {
          killed = true
          process.kill((victim === 'caller' ? p.c : p.h).pid, 'SIGKILL')
        }
      }).catch((e) => ({ n: -1, err: e })), 30000, 'the transfer ending')
      assert.ok(killed, `killed before 8 MiB arrived (${got.n})`)
      assert.ok(got.n < (64 << 20), 'the whole transfer arrived despite the kill')
      await (victim === 'caller' ? p.c : p.h).exited
      // the portal notices the dead end and goes on serving others
      await L.waitFor(() => /closed/.test(g.stderr()), 5000, 'the portal logging the closed connection')
      await portalServes(g)
    } finally {
      await p.c.stop(); await p.h.stop(); p.svc.close()
      await g.stop()
    }
  })
}
