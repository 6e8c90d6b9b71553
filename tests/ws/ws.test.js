// SSB over WebSocket: fairway's client side (host/ping with ws://
// portal addresses) and the portal's side (portal_accept_ws), against
// real peers: fairway children, the JS stack's own multiserver ws
// transport (secret-stack 6.4.2 from ../interop), and raw sockets for
// bad frames.
//
// The portal here is the real one: `fairway portal --db … --http
// 127.0.0.1:0`, whose HTTP listener (libmicrohttpd) hands every
// WebSocket upgrade, on any path, to portal_accept_ws. Its first line is
// the portal's net: address, its second the ws:// one.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { createRequire } = require('node:module')
const L = require('../portal/lib')
const W = require('./lib')

const jsRequire = createRequire(path.join(__dirname, '..', 'interop', 'package.json'))
const SecretStack = jsRequire('secret-stack')
const WS = jsRequire('multiserver/plugins/ws')

// secret-stack 6 knows net and onion; ws is multiserver's plugin, added
// the way ssb-ws adds it.
const wsTransport = {
  name: 'multiserver-ws',
  version: '1.0.0',
  init (api) { api.multiserver.transport({ name: 'ws', create: (opts) => WS(opts) }) }
}
const remoteManifest = {
  manifest: {
    whoami: 'async',
    room: { attendants: 'source' },
    tunnel: { isRoom: 'async', announce: 'async' }
  },
  init: () => ({})
}

let s
before(() => { s = L.scratch('ws', ['room', 'host', 'caller']) })
after(async () => {
  try { await L.closeAll(); await W.stopGates() } finally { L.killAll(); s.cleanup() }
})

const startGate = (extra = []) => W.startGate(s, extra)
const startHost = (portalAddr) => W.startHost(s, portalAddr)

const ping = (tunnel, portalAddr) =>
  L.fw(s, ['ping', tunnel, '--portal', portalAddr, '--secret', s.ids.caller.secret,
    '--caps', L.CAPS, '-c', '3', '-i', '50'], 15000)

test('fairway host over ws://: a TCP caller reaches it through the portal', { timeout: 30000 }, async () => {
  const g = await startGate()
  const h = await startHost(g.ws)
  try {
    const r = await ping(h.tunnel, g.net)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /3 sent, 3 received/)
    // The portal counts the host as a peer from its socket's address.
    assert.match(g.stderr(), new RegExp(`connection 127\\.0\\.0\\.1:\\d+: authenticated ${s.ids.host.id.replace(/[+/.]/g, '\\$&')}`))
    assert.match(g.stderr(), /attendant joined/)
  } finally {
    await h.stop()
    await g.stop()
  }
})

test('a ws:// caller reaches a TCP host; the host sees the caller\'s true id', { timeout: 30000 }, async () => {
  const g = await startGate()
  const h = await startHost(g.net)
  try {
    const r = await ping(h.tunnel, g.ws)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /3 sent, 3 received/)
    await L.waitFor(() => h.stderr().includes(`authenticated ${s.ids.caller.id}`), 3000, 'the host naming the caller')
  } finally {
    await h.stop()
    await g.stop()
  }
})

