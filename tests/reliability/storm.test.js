// Storms (issue 11 items 2–4): a reconnect storm, a flood of SHS msg1s
// that never go on, and drip-fed handshakes, each from 20 local addresses
// (127.0.0.2 …) for a few seconds, driven by build/storm. During each, a
// legitimate client from another address (127.0.0.1) completes its
// handshake and a 20-ping run, an established tunnel carries its bytes,
// the control socket answers, and the portal's memory stays small; after
// it, the memory is given back and the log holds a summary, not a line per
// refused connection.
'use strict'
const { test, before, after } = require('node:test')
const assert = require('node:assert')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { execFile } = require('node:child_process')
const L = require('../tunnels/lib')

const STORM = path.join(path.dirname(process.env.FAIRWAY_BIN), 'storm')
const SECONDS = 6
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
let s, echo

before(async () => {
  s = L.scratch('storm')
  echo = net.createServer({ allowHalfOpen: true }, (c) => { c.pipe(c); c.on('error', () => {}) })
  await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve))
})
after(async () => { await L.killAll(); echo.close(); s.cleanup() })

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1])

// One request on the control socket; resolves its round trip in ms.
function ctlMs (dir) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const c = net.connect(path.join(dir, 'portal.sock'))
    let got = ''
    c.setTimeout(10000, () => { c.destroy(); reject(new Error('the control socket did not answer in 10 s')) })
    c.on('error', reject)
    c.on('connect', () => c.write('{"cmd":"info"}\n'))
    c.on('data', (d) => {
      got += d
      if (got.endsWith('\n')) {
        c.end()
        assert.ok(JSON.parse(got).ok)
        resolve(Number(process.hrtime.bigint() - t0) / 1e6)
      }
    })
  })
}

function roundTrip (port, data) {
  return new Promise((resolve) => {
    const parts = []
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    c.on('error', () => {})
    c.on('connect', () => c.end(data))
    c.on('data', (d) => parts.push(d))
    c.on('close', () => resolve(Buffer.concat(parts)))
  })
}

function storm (port, mode, sockets) {
  const hex = Buffer.from(L.CAPS, 'base64').toString('hex')
  return new Promise((resolve, reject) => {
    execFile(STORM, ['-p', String(port), '-n', String(sockets), '-s', '20', '-t', String(SECONDS),
      '-m', mode, '-k', hex], { timeout: (SECONDS + 20) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`storm: ${err.message}\n${stderr}`))
      else resolve(JSON.parse(stdout))
    })
  })
}

async function ping (w) {
  const r = await L.fairwayRun(w.dir, ['ping', w.host.addr, '--portal', w.portal.addr,
    '--secret', w.ck.secret, '--caps', L.CAPS, '-c', '20', '-i', '50'], 30000)
  assert.strictEqual(r.code, 0, `a legitimate ping during the storm failed:\n${r.stderr}`)
  assert.match(r.stdout, /20 sent, 20 received/)
  return Number(/rtt min\/median\/p99\/max\/avg = [\d.]+\/[\d.]+\/([\d.]+)/.exec(r.stdout)[1])
}

let seq = 0
async function world (extra = []) {
  const dir = path.join(s.dir, `w${++seq}`)
  fs.mkdirSync(dir)
  const portal = await L.fairwayPortal(dir, 'portal', extra)
  const hk = await L.keygen(dir, 'h')
  const host = await L.fairwayHost(dir, portal, hk, { echo: echo.address().port })
  const ck = await L.keygen(dir, 'c')
  const conn = await L.fairwayConnect(dir, host.addr, portal, ck, 'echo')
  return { dir, portal, host, ck, conn }
}

// The last: every handshake slot would be taken (20 addresses × 4 per
// address > 40 slots), so slots are won by eviction of the busiest
// address's oldest; a newcomer from elsewhere still gets one.
for (const [mode, sockets, extra] of [['connect', 1000, []], ['msg1', 600, []], ['drip', 600, []], ['garbage', 600, []],
  ['msg1', 200, ['--max-pending-handshakes', '40']]]) {
  test(`${mode} storm, ${sockets} sockets from 20 addresses${extra.length ? ', 40 handshake slots' : ''}: others get in, memory stays and comes back`, async () => {
    const w = await world(extra)
    const pid = w.portal.proc.pid
    await L.sleep(300)
    const idleRss = rssKb(pid)
    const idleP99 = await ping(w)
    const logBefore = w.portal.proc.err.split('\n').length

    const running = storm(w.portal.port, mode, sockets)
    await L.sleep(1500)
    const during = { ctl: [], rss: 0 }
    for (let i = 0; i < 5; i++) {
      during.ctl.push(await ctlMs(w.dir))
      await L.sleep(100)
    }
    const p99 = await ping(w)
    const data = crypto.randomBytes(256 << 10)
    const back = await L.deadline(roundTrip(w.conn.port, data), 20000, 'the tunnel round trip during the storm')
    assert.strictEqual(sha(back), sha(data), 'the established tunnel carries its bytes during the storm')
    during.rss = rssKb(pid)
    const result = await running
    await L.sleep(3000)
    const afterRss = rssKb(pid)
    const logLines = w.portal.proc.err.split('\n').length - logBefore
    const report = { mode, ...result, idleRss, rss: during.rss, afterRss, ctlMs: during.ctl.map((x) => x.toFixed(1)), idleP99, p99, logLines }
    console.log('# ' + JSON.stringify(report))

    assert.ok(result.connects > sockets, `the storm ran (${result.connects} connections)`)
    assert.ok(w.portal.proc.alive(), 'the portal is alive')
    // Before the fix: 8 s for the first answer, RSS 4 → 136 MB, a log line per connection.
    assert.ok(Math.max(...during.ctl) < 500, `control socket answered in ${during.ctl} ms`)
    assert.ok(during.rss < idleRss + 32 * 1024, `RSS during the storm ${during.rss} kB (idle ${idleRss} kB)`)
    assert.ok(afterRss < 2 * idleRss, `RSS after the storm ${afterRss} kB (idle ${idleRss} kB)`)
    assert.ok(logLines < 20 * 5 + 200, `${logLines} log lines for ${result.connects} connections`)
    const info = JSON.parse((await L.fairwayRun(w.dir, ['info', '--json', '--secret', `${w.dir}/portal.secret`])).stdout)
    if (extra.length) assert.ok(info.counters.evicted_handshakes > 0, 'slots were won by eviction')
    const k = info.counters
    // Garbage fails its first message and is closed at once: nothing to refuse.
    if (mode !== 'garbage') assert.ok(k.refused_pending_per_ip + k.refused_conns_per_ip + k.refused_pending > 0, `the storm was refused: ${JSON.stringify(k)}`)
    await L.killAll()
  })
}
