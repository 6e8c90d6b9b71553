// Admission limits and timeouts: TCP connections per address (closed at
// once, before any handshake), connections still in the handshake, idle
// connections (swept once a second) and the handshake timeout. Each
// refusal is counted (fairway info) and logged once.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const L = require('./lib')

let s
before(() => { s = L.scratch('limits', ['room']) })
after(async () => {
  try { await L.closeAll() } finally { L.killAll(); s.cleanup() }
})

const info = () => L.info(s, { secret: s.ids.room.secret })
const esc = (t) => t.replace(/[+/.[\]()]/g, '\\$&')

// A valid client hello (msg1) for the test network: HMAC(N, eph) || eph.
function hello () {
  const eph = crypto.randomBytes(32)
  const mac = crypto.createHmac('sha512', Buffer.from(L.CAPS, 'base64')).update(eph).digest().subarray(0, 32)
  return Buffer.concat([mac, eph])
}

async function withPortal (args, fn) {
  const p = await L.portal(s, s.ids.room.secret, args)
  const raws = []
  try {
    await fn(p, async () => { const r = await L.rawConn(p.port); raws.push(r); return r })
  } finally {
    for (const r of raws) r.sock.destroy()
    await L.closeAll()
    const r = await p.stop()
    assert.equal(r.code, 0, p.stderr())
  }
}

test('--max-conns-per-ip: the extra connection is closed at once, before any handshake', { timeout: 20000 }, async () => {
  await withPortal(['--max-conns-per-ip', '2', '--max-pending-handshakes', '0', '--handshake-timeout', '8000'], async (p, raw) => {
    const a = await raw()
    const b = await raw()
    await L.waitFor(async () => (await info()).handshaking === 2, 3000, 'two connections in the handshake')
    const got = await L.withTimeout(L.refusedConn(p.port), 1000, 'the third connection being closed at once')
    assert.equal(got.data.length, 0, 'not even a server hello')
    assert.ok(got.reset, 'refused with a reset, before anything is allocated for it')
    await L.assertLogLines(p, /connection 127\.0\.0\.1:\d+ closed: too many connections from this address$/, 1)
    // A real client is refused the same way while two are held, and says so.
    const r = await L.call(s, p.addr, 'whoami')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /server refused the connection \(reset during the handshake\): it is busy, or at its limit for our address/)
    const i = await info()
    assert.equal(i.counters.refused_conns_per_ip, 2)
    assert.equal(i.counters.refused_pending, 0)
    await L.assertLogLines(p, /closed: too many connections from this address$/, 2)
    // The first two were not disturbed; once one goes, there is room again.
    assert.equal(a.sock.destroyed || b.sock.destroyed, false)
    a.sock.destroy()
    await L.waitFor(async () => (await info()).connections === 1, 3000, 'one connection left')
    const ok = await L.call(s, p.addr, 'whoami')
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal((await info()).counters.refused_conns_per_ip, 2)
  })
})

test('--max-pending-handshakes: counts only connections still in the handshake', { timeout: 20000 }, async () => {
  await withPortal(['--max-pending-handshakes', '2', '--max-conns-per-ip', '0', '--handshake-timeout', '8000'], async (p, raw) => {
    // An authenticated connection does not count.
    const js = await L.jsConnect(s, p.addr)
    const a = await raw()
    const b = await raw()
    b.sock.write(hello())   // half-way through the handshake still counts
    await L.waitFor(async () => (await info()).handshaking === 2, 3000, 'two in the handshake')
    const got = await L.withTimeout(L.refusedConn(p.port), 1000, 'the third handshake being refused at once')
    assert.equal(got.data.length, 0)
    assert.ok(got.reset)
    await L.assertLogLines(p, /connection 127\.0\.0\.1:\d+ closed: too many handshakes in progress$/, 1)
    const i = await info()
    assert.equal(i.counters.refused_pending, 1)
    assert.equal(i.counters.refused_conns_per_ip, 0)
    assert.equal((await L.rpcCall((cb) => js.rpc.whoami(cb))).id, s.ids.room.id, 'the open connection carries on')
    a.sock.destroy()
    await L.waitFor(async () => (await info()).handshaking === 1, 3000, 'one handshake left')
    const ok = await L.call(s, p.addr, 'whoami')
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal((await info()).counters.refused_pending, 1)
  })
})