test('a JS peer (secret-stack, multiserver ws) talks to the portal over WebSocket', { timeout: 30000 }, async () => {
  const g = await startGate()
  const keys = L.ssbKeys.generate()
  const node = SecretStack({ caps: { shs: L.CAPS } }).use(wsTransport).use(remoteManifest)({
    keys,
    path: path.join(s.dir, 'js-ws'),
    timers: { inactivity: -1, handshake: 5000 },
    connections: { incoming: {}, outgoing: { ws: [{ transform: 'shs' }] } }
  })
  try {
    const rpc = await L.withTimeout(L.cbPromise((cb) => node.connect(g.ws, cb)), 8000, 'ws connect')
    const who = await L.withTimeout(L.cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami')
    assert.equal(who.id, s.ids.room.id)
    // many calls in a row: box-stream frames cut into binary messages
    // wherever pull-websocket and we cut them
    const all = await L.withTimeout(Promise.all(Array.from({ length: 200 }, () =>
      L.cbPromise((cb) => rpc.tunnel.isRoom(cb)))), 8000, '200 tunnel.isRoom calls')
    assert.equal(all.length, 200)
    assert.ok(all.every((v) => v !== false && v !== undefined), JSON.stringify(all[0]))
    // an attendant like any other
    await L.withTimeout(L.cbPromise((cb) => rpc.tunnel.announce(cb)), 5000, 'announce')
    const first = await L.firstOf(rpc.room.attendants())
    assert.equal(first.item.type, 'state')
    assert.ok(first.item.ids.includes(keys.id), JSON.stringify(first.item))
  } finally {
    await L.withTimeout(L.cbPromise((cb) => node.close(true, cb)), 3000, 'close').catch(() => {})
    await g.stop()
  }
})

// A client frame: FIN/opcode, MASK/length, key, masked payload. len
// overrides the length field (a header that promises more than it has).
function frame (op, payload, { mask = true, len } = {}) {
  const p = Buffer.from(payload)
  const n = len === undefined ? p.length : len
  let head
  if (n < 126) head = Buffer.from([0x80 | op, (mask ? 0x80 : 0) | n])
  else if (n < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | op; head[1] = (mask ? 0x80 : 0) | 126; head.writeUInt16BE(n, 2) } else { head = Buffer.alloc(10); head[0] = 0x80 | op; head[1] = (mask ? 0x80 : 0) | 127; head.writeBigUInt64BE(BigInt(n), 2) }
  if (!mask) return Buffer.concat([head, p])
  const key = crypto.randomBytes(4)
  const body = Buffer.from(p.map((b, i) => b ^ key[i % 4]))
  return Buffer.concat([head, key, body])
}

// Upgrades a raw socket through the gate and sends frames right behind
// the request (they reach portal_accept_ws as the extra bytes).
function wsRaw (port, frames = Buffer.alloc(0), headers = '') {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    const chunks = []
    const closed = new Promise((resolve) => sock.once('close', () => resolve(Buffer.concat(chunks))))
    sock.on('data', (d) => chunks.push(d))
    sock.on('error', () => {})
    sock.once('connect', () => {
      const key = crypto.randomBytes(16).toString('base64')
      sock.write(Buffer.concat([Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' + headers + '\r\n'), frames]))
      resolve({ sock, closed, data: () => Buffer.concat(chunks), localPort: sock.localPort })
    })
    sock.once('error', reject)
  })
}

// The code of the first close frame the server sent after its 101.
function closeCode (buf) {
  const i = buf.indexOf('\r\n\r\n')
  if (i < 0) return null
  for (let p = i + 4; p + 2 <= buf.length;) {
    const op = buf[p] & 0x0f
    let len = buf[p + 1] & 0x7f
    let h = 2
    if (len === 126) { len = buf.readUInt16BE(p + 2); h = 4 }
    if (op === 8) return buf.length >= p + h + 2 ? buf.readUInt16BE(p + h) : null
    p += h + len
  }
  return null
}

test('bad frames: text 1003, unmasked 1002, over the size limit 1009; each closes only its own connection', { timeout: 30000 }, async () => {
  const g = await startGate()
  const h = await startHost(g.ws)
  try {
    const cases = [
      [frame(0x1, 'hello'), 1003, /text frame/],
      [frame(0x2, 'abc', { mask: false }), 1002, /WebSocket protocol error/],
      [frame(0x2, Buffer.alloc((1 << 20) + 1)), 1009, /over the size limit/]
    ]
    for (const [f, code, log] of cases) {
      const r = await wsRaw(g.wsPort, f)
      await L.waitFor(() => closeCode(r.data()) !== null, 3000, `a close frame (${code})`)
      assert.equal(closeCode(r.data()), code)
      assert.match(r.data().toString('latin1'), /^HTTP\/1\.1 101 /)
      // answering the close ends the TCP connection
      r.sock.write(frame(0x8, Buffer.from([code >> 8, code & 0xff])))
      await L.withTimeout(r.closed, 3000, 'the portal closing the socket')
      await L.waitFor(() => log.test(g.stderr()), 3000, `the log naming ${log}`)
    }
    // the host's WebSocket connection was not disturbed
    const r = await ping(h.tunnel, g.net)
    assert.equal(r.code, 0, r.stderr)
  } finally {
    await h.stop()
    await g.stop()
  }
})

test('the per-address limit counts WebSocket connections like TCP ones', { timeout: 20000 }, async () => {
  const g = await startGate(['--max-conns-per-ip', '1'])
  try {
    const a = await wsRaw(g.wsPort)
    const b = await wsRaw(g.wsPort)
    const got = await L.withTimeout(b.closed, 3000, 'the second connection being closed')
    // The HTTP listener applies the same per-address limit (it counts
    // the upgraded connection until it closes): no 101 for the second,
    // or the portal's own refusal right after it.
    assert.ok(!got.toString().startsWith('HTTP/1.1 101') ||
      new RegExp(`connection 127\\.0\\.0\\.1:${b.localPort} closed: too many connections from this address`).test(g.stderr()),
      `the second connection was let in: ${got.toString().slice(0, 200)}\n${g.stderr()}`)
    assert.equal(a.sock.destroyed, false)
    a.sock.destroy()
  } finally {
    await g.stop()
  }
})

test('a refused upgrade and wss:// are clear errors', { timeout: 20000 }, async () => {
  const srv = http.createServer((req, res) => { res.writeHead(400); res.end('no') })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const key = s.ids.room.id.slice(1, -8)
  try {
    const r = await L.fw(s, ['ping', `ws://127.0.0.1:${srv.address().port}~shs:${key}`,
      '--secret', s.ids.caller.secret, '--caps', L.CAPS, '-c', '1'])
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /WebSocket upgrade refused: "HTTP\/1\.1 400 Bad Request"/)
  } finally {
    srv.close()
  }
  const w = await L.fw(s, ['host', '--portal', `wss://example.org~shs:${key}`, '--secret', s.ids.host.secret])
  assert.equal(w.code, 2)
  assert.match(w.stderr, /wss:\/\/ needs TLS.*local TLS proxy/)
})

const bulkService = W.bulkService
const readAll = W.readAll

async function bulk (hostVia, connectVia) {
  const size = 16 << 20
  const svc = await bulkService(size)
  const g = await startGate()
  const h = L.spawnFairway(s, ['host', '--portal', g[hostVia], '--secret', s.ids.host.secret,
    '--caps', L.CAPS, '--expose', `bulk=127.0.0.1:${svc.port}`])
  let c
  try {
    const tunnel = await L.withTimeout(h.line, 8000, 'the host announcing itself')
    const port = await L.freePort()
    c = L.spawnFairway(s, ['connect', tunnel, '--portal', g[connectVia], '--secret', s.ids.caller.secret,
      '--caps', L.CAPS, '-L', `127.0.0.1:${port}:bulk`])
    await L.withTimeout(c.line, 10000, 'the forwarding line')
    const got = await L.withTimeout(readAll(port), 60000, '16 MiB through the tunnel')
    assert.equal(got.n, size)
    assert.equal(got.sha, svc.sha)
  } finally {
    if (c) await c.stop()
    await h.stop()
    await g.stop()
    svc.srv.close()
  }
}

test('16 MiB from a host on ws:// to a TCP caller arrives intact', { timeout: 90000 }, () => bulk('ws', 'net'))
test('16 MiB from a TCP host to a ws:// caller arrives intact', { timeout: 90000 }, () => bulk('net', 'ws'))

test('a peer that upgrades and then sends nothing is closed at the handshake timeout', { timeout: 20000 }, async () => {
  const g = await startGate(['--handshake-timeout', '800'])
  try {
    const t0 = Date.now()
    const r = await wsRaw(g.wsPort)
    await L.waitFor(() => closeCode(r.data()) !== null, 4000, 'a close frame')
    const ms = Date.now() - t0
    assert.ok(ms >= 700 && ms < 3000, `closed after ${ms} ms`)
    assert.equal(closeCode(r.data()), 1001)
    await L.waitFor(() => /closed: handshake timed out after 800 ms/.test(g.stderr()), 2000, 'the log line')
    r.sock.destroy()
  } finally {
    await g.stop()
  }
})

test('a server that accepts and never answers the upgrade: the client gives up at its set-up deadline', { timeout: 40000 }, async () => {
  const held = []
  const srv = net.createServer((c) => { held.push(c); c.on('error', () => {}) })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const key = s.ids.room.id.slice(1, -8)
  try {
    const t0 = Date.now()
    const r = await L.fw(s, ['ping', `ws://127.0.0.1:${srv.address().port}~shs:${key}`,
      '--secret', s.ids.caller.secret, '--caps', L.CAPS, '-c', '1'], 30000)
    const ms = Date.now() - t0
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /WebSocket set-up \(upgrade\) timed out/)
    assert.ok(ms >= 14000 && ms < 25000, `gave up after ${ms} ms (the default handshake timeout is 15 s)`)
    assert.equal(held.length, 1)
  } finally {
    for (const c of held) c.destroy()
    srv.close()
  }
})

