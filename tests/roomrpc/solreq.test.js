// Client-initiated sign-in, the portal's half (portal_request_solution,
// portal.h): a stand-in for the web side (solreq_portal, built beside
// fairway) asks a member's REAL ssb-http-auth-client 1.1.1 for
// httpAuth.requestSolution(sc, cc) with the cc that client's
// produceSignInWebUrl made, and checks the answer's signature. Also: an
// unknown cc, a non-member, an offline member, a cancelled request.
'use strict'

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const fs = require('node:fs')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { createRequire } = require('node:module')
const H = require('../interop/helpers')

const req = createRequire(path.join(__dirname, 'package.json'))
const SecretStack = req('secret-stack')
const ssbKeys = req('ssb-keys')
const CAPS = H.TEST_CAPS
const t = H.tmpDir('solreq')
const nodes = []
let child = null
after(async () => {
  for (const n of nodes) await H.withTimeout(H.cbPromise((cb) => n.close(true, cb)), 3000, 'close').catch(() => {})
  if (child) child.kill('SIGKILL')
  H.killAll()
  t.cleanup()
})

function keyFile (name) {
  const f = path.join(t.dir, name, 'secret')
  fs.mkdirSync(path.dirname(f), { recursive: true })
  return { file: f, keys: ssbKeys.createSync(f) }
}

function peer (who) {
  const node = SecretStack({ caps: { shs: CAPS } })
    .use(req('ssb-conn'))
    .use(req('ssb-room-client'))
    .use(req('ssb-http-auth-client'))({
      keys: who.keys,
      path: fs.mkdtempSync(path.join(t.dir, 'sbot-')),
      timers: { inactivity: -1, handshake: 8000 },
      conn: { autostart: false, populatePubs: false },
      connections: { incoming: {}, outgoing: { net: [{ transform: 'shs' }] } }
    })
  nodes.push(node)
  return node
}

test('portal_request_solution against ssb-http-auth-client 1.1.1', { timeout: 60000 }, async () => {
  const room = keyFile('room')
  const alice = keyFile('alice')
  const bob = keyFile('bob')
  const stranger = keyFile('stranger')
  const db = path.join(t.dir, 'room.db')
  for (const who of [alice, bob]) {
    const r = await H.runFairway(['member', 'add', who.keys.id, '--db', db, '--ctl', path.join(t.dir, 'none.sock')], { home: t.dir })
    assert.equal(r.code, 0, r.stderr)
  }
  const bin = path.join(path.dirname(H.FAIRWAY), 'solreq_portal')
  child = spawn(bin, [room.file, db, CAPS], { stdio: ['pipe', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  const lines = []
  let waiter = null
  let buf = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i))
      buf = buf.slice(i + 1)
      if (waiter) { const w = waiter; waiter = null; w() }
    }
  })
  const next = (ms = 70000) => H.withTimeout(new Promise((resolve) => {
    const take = () => resolve(lines.shift())
    if (lines.length) take(); else waiter = take
  }), ms, 'a line from solreq_portal\n' + err)
  const addr = await next(10000)
  assert.match(addr, /^net:127\.0\.0\.1:\d+~shs:/)
  const ask = async (cid, cc, extra = '') => {
    child.stdin.write(`${cid} ${cc}${extra}\n`)
    return JSON.parse(await next())
  }

  const a = peer(alice)
  await H.withTimeout(H.cbPromise((cb) => a.conn.connect(addr, cb)), 10000, 'connect')
  const url = await H.cbPromise((cb) => a.httpAuthClient.produceSignInWebUrl(room.keys.id, cb))
  const u = new URL(url)
  assert.equal(u.pathname, '/login')
  const cid = u.searchParams.get('cid')
  const cc = u.searchParams.get('cc')
  assert.equal(cid, alice.keys.id)

  const ok = await ask(cid, cc)
  assert.equal(ok.rc, 0, ok.text)
  assert.equal(ssbKeys.verify(alice.keys.id, ok.text, `=http-auth-sign-in:${room.keys.id}:${cid}:${ok.sc}:${cc}`), true)
  assert.equal(ok.sc.length, 44)

  // a cc the client never made: the client refuses, the portal says so
  const bad = await ask(cid, crypto.randomBytes(32).toString('base64'))
  assert.equal(bad.rc, -13)
  assert.match(bad.text, /unknown or has expired/)
  // a member that is not online; someone not a member
  const off = await ask(bob.keys.id, cc)
  assert.deepEqual([off.rc, off.text], [-107, 'client not connected to room'])
  const s = peer(stranger)
  await H.withTimeout(H.cbPromise((cb) => s.conn.connect(addr, cb)), 10000, 'connect')
  const nm = await ask(stranger.keys.id, cc)
  assert.deepEqual([nm.rc, nm.text], [-1, 'not a member'])
  // cancelled: done never runs, the next request still works
  assert.deepEqual(await ask(cid, cc, ' cancel'), { cancelled: true })
  const again = await ask(cid, cc)
  assert.equal(again.rc, 0, again.text)
  await new Promise((resolve) => setTimeout(resolve, 500))
  assert.deepEqual(lines, [], 'nothing more came (no done after cancel)')
  child.stdin.end()
  const code = await new Promise((resolve) => child.on('close', resolve))
  assert.equal(code, 0, err)
  child = null
})