// --pending-per-ip (and the policy key pending-per-ip): the address's next
// handshake is reset at accept while it holds N, however many global slots
// are free; others' slots are not touched.
async function pendingPerIp (args, n) {
  await withPortal([...args, '--max-pending-handshakes', '100', '--max-conns-per-ip', '0', '--handshake-timeout', '8000'], async (p, raw) => {
    const held = []
    for (let i = 0; i < n; i++) held.push(await raw())
    held[0].sock.write(hello())   // half-way through still counts
    await L.waitFor(async () => (await info()).handshaking === n, 3000, `${n} in the handshake`)
    const got = await L.withTimeout(L.refusedConn(p.port), 1000, 'the next handshake being refused at once')
    assert.equal(got.data.length, 0, 'not even a server hello')
    assert.ok(got.reset)
    await L.assertLogLines(p, /connection 127\.0\.0\.1:\d+ closed: too many handshakes from this address$/, 1)
    let i = await info()
    assert.equal(i.counters.refused_pending_per_ip, 1)
    assert.equal(i.counters.refused_pending, 0, 'the global limit was not the reason')
    assert.equal(i.handshaking, n, 'the held handshakes were not evicted')
    held[0].sock.destroy()
    await L.waitFor(async () => (await info()).handshaking === n - 1, 3000, 'one handshake fewer')
    const ok = await L.call(s, p.addr, 'whoami')
    assert.equal(ok.code, 0, ok.stderr)
    i = await info()
    assert.equal(i.counters.refused_pending_per_ip, 1)
  })
}

test('--pending-per-ip: one address holds at most N handshakes', { timeout: 20000 }, async () => {
  await pendingPerIp(['--pending-per-ip', '3'], 3)
})

test('policy key pending-per-ip, and --pending-per-ip over it', { timeout: 30000 }, async () => {
  const file = L.policyFile(s, 'pending.ini', '[portal]\npending-per-ip = 2\n')
  await pendingPerIp(['-c', file], 2)
  await pendingPerIp(['-c', file, '--pending-per-ip', '4'], 4)
  const bad = L.policyFile(s, 'pending-bad.ini', '[portal]\npending-per-ip = many\n')
  const r = await L.fw(s, ['portal', '-c', bad, '--listen', '127.0.0.1:0', '--ctl', 'none',
    '--secret', s.ids.room.secret, '--caps', L.CAPS], 5000)
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /pending-per-ip: expected a count \(0 = max-pending-handshakes \/ 32, at least 4\), got "many"/)
  const c = await L.fw(s, ['portal', '--pending-per-ip', '-1', '--listen', '127.0.0.1:0', '--ctl', 'none',
    '--secret', s.ids.room.secret, '--caps', L.CAPS], 5000)
  assert.equal(c.code, 2, c.stderr)
  assert.match(c.stderr, /--pending-per-ip/)
})

test('--idle-timeout: a silent connection is closed, a busy one is not', { timeout: 20000 }, async () => {
  await withPortal(['--idle-timeout', '1500', '--handshake-timeout', '10000'], async (p, raw) => {
    const quiet = await L.jsConnect(s, p.addr)
    const busy = await L.jsConnect(s, p.addr)
    const t0 = Date.now()
    // A connection still in the handshake is the handshake timeout's job.
    const hs = await raw()
    let stop = false
    const pinger = (async () => {
      while (!stop) {
        await L.rpcCall((cb) => busy.rpc.room.ping(cb))
        await L.sleep(300)
      }
    })()
    const at = await L.withTimeout(quiet.closed, 4000, 'the quiet connection being closed')
    assert.ok(at - t0 >= 1400 && at - t0 <= 3300, `closed after ${at - t0} ms (timeout 1500, sweep every 1000)`)
    await L.sleep(1200)
    stop = true
    await pinger
    assert.equal(busy.rpc.closed, false, 'the busy connection is still open')
    assert.equal(hs.sock.destroyed, false, 'the handshaking connection is not swept as idle')
    const i = await info()
    assert.equal(i.counters.closed_idle, 1)
    assert.equal(i.connections, 2)
    await L.assertLogLines(p, new RegExp(`${esc(quiet.id)} closed: idle timeout$`), 1)
    await L.assertLogLines(p, /closed: idle timeout$/, 1)
  })
})

test('--handshake-timeout: a stalled handshake is closed on time, with one log line', { timeout: 20000 }, async () => {
  await withPortal(['--handshake-timeout', '1000'], async (p, raw) => {
    const silent = await raw()
    const half = await raw()
    half.sock.write(hello())
    const js = await L.jsConnect(s, p.addr)
    const [a, b] = await Promise.all([
      L.withTimeout(silent.closed, 4000, 'silent closed'),
      L.withTimeout(half.closed, 4000, 'half closed')
    ])
    for (const [c, what] of [[a, 'silent'], [b, 'after msg2']]) {
      assert.ok(c.ms >= 900 && c.ms <= 2500, `${what}: closed after ${c.ms} ms`)
    }
    assert.equal(a.data.length, 0)
    assert.equal(b.data.length, 64, 'the server hello came back, then the close')
    for (const c of [silent, half]) {
      await L.assertLogLines(p, new RegExp(`connection 127\\.0\\.0\\.1:${c.localPort} closed: handshake timed out after 1000 ms$`), 1)
    }
    // Authenticated connections are past the handshake timer.
    await L.sleep(500)
    assert.equal((await L.rpcCall((cb) => js.rpc.whoami(cb))).id, s.ids.room.id)
    assert.equal((await info()).handshaking, 0)
  })
})