test('--ws-origin: another Origin gets 403 and one log line; a listed one is let in', { timeout: 20000 }, async () => {
  const g = await startGate(['--ws-origin', 'https://good.example, http://127.0.0.1:8080'])
  try {
    const bad = await wsRaw(g.wsPort, Buffer.alloc(0), 'Origin: https://evil.example\r\n')
    await L.waitFor(() => bad.data().length > 0, 3000, 'an answer')
    assert.match(bad.data().toString('latin1'), /^HTTP\/1\.1 403 /)
    await L.waitFor(() => /refused: Origin https:\/\/evil\.example is not in ws-origin/.test(g.stderr()), 2000, 'the log line')
    assert.equal(L.countLines(g.stderr(), /evil\.example/), 1)
    const none = await wsRaw(g.wsPort)
    await L.waitFor(() => none.data().length > 0, 3000, 'an answer')
    assert.match(none.data().toString('latin1'), /^HTTP\/1\.1 403 /)
    for (const o of ['https://good.example', 'http://127.0.0.1:8080']) {
      const ok = await wsRaw(g.wsPort, Buffer.alloc(0), `Origin: ${o}\r\n`)
      await L.waitFor(() => ok.data().length > 0, 3000, 'an answer')
      assert.match(ok.data().toString('latin1'), /^HTTP\/1\.1 101 /)
      ok.sock.destroy()
    }
    bad.sock.destroy(); none.sock.destroy()
  } finally {
    await g.stop()
  }
  const r = await L.fw(s, ['portal', '--listen', '127.0.0.1:0', '--secret', s.ids.room.secret, '--caps', L.CAPS,
    '--db', `${s.dir}/bad-origin.db`, '--http', '127.0.0.1:0', '--ctl', 'none', '--ws-origin', 'good.example'])
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /ws-origin: "good\.example" is not an origin/)
})

