// Byte-level checks of the fairway portal's muxrpc, over a real
// secret-handshake 1.1.21 connection (SHS + box-stream by the JS code):
// the exact packets that come back for the requests JS peers send, and for
// the malformed ones they never should (protocol.md §5; issue 2, "Bad input").
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const path = require('node:path')
const ssbKeys = require('ssb-keys')
const { startPortal, tmpDir, withTimeout, killAll, TEST_CAPS, MAIN_CAPS } = require('./helpers')
const { connectRaw, encodePacket, json, GOODBYE } = require('./wire')

// Flag bytes (protocol.md §5.1).
const F = { ASYNC_JSON: 0x02, ASYNC_ERR: 0x06, STREAM_JSON: 0x0a, STREAM_END: 0x0e }
const WHOAMI = { flags: F.ASYNC_JSON, req: 1, body: '{"name":["whoami"],"args":[]}' }

let scratch, portal, portalKeys

before(async () => {
  scratch = tmpDir('wire')
  const secret = path.join(scratch.dir, 'portal-secret')
  portalKeys = ssbKeys.createSync(secret)
  portal = await startPortal({ home: scratch.dir, secret, caps: TEST_CAPS })
})

after(async () => {
  try {
    if (portal) await portal.stop()
    if (portal && process.env.FAIRWAY_INTEROP_VERBOSE) console.error(portal.stderr())
  } finally {
    killAll()
    scratch.cleanup()
  }
})

const open = () => withTimeout(connectRaw(portal.port, portal.key, TEST_CAPS), 8000, 'SHS with the portal')

// Sends a whoami with request number req and checks the exact answer:
// the connection still works.
async function assertWhoami (c, req) {
  c.send(encodePacket({ ...WHOAMI, req }))
  const p = await c.packet()
  assert.equal(p.flags, F.ASYNC_JSON)
  assert.equal(p.req, -req)
  assert.deepEqual(json(p), { id: portalKeys.id })
}

// Waits up to ms and asserts that nothing more arrives.
async function assertQuiet (c, ms = 300) {
  await assert.rejects(c.packet(ms), /no packet within/)
}

// One log line names the connection and says why it was closed.
async function assertClosedLog (localPort, re) {
  const tag = `127.0.0.1:${localPort} `
  const lines = () => portal.stderr().split('\n').filter((l) => l.includes(tag) && /closed/.test(l))
  for (let i = 0; i < 50 && lines().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const l = lines()
  assert.equal(l.length, 1, `one log line for ${tag}: ${JSON.stringify(l)}`)
  assert.match(l[0], re)
}

async function assertPortalServes () {
  const c = await open()
  await assertWhoami(c, 1)
  c.destroy()
}

test('an async request as JS sends it gets one JSON reply on -req', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ ...WHOAMI, req: 7 }))
  const p = await c.packet()
  assert.equal(p.flags, 0x02, 'async success with a JSON body: 0x02')
  assert.equal(p.req, -7)
  assert.equal(p.len, p.body.length)
  assert.deepEqual(json(p), { id: portalKeys.id })
  await assertQuiet(c)
  c.destroy()
})

test('go-style requests ("type":"async"/"sync", trailing newline) are answered', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: 0x02, req: 1, body: '{"name":["whoami"],"type":"async","args":[]}\n' }))
  c.send(encodePacket({ flags: 0x02, req: 2, body: '{"name":["whoami"],"args":[],"type":"sync"}' }))
  const got = [await c.packet(), await c.packet()].sort((a, b) => b.req - a.req)
  assert.deepEqual(got.map((p) => [p.flags, p.req]), [[0x02, -1], [0x02, -2]])
  got.forEach((p) => assert.deepEqual(json(p), { id: portalKeys.id }))
  c.destroy()
})

test('goodbye is answered with goodbye, then the box-stream ends cleanly', { timeout: 15000 }, async () => {
  const c = await open()
  await assertWhoami(c, 1)
  c.send(GOODBYE)
  const p = await c.packet()
  assert.ok(p.goodbye, `nine zero bytes back, got ${JSON.stringify(p)}`)
  const end = await withTimeout(c.closed, 5000, 'box-stream end')
  assert.equal(end.err, null, 'the portal sent the box-stream goodbye (not a bare TCP close)')
})

