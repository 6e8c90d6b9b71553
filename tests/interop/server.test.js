// The real JS stack as the client, fairway as the server: `fairway portal`
// runs as a child process and secret-stack 6.4.2 clients call its async,
// source and duplex methods. Bad input (garbage, a half-finished
// handshake, a wrong network key) must close only that one connection.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const net = require('node:net')
const path = require('node:path')
const pull = require('pull-stream')
const SecretStack = require('secret-stack')
const ssbKeys = require('ssb-keys')
const {
  startPortal, tmpDir, cbPromise, withTimeout, killAll, TEST_CAPS, MAIN_CAPS
} = require('./helpers')

const HANDSHAKE_MS = 1500

// secret-stack does not fetch the remote manifest: it assumes the remote
// has its own (protocol.md §5.7). So the client declares the portal's
// methods locally, in a plugin without a name (merged at the top level)
// that implements none of them.
const remoteManifest = {
  manifest: {
    whoami: 'async',
    room: { metadata: 'async', attendants: 'source', ping: 'async' },
    tunnel: {
      isRoom: 'async', endpoints: 'source', announce: 'async', leave: 'async', ping: 'async'
    },
    gossip: { ping: 'duplex' },
    nope: { nothing: 'async', stream: 'source' }
  },
  init: () => ({})
}

let scratch, portal, portalKeys
const clients = []   // every secret-stack node made here, closed in after()

// A secret-stack node that only dials out (closed in after()).
function makeClientNode (caps = TEST_CAPS) {
  const keys = ssbKeys.generate()
  const node = SecretStack({ caps: { shs: caps } }).use(remoteManifest)({
    keys,
    path: path.join(scratch.dir, 'client-' + clients.length),
    timers: { inactivity: -1, handshake: 5000 },
    connections: { incoming: {}, outgoing: { net: [{ transform: 'shs' }] } }
  })
  clients.push(node)
  return node
}

// A connected rpc object (muxrpc 6.7.3 client) to addr.
async function connect (addr, caps = TEST_CAPS) {
  const node = makeClientNode(caps)
  const rpc = await withTimeout(cbPromise((cb) => node.connect(addr, cb)), 8000, 'connect')
  return { node, rpc }
}

// A polite close: muxrpc waits until every stream on the connection has
// ended in both directions, then sends goodbye. So this also checks that
// the portal answered our ENDs; a bounded wait turns a miss into a failure.
function closeRpc (rpc, what = 'close') {
  return withTimeout(cbPromise((cb) => rpc.close(cb)), 5000, what)
}

// Reads a pull-stream source item by item: next() resolves the next item,
// or rejects when the source ends (err.ended = true, err.cause = its error)
// or nothing arrives in time.
function reader (source) {
  const items = []
  const waiters = []
  let end = null
  const flush = () => {
    while (waiters.length && (items.length || end)) {
      const w = waiters.shift()
      clearTimeout(w.timer)
      if (items.length) w.resolve(items.shift())
      else w.reject(Object.assign(new Error('source ended: ' + (end === true ? 'ok' : end.message)), { ended: true, cause: end }))
    }
  }
  const sink = pull.drain((item) => { items.push(item); flush() }, (err) => { end = err || true; flush() })
  pull(source, sink)
  return {
    next (ms = 5000) {
      return new Promise((resolve, reject) => {
        const w = { resolve, reject }
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1)
          reject(new Error(`no item within ${ms} ms`))
        }, ms)
        waiters.push(w)
        flush()
      })
    },
    abort () { sink.abort() },
    get ended () { return end }
  }
}

// A pull source that yields the given values and then stays open (a
// duplex's sink must not end, or the whole call ends), until stop().
function openSource (values) {
  const queue = values.slice()
  let pending = null
  const src = (abort, cb) => {
    if (abort) {
      if (pending) { const p = pending; pending = null; p(abort) }
      return cb(abort)
    }
    if (queue.length) return cb(null, queue.shift())
    pending = cb
  }
  src.stop = () => { if (pending) { const p = pending; pending = null; p(true) } }
  return src
}