test('X-Forwarded-For: ignored from an untrusted peer, its last hop used (per-address limit too) from a --trust-proxy one', { timeout: 20000 }, async () => {
  const g = await startGate(['--max-conns-per-ip', '1'])
  try {
    const a = await wsRaw(g.wsPort, Buffer.alloc(0), 'X-Forwarded-For: 10.9.9.9\r\n')
    await L.waitFor(() => a.data().length > 0, 3000, 'an answer')
    a.sock.destroy()
    await L.waitFor(() => new RegExp(`connection 127\\.0\\.0\\.1:${a.localPort} closed`).test(g.stderr()), 3000, 'the close naming the socket\'s address')
    assert.ok(!/10\.9\.9\.9/.test(g.stderr()), g.stderr())
  } finally {
    await g.stop()
  }
  const t = await startGate(['--max-conns-per-ip', '1', '--trust-proxy', '192.0.2.1,127.0.0.1'])
  try {
    // what the client claims first is not believed: the proxy's hop is last
    const a = await wsRaw(t.wsPort, Buffer.alloc(0), 'X-Forwarded-For: 6.6.6.6, 10.0.0.1\r\n')
    const b = await wsRaw(t.wsPort, Buffer.alloc(0), 'X-Forwarded-For: 10.0.0.2\r\n')
    for (const c of [a, b]) await L.waitFor(() => c.data().length > 0, 3000, 'an answer')
    const c = await wsRaw(t.wsPort, Buffer.alloc(0), 'X-Forwarded-For: 10.0.0.1\r\n')
    await L.withTimeout(c.closed, 3000, 'the second connection from 10.0.0.1 being closed')
    await L.waitFor(() => /10\.0\.0\.1:0 closed: too many connections from this address/.test(t.stderr()), 3000, 'the limit naming 10.0.0.1')
    assert.ok(!/6\.6\.6\.6/.test(t.stderr()), t.stderr())
    assert.equal(a.sock.destroyed, false)
    assert.equal(b.sock.destroyed, false)
    a.sock.destroy(); b.sock.destroy()
  } finally {
    await t.stop()
  }
})