test('source: items, and END answered with exactly one END', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: '{"name":["room","attendants"],"args":[],"type":"source"}' }))
  const state = await c.packet()
  assert.equal(state.flags, F.STREAM_JSON)
  assert.equal(state.req, -1)
  assert.equal(json(state).type, 'state')
  assert.ok(json(state).ids.includes(c.id))
  c.send(encodePacket({ flags: F.STREAM_END, req: 1, body: 'true' }))
  const end = await c.packet()
  assert.deepEqual([end.flags, end.req, json(end)], [F.STREAM_END, -1, true])
  await assertQuiet(c)   // never a second END (muxrpc #49)
  await assertWhoami(c, 2)
  c.destroy()
})

test('duplex gossip.ping: a timestamp in, a timestamp out, END for END', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: '{"name":["gossip","ping"],"args":[{"timeout":300000}],"type":"duplex"}' }))
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: String(Date.now()) }))
  const p = await c.packet()
  assert.equal(p.flags, F.STREAM_JSON)
  assert.equal(p.req, -1)
  const t = json(p)
  assert.equal(typeof t, 'number')
  assert.ok(Math.abs(t - Date.now()) < 10000, `plausible Date.now(): ${t}`)
  c.send(encodePacket({ flags: F.STREAM_END, req: 1, body: 'true' }))
  const end = await c.packet()
  assert.deepEqual([end.flags, end.req], [F.STREAM_END, -1])
  await assertQuiet(c)
  c.destroy()
})

// pull-ping turn taking (protocol.md §5.7), timeout 1000 ms (fairway's
// minimum): a side that answers a ping pings back `timeout` ms later; a
// side whose ping was answered waits for the other side's turn.
const PING_T = 1000
const PING_OPEN = { flags: F.STREAM_JSON, req: 1, body: `{"name":["gossip","ping"],"args":[{"timeout":${PING_T}}],"type":"duplex"}` }

test('gossip.ping: the portal takes its turn `timeout` ms after answering', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket(PING_OPEN))
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: String(Date.now()) }))
  await c.packet()                       // its answer
  const t0 = Date.now()
  const p = await c.packet(PING_T * 3)   // its own ping
  const dt = Date.now() - t0
  assert.equal(p.flags, F.STREAM_JSON)
  assert.equal(typeof json(p), 'number')
  assert.ok(dt > PING_T * 0.8 && dt < PING_T * 1.6, `its ping came ${dt} ms after its answer`)
  c.destroy()
})

test('gossip.ping: once its own ping is answered, the portal waits for our turn', {
  timeout: 15000
}, async () => {
  const c = await open()
  c.send(encodePacket(PING_OPEN))
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: String(Date.now()) }))
  await c.packet()                       // its answer
  await c.packet(PING_T * 3)             // its own ping...
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: String(Date.now()) }))   // ...answered
  // Our turn now (pull-ping pings `timeout` ms after answering). A portal
  // that pings again at the same moment crosses our ping on the wire, and
  // each side takes the other's ping for its answer.
  await assertQuiet(c, PING_T * 1.5)
  c.destroy()
})

test('unknown async method: 0x06 error with the JS wording', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: 0x02, req: 1, body: '{"name":["room","nope"],"args":[]}' }))
  const p = await c.packet()
  assert.equal(p.flags, F.ASYNC_ERR)
  assert.equal(p.req, -1)
  const e = json(p)
  assert.equal(e.name, 'Error')
  assert.equal(e.message, 'method:room,nope is not in list of allowed methods')
  assert.equal(typeof e.stack, 'string')
  await assertWhoami(c, 2)
  c.destroy()
})

test('unknown stream method: STREAM|END error, later items for it ignored', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: '{"name":["x","y"],"args":[],"type":"duplex"}' }))
  const p = await c.packet()
  assert.equal(p.flags, F.STREAM_END)
  assert.equal(p.req, -1)
  assert.equal(json(p).message, 'method:x,y is not in list of allowed methods')
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 1, body: '"more"' }))
  c.send(encodePacket({ flags: F.STREAM_END, req: 1, body: 'true' }))
  await assertQuiet(c)
  await assertWhoami(c, 2)
  c.destroy()
})

