// One cell of the interop matrix (issue 3, item 7): a portal, a host
// (target) and a client, each fairway or a JS peer, and four tests:
//
//   1. a call through the tunnel returns, and the target sees the true
//      caller id (JS targets: the rpc.id of the incoming session and
//      matrix.caller; fairway host: its "tunnel session from @…" line);
//   2. a 64 MiB transfer client → host service arrives intact (sha256 of
//      what was sent = sha256 of what the service received);
//   3. SIGKILL of the client mid-transfer: the portal lives on and a fresh
//      client reaches the host;
//   4. SIGKILL of the host mid-transfer: the portal lives on and a fresh
//      client reaches the restarted host (same identity).
//
// The bytes go client → host's forward.connect → a TCP sink in this
// process, for every kind of host (fairway host --expose, or the JS
// peers' forward plugin), so all cells measure the same thing.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const L = require('./lib')

const STEP_MS = 60000

function esc (s) {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

// ---- portals ----

async function fairwayPortal (dir, extra) {
  const p = await L.fairwayPortal(dir, 'portal', extra)
  return {
    proc: p.proc,
    info: { host: p.host, port: p.port, id: p.id },
    addr: p.addr,
    // Still serving: a fresh TCP session gets whoami answered.
    async check () {
      assert.ok(p.proc.alive(), 'fairway portal is still running')
      const who = await L.keygen(dir, 'probe' + Date.now())
      const r = await L.fairwayRun(dir, ['call', p.addr, 'whoami', '--secret', who.secret, '--caps', L.CAPS])
      assert.equal(r.code, 0, `whoami at the portal: ${r.stderr}`)
      assert.equal(JSON.parse(r.stdout).id, p.id)
    }
  }
}

// A portal shaped to 20 mbit cuts each relayed 4 KiB item into ~2.4 KiB
// pieces (relay.c, piece_max): the ends must see one unbroken byte stream.
const SHAPED_POLICY = '[portal]\nprivacy = open\nrate-up = 20mbit\n'

const portals = {
  fairway: (dir) => fairwayPortal(dir, []),
  async 'fairway-shaped' (dir) {
    const file = path.join(dir, 'shaped.ini')
    fs.writeFileSync(file, SHAPED_POLICY)
    return fairwayPortal(dir, ['-c', file])
  },
  async 'ssb-tunnel' (dir) {
    const port = await L.freePort()
    const p = await L.jsPeer(dir, 'ssb-tunnel', 'js-portal', { role: 'portal', port })
    const ev = await p.waitLine((l, j) => j && j.event === 'listening', 15000, 'listening')
    return {
      proc: p,
      info: { host: '127.0.0.1', port, id: p.id },
      addr: ev.address,
      async check () {
        assert.ok(p.alive(), 'JS portal is still running')
        const who = await L.keygen(dir, 'probe' + Date.now())
        // ssb-tunnel's own method, allowed for anonymous peers.
        const r = await L.fairwayRun(dir, ['call', ev.address, 'tunnel.ping', '--secret', who.secret, '--caps', L.CAPS])
        assert.equal(r.code, 0, `tunnel.ping at the portal: ${r.stderr}`)
        assert.ok(Number(r.stdout) > 1.6e12)
      }
    }
  }
}

// ---- hosts ----

// start(dir, portal, sinkPort, name) → {proc, addr, id, js, sawCaller(id)}
const hosts = {
  async fairway (dir, portal, sinkPort, who) {
    const h = await L.fairwayHost(dir, { addr: portal.addr }, who, { sink: sinkPort })
    return {
      ...h,
      js: false,
      sawCaller: (id, ms = 10000) =>
        h.proc.waitErr(new RegExp(`tunnel session from ${esc(id)}`), ms, `tunnel session from ${id}`)
    }
  },
  async 'ssb-tunnel' (dir, portal, sinkPort, name) {
    return jsHost(dir, 'ssb-tunnel', portal, sinkPort, name)
  },
  async room (dir, portal, sinkPort, name) {
    return jsHost(dir, 'room', portal, sinkPort, name)
  }
}

async function jsHost (dir, kind, portal, sinkPort, name) {
  const p = await L.jsPeer(dir, kind, name, {
    role: 'target',
    portal: portal.info,
    services: { sink: { host: '127.0.0.1', port: sinkPort } }
  })
  const ev = await p.waitLine((l, j) => j && j.event === 'announced', 20000, 'announced')
  return {
    proc: p,
    addr: ev.address,
    id: p.id,
    js: true,
    // The incoming session's rpc.id — what the inner handshake proved.
    sawCaller: (id, ms = 10000) =>
      p.waitLine((l, j) => j && j.event === 'rpc-connect' && j.id === id, ms, `rpc-connect from ${id}`)
  }
}

// ---- clients ----

// A client is {id, call(host) → result, bulk(host, bytes) → {proc, sent: Promise, progress()}}.
const clients = {
  async fairway (dir, portal, name) {
    const who = await L.keygen(dir, name)
    return {
      id: who.id,
      procs: [],
      async call (host) {
        // matrix.caller on JS targets returns who they think calls.
        const method = host.js ? 'matrix.caller' : 'tunnel.ping'
        const value = await L.fairwayCall(dir, host.addr, { addr: portal.addr }, who, method, [])
        return { value, remoteId: null }
      },
      async bulk (host, bytes) {
        const c = await L.fairwayConnect(dir, host.addr, { addr: portal.addr }, who, 'sink')
        let sent = 0
        const s = L.tcpSend(c.port, bytes, (n) => { sent = n })
        return { proc: c.proc, done: s.done, sent: () => sent, close: () => { s.sock.destroy(); return c.proc.stop() } }
      },
      async stop () {}
    }
  },
  async 'ssb-tunnel' (dir, portal, name) {
    return jsClient(dir, 'ssb-tunnel', portal, name)
  },
  async room (dir, portal, name) {
    return jsClient(dir, 'room', portal, name)
  }
}

async function jsClient (dir, kind, portal, name) {
  const p = await L.jsPeer(dir, kind, name, { role: 'client', portal: portal.info })
  if (kind === 'room') await p.waitLine((l, j) => j && j.event === 'joined', 20000, 'joined the room')
  return {
    id: p.id,
    proc: p,
    async call (host) {
      const method = host.js ? 'matrix.caller' : 'tunnel.ping'
      return p.cmd({ cmd: 'call', addr: host.addr, method }, 30000)
    },
    async bulk (host, bytes) {
      const from = p.lines.length
      let sent = 0
      const done = p.cmd({ cmd: 'bulk', addr: host.addr, service: 'sink', bytes }, 120000)
      const watch = setInterval(() => {
        for (let i = from; i < p.lines.length; i++) {
          const j = p.lines[i].json
          if (j && j.event === 'progress' && j.sent > sent) sent = j.sent
        }
      }, 20)
      done.finally(() => clearInterval(watch)).catch(() => {})
      return { proc: p, done, sent: () => sent, close: () => p.cmd({ cmd: 'close' }, 10000) }
    },
    stop: () => p.stop()
  }
}

// ---- the cell ----

function defineCell (title, spec) {
  let s, sink, portal, host, hostWho
  const hostKind = spec.host

  // fairway hosts restart with the same secret file; JS peers with the
  // same secret (jsPeer names it after the peer).
  async function startHost (name = 'host') {
    if (hostKind === 'fairway') {
      hostWho = hostWho || await L.keygen(s.dir, name)
      return hosts.fairway(s.dir, portal, sink.port, hostWho)
    }
    return hosts[hostKind](s.dir, portal, sink.port, name)
  }

  before(async () => {
    s = L.scratch(spec.tag)
    sink = await L.sinkService().ready
    portal = await portals[spec.portal](s.dir)
    host = await startHost()
  })

  after(async () => {
    await L.killAll()
    if (sink) await sink.close()
    if (s) s.cleanup()
  })

  let nclient = 0
  const newClient = () => clients[spec.client](s.dir, portal, `client${++nclient}`)

  // A call from a fresh client returns and the host names that client.
  async function callAndCheck () {
    const c = await newClient()
    try {
      const r = await c.call(host)
      if (host.js) assert.equal(r.value, c.id, 'matrix.caller at the target names the true caller')
      else assert.ok(typeof r.value === 'number' && r.value > 1.6e12, `tunnel.ping: ${JSON.stringify(r.value)}`)
      if (r.remoteId) assert.equal(r.remoteId, host.id, 'the client reached the real target')
      await host.sawCaller(c.id)
    } finally {
      await c.stop()
    }
  }

  test(`${title}: a call through the tunnel returns, the target sees the true caller`,
    { timeout: STEP_MS }, callAndCheck)

  test(`${title}: 64 MiB arrive intact (sha256 on both sides)`, { timeout: 2 * STEP_MS }, async (t) => {
    const c = await newClient()
    try {
      const t0 = Date.now()
      const received = sink.next()
      const b = await c.bulk(host, L.BULK)
      const sent = await L.deadline(Promise.resolve(b.done), 90000, 'sending 64 MiB')
      const got = await L.deadline(received, 60000, 'the service receiving 64 MiB')
      const ms = Date.now() - t0
      assert.equal(sent.bytes, L.BULK)
      assert.equal(got.bytes, L.BULK, 'bytes at the service')
      assert.equal(got.sha256, sent.sha256, 'sha256 at the service = sha256 sent')
      assert.ok(got.prefix, 'the bytes are the bulk stream, in order')
      const rss = sent.peakRss ? `, client peak RSS ${(sent.peakRss / L.MiB).toFixed(0)} MiB` : ''
      t.diagnostic(`64 MiB in ${ms} ms (${(64 / (ms / 1000)).toFixed(1)} MiB/s)${rss}`)
      await b.close()
    } finally {
      await c.stop()
    }
  })

  // Starts a large transfer and waits until it is well under way.
  async function midTransfer (c) {
    const before = sink.received
    const received = sink.next()
    const b = await c.bulk(host, 16 * L.BULK)
    Promise.resolve(b.done).catch(() => {})
    try {
      await L.until(() => sink.received - before > 8 * L.MiB, 30000, '8 MiB through the tunnel')
    } catch (e) {
      e.message += `\nsent ${b.sent()}, received ${sink.received - before}\nclient stderr:\n${b.proc.err.slice(-2000)}\nhost stderr:\n${host.proc.err.slice(-2000)}`
      throw e
    }
    return { b, received }
  }

  test(`${title}: SIGKILL of the client mid-transfer leaves the portal serving`,
    { timeout: 2 * STEP_MS }, async () => {
      const c = await newClient()
      const { b, received } = await midTransfer(c)
      await b.proc.kill('SIGKILL')
      // The host's end of the tunnel must end too: the service sees its
      // connection close short of the 1 GiB.
      const got = await L.deadline(received, 20000, 'the service connection closing')
      assert.ok(got.bytes < 16 * L.BULK)
      assert.ok(got.prefix, `the ${got.bytes} bytes that came are a byte-exact prefix of those sent`)
      await portal.check()
      await callAndCheck()
      assert.ok(host.proc.alive(), 'the host survived its caller dying')
    })

  test(`${title}: SIGKILL of the host mid-transfer leaves the portal serving`,
    { timeout: 2 * STEP_MS }, async () => {
      const c = await newClient()
      try {
        const { b, received } = await midTransfer(c)
        await host.proc.kill('SIGKILL')
        const got = await L.deadline(received, 20000, 'the service connection closing')
        assert.ok(got.prefix, `the ${got.bytes} bytes that came are a byte-exact prefix of those sent`)
        // The client's transfer must fail or end, not hang forever.
        await L.deadline(Promise.resolve(b.done).catch(() => {}), 30000, 'the client noticing the host died')
        await portal.check()
        host = await startHost()
        await callAndCheck()
      } finally {
        await c.stop()
      }
    })
}

module.exports = { defineCell }