before(async () => {
  scratch = tmpDir('server')
  // The portal's identity comes from ssb-keys, so whoami can be checked
  // against what the JS side thinks the id is.
  const secret = path.join(scratch.dir, 'portal-secret')
  portalKeys = ssbKeys.createSync(secret)
  portal = await startPortal({
    home: scratch.dir, secret, caps: TEST_CAPS,
    extra: ['--handshake-timeout', String(HANDSHAKE_MS)]
  })
})

after(async () => {
  try {
    for (const node of clients) {
      await withTimeout(cbPromise((cb) => node.close(true, cb)), 3000, 'close').catch(() => {})
    }
    if (portal) await portal.stop()
    if (portal && process.env.FAIRWAY_INTEROP_VERBOSE) console.error(portal.stderr())
  } finally {
    killAll()
    scratch.cleanup()
  }
})

test('the portal prints its address with the key from its secret file', () => {
  assert.equal(portal.key + '.ed25519', portalKeys.public)
})

test('whoami returns the portal id', { timeout: 15000 }, async () => {
  const { rpc } = await connect(portal.addr)
  const r = await withTimeout(cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami')
  assert.deepEqual(r, { id: portalKeys.id })
  await closeRpc(rpc)
})

test('room.metadata and tunnel.isRoom return the room object', { timeout: 15000 }, async () => {
  const { rpc } = await connect(portal.addr)
  const md = await withTimeout(cbPromise((cb) => rpc.room.metadata(cb)), 5000, 'room.metadata')
  assert.ok(md && typeof md === 'object', 'metadata is a truthy object')
  assert.equal(typeof md.name, 'string')
  assert.equal(typeof md.membership, 'boolean')
  assert.ok(Array.isArray(md.features))
  assert.ok(md.features.includes('tunnel'))
  const isRoom = await withTimeout(cbPromise((cb) => rpc.tunnel.isRoom(cb)), 5000, 'tunnel.isRoom')
  assert.deepEqual(isRoom, md)
})

test('manifest has the portal methods with their types', { timeout: 15000 }, async () => {
  const { rpc } = await connect(portal.addr)
  // secret-stack's own manifest declares `manifest` (sync): the remote
  // call is an ordinary async request.
  const m = await withTimeout(cbPromise((cb) => rpc.manifest(cb)), 5000, 'manifest')
  assert.equal(m.whoami, 'async')
  assert.deepEqual(m.gossip, { ping: 'duplex' })
  assert.equal(m.room.metadata, 'async')
  assert.equal(m.room.attendants, 'source')
  assert.equal(m.tunnel.isRoom, 'async')
  assert.equal(m.tunnel.endpoints, 'source')
  assert.equal(m.tunnel.announce, 'async')
  assert.equal(m.tunnel.leave, 'async')
})

test('tunnel.ping and room.ping return a current ms timestamp', { timeout: 15000 }, async () => {
  const { rpc } = await connect(portal.addr)
  for (const fn of [rpc.tunnel.ping, rpc.room.ping]) {
    const before = Date.now()
    const t = await withTimeout(cbPromise((cb) => fn(cb)), 5000, 'ping')
    assert.equal(typeof t, 'number')
    assert.ok(Math.abs(t - before) < 10000, `timestamp ${t} is close to ${before}`)
  }
})

test('300 calls in flight on one connection all get their own answers', { timeout: 20000 }, async () => {
  const { rpc } = await connect(portal.addr)
  const calls = []
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) calls.push(cbPromise((cb) => rpc.whoami(cb)).then((r) => assert.equal(r.id, portalKeys.id)))
    else if (i % 3 === 1) calls.push(cbPromise((cb) => rpc.room.metadata(cb)).then((r) => assert.ok(Array.isArray(r.features))))
    else calls.push(cbPromise((cb) => rpc.tunnel.ping(cb)).then((r) => assert.equal(typeof r, 'number')))
  }
  await withTimeout(Promise.all(calls), 10000, '300 calls')
  await closeRpc(rpc)
})