test('args not an array, or a bad stream type: JS error messages', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: 0x02, req: 1, body: '{"name":["whoami"],"args":{}}' }))
  const a = await c.packet()
  assert.deepEqual([a.flags, a.req], [F.ASYNC_ERR, -1])
  assert.match(json(a).message, /^invalid request, args should be array/)
  c.send(encodePacket({ flags: F.STREAM_JSON, req: 2, body: '{"name":["room","attendants"],"args":[],"type":"banana"}' }))
  const b = await c.packet()
  assert.deepEqual([b.flags, b.req], [F.STREAM_END, -2])
  assert.equal(json(b).message, 'unsupported stream type: banana')
  await assertWhoami(c, 3)
  c.destroy()
})

test('an END or reply for a request nobody made is ignored', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: F.STREAM_END, req: -77, body: 'true' }))
  c.send(encodePacket({ flags: 0x02, req: -78, body: '{"x":1}' }))
  await assertQuiet(c)
  await assertWhoami(c, 1)
  c.destroy()
})

test('body type 3: that connection is closed with a log line', { timeout: 15000 }, async () => {
  const c = await open()
  c.send(encodePacket({ flags: 0x03, req: 1, body: '{}' }))
  await withTimeout(c.closed, 5000, 'close after type 3')
  await assertClosedLog(c.localPort, /type 3/)
  await assertPortalServes()
})

test('a 2 GB length in a packet header: closed at once, no allocation, a log line', { timeout: 15000 }, async () => {
  const c = await open()
  const h = Buffer.alloc(9)
  h.writeUInt8(0x02, 0)
  h.writeUInt32BE(0x7fffffff, 1)
  h.writeInt32BE(1, 5)
  c.send(Buffer.concat([h, Buffer.from('{"name":')]))
  await withTimeout(c.closed, 5000, 'close after an oversized header')
  await assertClosedLog(c.localPort, /limit|large|long/i)
  await assertPortalServes()
})

test('a corrupt box-stream frame after the handshake: closed with a log line', { timeout: 15000 }, async () => {
  const c = await open()
  await assertWhoami(c, 1)
  // Straight onto the socket, past the box-stream encoder: the header
  // MAC cannot verify.
  c.sock.write(crypto.randomBytes(34 + 16))
  await withTimeout(c.closed, 5000, 'close after a bad MAC')
  await assertClosedLog(c.localPort, /mac|auth|decrypt|box/i)
  await assertPortalServes()
})

// The refused handshakes, from the real secret-handshake client, so the
// portal's log line can be matched to this connection's port.
async function refusedHandshake (serverKey, caps) {
  let localPort
  await assert.rejects(withTimeout(connectRaw(portal.port, serverKey, caps), 8000, 'refused SHS'),
    (err) => {
      assert.doesNotMatch(err.message, /no answer within/)
      localPort = err.localPort
      return true
    })
  assert.ok(localPort > 0)
  return localPort
}

test('wrong network key: refused, one log line saying why', { timeout: 15000 }, async () => {
  const port = await refusedHandshake(portal.key, MAIN_CAPS)
  await assertClosedLog(port, /hello|msg1|network key/i)
  await assertPortalServes()
})

test('a client that dialled another key: refused, one log line saying why', { timeout: 15000 }, async () => {
  const other = ssbKeys.generate().public.replace('.ed25519', '')
  const port = await refusedHandshake(other, TEST_CAPS)
  await assertClosedLog(port, /auth|msg3|key|invalid/i)
  await assertPortalServes()
})

// Issue 2 "Bad input": malformed JSON closes that connection with one log
// line. JS does the same: packet-stream-codec's JSON.parse throws and the
// whole stream ends.
test('a request whose JSON body does not parse: closed with a log line', {
  timeout: 15000
}, async () => {
  const c = await open()
  c.send(encodePacket({ flags: 0x02, req: 1, body: '{"name":' }))
  await withTimeout(c.closed, 3000, 'close after malformed JSON')
  await assertClosedLog(c.localPort, /./)
  assert.match(portal.stderr(), /json/i, 'the log says the JSON was bad')
  await assertPortalServes()
})
