// A TCP half-close travels through a tunnel as a half-close (issue 11 item
// 1): app → fairway connect -L → portal → fairway host --expose → service.
// The side that calls shutdown(SHUT_WR) keeps reading, the other keeps
// writing, and every byte arrives before each socket closes.
//   echo:   the service echoes and ends when the app has ended
//   reply:  the service reads to EOF, then replies sha256 of what came
//   serve:  the service sends N bytes and ends first; the app, after its
//           EOF, replies the sha256 of what it got, which the service checks
'use strict'
const { test, before, after } = require('node:test')
const assert = require('node:assert')
const crypto = require('node:crypto')
const net = require('node:net')
const L = require('../tunnels/lib')

const SIZES = [0, 10, 1024, 65536, 1 << 20, 8 << 20]
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
let s, portal, host, conns = {}
const served = []   // what the 'serve' service heard back

function service (onConn) {
  const srv = net.createServer({ allowHalfOpen: true }, onConn)
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)))
}

function collect (sock, cb) {
  const parts = []
  sock.on('data', (d) => parts.push(d))
  sock.on('end', () => cb(Buffer.concat(parts)))
}

const servers = []
before(async () => {
  s = L.scratch('halfclose')
  const echo = await service((c) => { c.pipe(c) })   // pipe ends c after c's end
  const reply = await service((c) => collect(c, (b) => c.end(sha(b))))
  const serve = await service((c) => {
    let hdr = Buffer.alloc(0), want = -1, got = []
    c.on('data', (d) => {
      if (want < 0) {
        hdr = Buffer.concat([hdr, d])
        if (hdr.length < 8) return
        want = Number(hdr.readBigUInt64BE(0))
        const data = crypto.randomBytes(want)
        c.expected = sha(data)
        c.end(data)   // half-close: we keep reading the app's answer
        d = hdr.subarray(8)
      }
      got.push(d)
    })
    c.on('end', () => served.push({ ok: Buffer.concat(got).toString() === c.expected }))
  })
  servers.push(echo, reply, serve)
  portal = await L.fairwayPortal(s.dir)
  const hk = await L.keygen(s.dir, 'host')
  host = await L.fairwayHost(s.dir, portal, hk, {
    echo: echo.address().port, reply: reply.address().port, serve: serve.address().port
  })
  const ck = await L.keygen(s.dir, 'client')
  for (const svc of ['echo', 'reply', 'serve']) conns[svc] = await L.fairwayConnect(s.dir, host.addr, portal, ck, svc)
})

after(async () => {
  await L.killAll()
  for (const srv of servers) srv.close()
  s.cleanup()
})

// The app: connect, send data, shutdown(SHUT_WR), read to EOF.
function app (port, data) {
  return L.deadline(new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    c.on('error', reject)
    c.on('connect', () => c.end(data))
    collect(c, (b) => { c.destroy(); resolve(b) })
  }), 60000, `app on port ${port}`)
}

for (const n of SIZES) {
  test(`echo ${n} B: the app half-closes and gets every byte back`, async () => {
    const data = crypto.randomBytes(n)
    const back = await app(conns.echo.port, data)
    assert.strictEqual(back.length, n)
    assert.strictEqual(sha(back), sha(data))
  })
  test(`reply-after-EOF ${n} B: the service sees EOF, its reply reaches the app`, async () => {
    const data = crypto.randomBytes(n)
    const back = await app(conns.reply.port, data)
    assert.strictEqual(back.toString(), sha(data))
  })
  test(`service half-closes first after ${n} B: the app's answer after EOF reaches it`, async () => {
    const before = served.length
    const got = await L.deadline(new Promise((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port: conns.serve.port, allowHalfOpen: true })
      const h = Buffer.alloc(8); h.writeBigUInt64BE(BigInt(n))
      c.on('error', reject)
      c.on('connect', () => c.write(h))
      collect(c, (b) => { c.end(sha(b)); c.on('close', () => resolve(b)) })
    }), 60000, 'serve')
    assert.strictEqual(got.length, n)
    await L.until(() => served.length > before, 10000, 'the service saw the answer')
    assert.ok(served[served.length - 1].ok, 'the answer the service got matches what it sent')
  })
}

test('the portal and host still serve after the matrix', async () => {
  const data = crypto.randomBytes(4096)
  const back = await app(conns.echo.port, data)
  assert.strictEqual(sha(back), sha(data))
})