test('a 100 KB request body (many box-stream frames) is read whole', { timeout: 20000 }, async () => {
  const { rpc } = await connect(portal.addr)
  // tunnel.ping ignores its arguments; the portal still has to take the
  // 100 KB packet in, across ~25 box-stream frames (protocol.md §5.1 asks
  // for a receive cap well above 64 KiB).
  const t = await withTimeout(cbPromise((cb) => rpc.tunnel.ping({ pad: 'p'.repeat(100000) }, cb)), 5000, 'big ping')
  assert.equal(typeof t, 'number')
  const r = await withTimeout(cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami after')
  assert.equal(r.id, portalKeys.id)
  await closeRpc(rpc)
})

test('room.attendants: state with own id, then joined and left of a second client', { timeout: 30000 }, async () => {
  const a = await connect(portal.addr)
  const sa = reader(a.rpc.room.attendants())
  const state = await sa.next()
  assert.equal(state.type, 'state')
  assert.ok(Array.isArray(state.ids))
  assert.ok(state.ids.includes(a.node.id), `state ${JSON.stringify(state)} has ${a.node.id}`)

  // A second client subscribes: it becomes an attendant, A hears it.
  const b = await connect(portal.addr)
  const sb = reader(b.rpc.room.attendants())
  const bState = await sb.next()
  assert.equal(bState.type, 'state')
  assert.ok(bState.ids.includes(a.node.id) && bState.ids.includes(b.node.id))
  assert.deepEqual(await sa.next(), { type: 'joined', id: b.node.id })

  // B ends its subscription and hangs up politely (muxrpc waits for open
  // streams, then goodbye): A hears it leave.
  sb.abort()
  await closeRpc(b.rpc, 'B closing')
  assert.deepEqual(await sa.next(), { type: 'left', id: b.node.id })

  // A third one drops abruptly (no goodbye): A hears it leave too.
  const c = await connect(portal.addr)
  const sc = reader(c.rpc.room.attendants())
  await sc.next()
  assert.deepEqual(await sa.next(), { type: 'joined', id: c.node.id })
  c.rpc.close(true, () => {})
  assert.deepEqual(await sa.next(), { type: 'left', id: c.node.id })

  // Ending the subscription from the client side ends it cleanly.
  sa.abort()
  await closeRpc(a.rpc)
})

test('tunnel.endpoints: sorted id arrays that follow announce and leave', { timeout: 30000 }, async () => {
  const a = await connect(portal.addr)
  const ea = reader(a.rpc.tunnel.endpoints())
  const first = await ea.next()
  assert.ok(Array.isArray(first))
  assert.ok(first.includes(a.node.id))
  assert.deepEqual(first, first.slice().sort())

  const b = await connect(portal.addr)
  const ann = await withTimeout(cbPromise((cb) => b.rpc.tunnel.announce(cb)), 5000, 'announce')
  assert.equal(ann, true)
  const withB = await ea.next()
  assert.ok(withB.includes(a.node.id) && withB.includes(b.node.id), JSON.stringify(withB))
  assert.deepEqual(withB, withB.slice().sort())

  const left = await withTimeout(cbPromise((cb) => b.rpc.tunnel.leave(cb)), 5000, 'leave')
  assert.equal(left, true)
  const withoutB = await ea.next()
  assert.ok(withoutB.includes(a.node.id) && !withoutB.includes(b.node.id), JSON.stringify(withoutB))

  ea.abort()
  await closeRpc(b.rpc)
  await closeRpc(a.rpc)
})

test('gossip.ping duplex: a timestamp is answered with the portal Date.now()', { timeout: 15000 }, async () => {
  const { rpc } = await connect(portal.addr)
  // What ssb-gossip / ssb-conn open on every connection (pull-ping).
  const duplex = rpc.gossip.ping({ timeout: 300000 })
  const out = openSource([Date.now()])
  pull(out, duplex.sink)
  const input = reader(duplex.source)
  const sent = Date.now()
  const answer = await input.next(5000)
  assert.equal(typeof answer, 'number', `answer ${JSON.stringify(answer)}`)
  assert.notEqual(answer, 0, 'a 0 reply counts as a failure in JS')
  assert.ok(Math.abs(answer - sent) < 10000, `answer ${answer} is a plausible Date.now() (sent ${sent})`)
  // Both directions end; the connection stays usable.
  out.stop()
  input.abort()
  const r = await withTimeout(cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami after ping')
  assert.equal(r.id, portalKeys.id)
  await closeRpc(rpc, 'close after ping (the portal must have ended its side)')
})

test('unknown methods get an error ending in "not in list of allowed methods"', { timeout: 15000 }, async () => {
  const { rpc } = await connect(portal.addr)
  await assert.rejects(
    withTimeout(cbPromise((cb) => rpc.nope.nothing(cb)), 5000, 'nope.nothing'),
    (err) => {
      assert.match(err.message, /not in list of allowed methods$/)
      assert.match(err.message, /nope,nothing/)
      return true
    })
  // The same for a stream call: the source ends with that error.
  const s = reader(rpc.nope.stream())
  await assert.rejects(s.next(5000), (err) => {
    assert.ok(err.ended, err.message)
    assert.match(err.cause && err.cause.message, /not in list of allowed methods$/)
    return true
  })
  // The connection survives both.
  const r = await withTimeout(cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami after errors')
  assert.equal(r.id, portalKeys.id)
  await closeRpc(rpc)
})

// Opens a raw TCP connection to the portal. Resolves {sock, closed, localPort}:
// closed is a promise of {ms, data}, settled when the portal hangs up
// (ms since connecting, data = every byte it sent).
function rawConn (port) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    // localPort is read now: a closed socket no longer knows it.
    const sock = net.connect({ host: '127.0.0.1', port }, () => resolve({ sock, closed, localPort: sock.localPort }))
    let data = Buffer.alloc(0)
    sock.on('data', (d) => { data = Buffer.concat([data, d]) })
    const closed = new Promise((resolve) => {
      sock.on('close', () => resolve({ ms: Date.now() - t0, data }))
    })
    sock.on('error', () => {})   // a reset is a close as far as we care
    sock.once('error', (e) => { if (!sock.remoteAddress) reject(e) })
  })
}

