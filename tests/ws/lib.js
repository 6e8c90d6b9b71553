// Shared by the tests/ws suites: a `fairway portal --db … --http` (the
// gate), fairway hosts on it, bulk TCP services and readers, and Node
// peers built from this directory's pinned stack (secret-stack 6.4.1 +
// ssb-conn + ssb-room-client, multiserver's ws transport).
'use strict'

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { createRequire } = require('node:module')
const L = require('../portal/lib')

const req = createRequire(path.join(__dirname, 'package.json'))
let gateSeq = 0
const gates = []

// Starts a portal with --http on s; resolves {net, ws, wsPort, httpPort,
// pid, stderr(), stop()}. Its first stdout line is the net: address, its
// second the ws:// one.
async function startGate (s, extra = []) {
  const db = path.join(s.dir, `ws-room-${process.pid}-${++gateSeq}.db`)
  const g = L.spawnFairway(s, ['portal', '--listen', '127.0.0.1:0', '--secret', s.ids.room.secret,
    '--caps', L.CAPS, '--db', db, '--http', '127.0.0.1:0', '--ctl', 'none', '--privacy', 'open', ...extra])
  gates.push(g)
  await g.line
  await L.waitFor(() => g.stdout().split('\n').length >= 3 || g.child.exitCode !== null, 8000, 'the portal\'s address lines')
  const lines = g.stdout().split('\n')
  g.net = lines[0]
  g.ws = lines[1]
  const m = /^ws:\/\/127\.0\.0\.1:(\d+)~shs:[A-Za-z0-9+/]{43}=$/.exec(g.ws || '')
  if (!m || !g.net.startsWith('net:127.0.0.1:')) throw new Error(`bad address lines: ${g.stdout()}\n${g.stderr()}`)
  g.wsPort = g.httpPort = Number(m[1])
  return g
}

async function stopGates () { for (const g of gates.splice(0)) await g.stop() }

// `fairway host` on portalAddr as identity `who` (default s.ids.host),
// with extra arguments (--expose …); resolves the handle with .tunnel.
async function startHost (s, portalAddr, extra = [], who = s.ids.host) {
  const h = L.spawnFairway(s, ['host', '--portal', portalAddr, '--secret', who.secret, '--caps', L.CAPS, ...extra])
  h.tunnel = await L.withTimeout(h.line, 8000, 'the host announcing itself')
  assert.match(h.tunnel, /^tunnel:@[A-Za-z0-9+/]{43}=\.ed25519:@[A-Za-z0-9+/]{43}=\.ed25519~shs:/)
  return h
}

// A TCP service that sends size random bytes to whoever connects (in
// 1 MiB writes, honouring backpressure); .sha is their sha256.
async function bulkService (size) {
  const data = crypto.randomBytes(size)
  const conns = []
  const srv = net.createServer((c) => {
    conns.push(c)
    c.on('error', () => {})
    c.end(data)
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return {
    srv,
    conns,
    data,
    port: srv.address().port,
    sha: crypto.createHash('sha256').update(data).digest('hex'),
    close () { for (const c of conns) c.destroy(); srv.close() }
  }
}

// Reads a TCP port to its end: resolves {n, sha}; onData(n) after each
// chunk.
function readAll (port, onData = () => {}) {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256')
    let n = 0
    const c = net.connect({ host: '127.0.0.1', port })
    c.on('data', (d) => { h.update(d); n += d.length; onData(n, c) })
    c.on('end', () => resolve({ n, sha: h.digest('hex') }))
    c.on('close', () => resolve({ n, sha: null }))
    c.on('error', reject)
  })
}

// secret-stack 6 knows net and onion; ws is multiserver's plugin, added
// the way ssb-ws adds it.
const wsTransport = {
  name: 'multiserver-ws',
  version: '1.0.0',
  init (api) { api.multiserver.transport({ name: 'ws', create: (opts) => req('multiserver/plugins/ws')(opts) }) }
}

const nodes = []

// A room-client peer (secret-stack + multiserver ws + ssb-conn +
// ssb-room-client, as a browser or Manyverse runs it) with keys; it
// dials net:, ws: and tunnel: addresses and accepts tunnels.
function roomPeer (s, keys) {
  const node = req('secret-stack')({ caps: { shs: L.CAPS } })
    .use(wsTransport)
    .use(req('ssb-conn'))
    .use(req('ssb-room-client'))({
      keys,
      path: fs.mkdtempSync(path.join(s.dir, 'peer-')),
      timers: { inactivity: -1, handshake: 8000 },
      conn: { autostart: false, populatePubs: false },
      connections: {
        incoming: { tunnel: [{ scope: 'public', transform: 'shs' }] },
        outgoing: { net: [{ transform: 'shs' }], ws: [{ transform: 'shs' }], tunnel: [{ transform: 'shs' }] }
      }
    })
  nodes.push(node)
  return node
}

async function closePeers () {
  while (nodes.length) {
    const n = nodes.pop()
    await L.withTimeout(L.cbPromise((cb) => n.close(true, cb)), 3000, 'close').catch(() => {})
  }
}

module.exports = { req, startGate, stopGates, startHost, bulkService, readAll, wsTransport, roomPeer, closePeers }
