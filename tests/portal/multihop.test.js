// Multi-hop (issue 3, item 6): portal B has no reachable address of its own
// to the caller; it announces itself at portal A (`fairway portal --via`).
// A caller reaches B through A, and asks B for a tunnel to a host D
// attending B: that connect arrived over a tunneled connection, so B
// refuses it unless its policy allows multi-hop tunnels.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const L = require('./lib')

let s
before(() => { s = L.scratch('multihop', ['a', 'b', 'b2', 'd', 'caller']) })
after(() => {
  L.killAll()
  s.cleanup()
})

// Starts portal B behind A; resolves with its net address and the tunnel
// address it prints second, once announced.
async function portalVia (secret, aAddr, extra = []) {
  const b = L.spawnFairway(s, ['portal', '--listen', '127.0.0.1:0', '--secret', secret,
    '--caps', L.CAPS, '--via', aAddr, ...extra])
  b.addr = await b.line
  await L.waitFor(() => b.stdout().split('\n').length >= 3, 8000, 'B announcing itself at A')
  b.tunnel = b.stdout().split('\n')[1]
  assert.match(b.tunnel, /^tunnel:@.{44}\.ed25519:@.{44}\.ed25519~shs:.{44}$/)
  return b
}

async function tryMultiHop (b, secret) {
  const d = await L.startHost(s, { addr: b.addr }, s.ids.d.secret)
  const r = await L.fw(s, ['call', `${b.aAddr};${b.tunnel}`, 'tunnel.connect',
    JSON.stringify([{ target: s.ids.d.id }]), '--duplex', '--secret', s.ids.caller.secret,
    '--caps', L.CAPS, '--timeout', '1500'], 10000)
  const counters = (await L.info(s, { secret })).counters
  await d.stop()
  return { r, counters }
}

test('B is reachable through A: a call through the tunnel answers', { timeout: 30000 }, async () => {
  const a = await L.portal(s, s.ids.a.secret)
  const b = await portalVia(s.ids.b.secret, a.addr)
  const r = await L.call(s, `${a.addr};${b.tunnel}`, 'whoami', { secret: s.ids.caller.secret })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).id, s.ids.b.id)
  await b.stop()
  await a.stop()
})

test('a connect that came through a tunnel is refused by default', { timeout: 30000 }, async () => {
  const a = await L.portal(s, s.ids.a.secret)
  const b = await portalVia(s.ids.b.secret, a.addr)
  b.aAddr = a.addr
  const { r, counters } = await tryMultiHop(b, s.ids.b.secret)
  assert.equal(r.code, 1)
  assert.match(r.stderr, /could not connect to:@.* \(multi-hop tunnels are not allowed here\)/)
  assert.equal(counters.refused_multihop, 1)
  assert.equal(counters.tunnels_opened, 0)
  assert.match(b.stderr(), /refused: could not connect to:.*multi-hop/)
  await b.stop()
  await a.stop()
})

test('--allow-multihop lets it through', { timeout: 30000 }, async () => {
  const a = await L.portal(s, s.ids.a.secret)
  const b = await portalVia(s.ids.b2.secret, a.addr, ['--allow-multihop'])
  b.aAddr = a.addr
  const { counters } = await tryMultiHop(b, s.ids.b2.secret)
  // The tunnel opens; the caller sends no inner handshake, so the call
  // itself only ends by its timeout: what counts is B's decision.
  assert.equal(counters.refused_multihop, 0)
  assert.equal(counters.tunnels_opened, 1)
  await b.stop()
  await a.stop()
})
