// Faults mid-transfer (issue 11, reliability suite): kill -9 and SIGSTOP of
// each of client (fairway connect), host and portal while a half-closed
// 8 MiB echo round trip runs through the tunnel. Stopped processes resume
// and the transfer arrives whole; killed ones end the transfer on the other
// side (the app's socket closes, nothing hangs) and what arrived is a
// byte-exact prefix of what was sent; the portal stays alive and answers
// `fairway info`, and a second, unrelated tunnel keeps working. A killed
// portal ends the client's session with a clear message; restarted, the
// host finds it again by itself and new tunnels work.
'use strict'
const { test, before, after } = require('node:test')
const assert = require('node:assert')
const crypto = require('node:crypto')
const net = require('node:net')
const L = require('../tunnels/lib')

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
// A transfer a kill cut short must still be exact: what arrived is a
// byte-exact prefix of what was sent; one the kill did not cut is whole.
function exactOrPrefix (got, data) {
  assert.ok(got.length <= data.length, `${got.length} bytes back of ${data.length} sent`)
  assert.ok(data.subarray(0, got.length).equals(got), `the ${got.length} bytes back are a prefix of what was sent`)
  if (got.length === data.length) assert.strictEqual(sha(got), sha(data))
}
const SIZE = 8 << 20
let s, echo

before(async () => {
  s = L.scratch('faults')
  echo = net.createServer({ allowHalfOpen: true }, (c) => { c.pipe(c); c.on('error', () => {}) })
  await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve))
})
after(async () => { await L.killAll(); echo.close(); s.cleanup() })

let seq = 0
// A portal, and `pairs` host+client pairs each forwarding to the echo service.
// Each world has its own directory (the control socket sits beside the
// portal's secret).
async function world (pairs = 2) {
  const dir = require('node:path').join(s.dir, `w${++seq}`)
  require('node:fs').mkdirSync(dir)
  const portal = await L.fairwayPortal(dir, 'portal')
  const out = []
  for (let i = 0; i < pairs; i++) {
    const hk = await L.keygen(dir, `h${i}`)
    const host = await L.fairwayHost(dir, portal, hk, { echo: echo.address().port })
    const ck = await L.keygen(dir, `c${i}`)
    const conn = await L.fairwayConnect(dir, host.addr, portal, ck, 'echo')
    out.push({ host, conn })
  }
  return { dir, portal, pairs: out }
}

// Sends data, half-closes, reads to EOF. Resolves {data, error}.
function roundTrip (port, data, onProgress) {
  return new Promise((resolve) => {
    const parts = []
    let got = 0
    let error = null
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    c.on('error', (e) => { error = e.message })
    c.on('connect', () => c.end(data))
    c.on('data', (d) => { parts.push(d); got += d.length; if (onProgress) onProgress(got) })
    c.on('close', () => resolve({ data: Buffer.concat(parts), error }))
  })
}

async function witnessWorks (pair) {
  const data = crypto.randomBytes(65536)
  const r = await L.deadline(roundTrip(pair.conn.port, data), 20000, 'witness round trip')
  assert.strictEqual(sha(r.data), sha(data), 'the other tunnel still carries its bytes')
}

async function whenHalfway (promiseFactory) {
  let hit
  const half = new Promise((resolve) => { hit = resolve })
  const p = promiseFactory((got) => { if (got >= SIZE / 4) hit() })
  await L.deadline(half, 30000, 'a quarter of the transfer')
  return { done: p }   // not the promise itself: await would wait for it
}

for (const victim of ['conn', 'host', 'portal']) {
  test(`SIGSTOP of the ${victim} for 2 s mid-transfer: nothing lost`, async () => {
    const w = await world(1)
    const proc = victim === 'portal' ? w.portal.proc : w.pairs[0][victim].proc
    const data = crypto.randomBytes(SIZE)
    const t = await whenHalfway((prog) => roundTrip(w.pairs[0].conn.port, data, prog))
    process.kill(proc.pid, 'SIGSTOP')
    await L.sleep(2000)
    process.kill(proc.pid, 'SIGCONT')
    const r = await L.deadline(t.done, 60000, 'the transfer after SIGCONT')
    assert.strictEqual(r.data.length, SIZE)
    assert.strictEqual(sha(r.data), sha(data))
    await L.killAll()
  })
}

for (const victim of ['conn', 'host']) {
  test(`kill -9 of the ${victim} mid-transfer: the other end sees the end, the portal serves on`, async () => {
    const w = await world(2)
    const data = crypto.randomBytes(SIZE)
    const t = await whenHalfway((prog) => roundTrip(w.pairs[0].conn.port, data, prog))
    await w.pairs[0][victim].proc.kill('SIGKILL')
    const r = await L.deadline(t.done, 20000, 'the app socket closing')   // never hangs
    exactOrPrefix(r.data, data)
    assert.ok(w.portal.proc.alive(), 'the portal is alive')
    const info = await L.fairwayRun(w.dir, ['info', '--json', '--secret', `${w.dir}/portal.secret`])
    assert.strictEqual(info.code, 0, info.stderr)
    assert.ok(JSON.parse(info.stdout).ok)
    await witnessWorks(w.pairs[1])
    await L.killAll()
  })
}

test('kill -9 of the portal mid-transfer: the client keeps its listener and reconnects, the host re-announces to the restarted portal', async () => {
  const w = await world(1)
  const data = crypto.randomBytes(SIZE)
  const t = await whenHalfway((prog) => roundTrip(w.pairs[0].conn.port, data, prog))
  const hostErr = w.pairs[0].host.proc.err.length
  await w.portal.proc.kill('SIGKILL')
  const r = await L.deadline(t.done, 20000, 'the app socket closing')
  assert.ok(r.data.length < SIZE, 'the transfer was cut')
  exactOrPrefix(r.data, data)
  // The client's session is gone, but fairway connect keeps its -L
  // listener and reopens the tunnel once the portal is back (--once exits).
  const conn = w.pairs[0].conn.proc
  await L.sleep(500)
  assert.ok(conn.alive(), 'fairway connect keeps its listener: ' + conn.err)
  assert.ok(w.pairs[0].host.proc.alive(), 'the host stays up to reconnect')
  // The same portal (secret, port) again: the host finds it by itself.
  const portal = new L.Proc('fairway portal', L.FAIRWAY, ['portal', '--listen', `127.0.0.1:${w.portal.port}`,
    '--secret', `${w.dir}/portal.secret`, '--caps', L.CAPS], { HOME: w.dir, FAIRWAY_HOME: `${w.dir}/.fairway` })
  await portal.waitLine((l) => l.startsWith('net:'), 10000, 'address line')
  const host = w.pairs[0].host.proc
  await L.until(() => host.err.slice(hostErr).includes('announced at'), 20000, 'the host announcing itself again')
  const ck = await L.keygen(w.dir, 'c-again')
  const conn2 = await L.fairwayConnect(w.dir, w.pairs[0].host.addr, { addr: w.portal.addr }, ck, 'echo')
  await witnessWorks({ conn: conn2 })
  // the first client, through its old listener, reconnected by itself
  for (let i = 0; ; i++) {
    try { await witnessWorks(w.pairs[0]); break } catch (e) {
      if (i >= 20) throw new Error('the kept connect listener never worked again: ' + e.message + '\n' + conn.err)
      await L.sleep(500)
    }
  }
  await L.killAll()
})