// The portal says why it closed a connection, in one line naming it
// (issue 2, "Bad input"). Waits a little: its stderr is a pipe.
async function assertOneLogLine (localPort, re) {
  const tag = `127.0.0.1:${localPort} `
  const lines = () => portal.stderr().split('\n').filter((l) => l.includes(tag) && /closed/.test(l))
  for (let i = 0; i < 50 && lines().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const l = lines()
  assert.equal(l.length, 1, `one log line for ${tag}: ${JSON.stringify(l)}`)
  assert.match(l[0], re)
}

// Still serving: a proper client gets whoami.
async function assertPortalServes () {
  const { rpc } = await connect(portal.addr)
  const r = await withTimeout(cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami')
  assert.equal(r.id, portalKeys.id)
  await closeRpc(rpc)
}

test('garbage bytes: that connection is closed, the portal carries on', { timeout: 20000 }, async () => {
  // A proper client that stays connected throughout.
  const { rpc } = await connect(portal.addr)
  const { sock, closed, localPort } = await rawConn(portal.port)
  sock.write(crypto.randomBytes(200))
  const c = await withTimeout(closed, HANDSHAKE_MS + 3000, 'portal closing the garbage connection')
  assert.equal(c.data.length, 0, 'nothing sent back to a bad hello')
  await assertOneLogLine(localPort, /hello|msg1|invalid/i)
  const r = await withTimeout(cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami on the old connection')
  assert.equal(r.id, portalKeys.id)
  await assertPortalServes()
})

test('HTTP request instead of SHS: closed', { timeout: 20000 }, async () => {
  const { sock, closed, localPort } = await rawConn(portal.port)
  sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' + 'x'.repeat(40))
  await withTimeout(closed, HANDSHAKE_MS + 3000, 'portal closing the HTTP connection')
  await assertOneLogLine(localPort, /hello|msg1|invalid/i)
  await assertPortalServes()
})

test('half a client hello, then silence: closed by the handshake timeout', { timeout: 20000 }, async () => {
  const { sock, closed, localPort } = await rawConn(portal.port)
  sock.write(crypto.randomBytes(30))
  const c = await withTimeout(closed, HANDSHAKE_MS + 3000, 'portal closing the stalled connection')
  assert.ok(c.ms >= HANDSHAKE_MS - 200, `closed after ${c.ms} ms, not before the timeout`)
  await assertOneLogLine(localPort, /timed out|timeout/i)
  await assertPortalServes()
})

test('a valid hello, then silence: server hello comes back, then closed by the timeout', { timeout: 20000 }, async () => {
  // msg1 = HMAC-SHA-512-256(N, eph_pk) || eph_pk (protocol.md §3.1); any
  // 32 bytes do as eph_pk since we never finish.
  const N = Buffer.from(TEST_CAPS, 'base64')
  const eph = crypto.randomBytes(32)
  const mac = crypto.createHmac('sha512', N).update(eph).digest().subarray(0, 32)
  const { sock, closed, localPort } = await rawConn(portal.port)
  sock.write(Buffer.concat([mac, eph]))
  const c = await withTimeout(closed, HANDSHAKE_MS + 3000, 'portal closing the stalled handshake')
  assert.equal(c.data.length, 64, 'got the 64-byte server hello (msg2)')
  // msg2's MAC is keyed with the same network key.
  const mac2 = crypto.createHmac('sha512', N).update(c.data.subarray(32)).digest().subarray(0, 32)
  assert.ok(mac2.equals(c.data.subarray(0, 32)), 'msg2 MAC uses the network key')
  assert.ok(c.ms >= HANDSHAKE_MS - 200, `closed after ${c.ms} ms, not before the timeout`)
  await assertOneLogLine(localPort, /timed out|timeout/i)
  await assertPortalServes()
})

test('wrong network key from a JS client: refused, the portal carries on', { timeout: 20000 }, async () => {
  const node = makeClientNode(MAIN_CAPS)
  await assert.rejects(
    withTimeout(cbPromise((cb) => node.connect(portal.addr, cb)), HANDSHAKE_MS + 5000, 'connect'),
    (err) => { assert.doesNotMatch(err.message, /no answer within/); return true })
  await assertPortalServes()
  assert.match(portal.stderr(), /127\.0\.0\.1/, 'the portal logged the refused connections')
})

test('default network key: a JS client on ssb-caps talks to a portal started without --caps', { timeout: 20000 }, async () => {
  const p = await startPortal({ home: scratch.dir, secret: path.join(scratch.dir, 'portal-secret') })
  try {
    const { rpc } = await connect(p.addr, MAIN_CAPS)
    const r = await withTimeout(cbPromise((cb) => rpc.whoami(cb)), 5000, 'whoami')
    assert.equal(r.id, portalKeys.id)
    await closeRpc(rpc)
  } finally {
    const r = await p.stop()
    assert.equal(r.code, 0, p.stderr())
  }
})

// Last: the shared portal stops on SIGTERM with exit 0, connections open.
test('SIGTERM stops the portal with exit 0, even with clients connected', { timeout: 15000 }, async () => {
  const { rpc } = await connect(portal.addr)
  const closed = new Promise((resolve) => rpc.once('closed', resolve))
  const r = await portal.stop()
  assert.equal(r.signal, null, 'exited by itself, not killed\n' + portal.stderr())
  assert.equal(r.code, 0, portal.stderr())
  await withTimeout(closed, 5000, 'the client seeing the connection close')
})
