// The room's muxrpc against the REAL ssb-room-client 2.0.2 (secret-stack
// 6.4.1 + ssb-conn 6.0.4, what Manyverse runs; ./node_modules, pinned in
// ./package-lock.json), with fairway portal --db and the operator commands
// (fairway member|deny|alias|room) changing the room while clients are on:
//   - room.metadata in each privacy mode, as ssb-room-client records it in
//     ssb-conn's db (name, membership, supportsAliases — Manyverse offers
//     aliases only when all three are right);
//   - roomClient.registerAlias → the alias URL; the stored signature
//     verifies as ssb-room-client's consumeAlias checks it; taken and bad
//     names refused; room.listAliases; roomClient.revokeAlias;
//   - a denied key refused, and disconnected at once when online;
//   - fairway member rm of an online member of a restricted room
//     disconnects it.
'use strict'

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const fs = require('node:fs')
const { createRequire } = require('node:module')
const H = require('../interop/helpers')

const req = createRequire(path.join(__dirname, 'package.json'))
const SecretStack = req('secret-stack')
const ssbKeys = req('ssb-keys')

const CAPS = H.TEST_CAPS
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const t = H.tmpDir('roomrpc')
after(async () => { await closeAll(); H.killAll(); t.cleanup() })

function keyFile (name) {
  const f = path.join(t.dir, name, 'secret')
  fs.mkdirSync(path.dirname(f), { recursive: true })
  return { file: f, keys: ssbKeys.createSync(f) }
}

const roomKeys = keyFile('room')
const ROOM = roomKeys.keys.id
const alice = keyFile('alice')
const bob = keyFile('bob')
const mallory = keyFile('mallory')
const stranger = keyFile('stranger')

// fairway ARGS… as the room's operator (control socket beside its secret)
async function fw (...args) {
  const r = await H.runFairway(args, { home: t.dir, timeoutMs: 15000 })
  return r
}
async function op (...args) {
  const r = await fw(...args, '--secret', roomKeys.file)
  assert.equal(r.code, 0, `fairway ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

let portal = null
async function startRoom (mode, db) {
  if (portal) await portal.stop()
  portal = await H.startPortal({
    home: t.dir,
    secret: roomKeys.file,
    caps: CAPS,
    extra: ['--db', db, '--privacy', mode, '--name', 'Fair Room']
  })
  return portal
}

const nodes = []
async function closeAll () {
  while (nodes.length) {
    const n = nodes.pop()
    await H.withTimeout(H.cbPromise((cb) => n.close(true, cb)), 3000, 'close').catch(() => {})
  }
}

// A Manyverse-like peer: secret-stack + ssb-conn + ssb-room-client.
function peer (who) {
  const node = SecretStack({ caps: { shs: CAPS } })
    .use(req('ssb-conn'))
    .use(req('ssb-room-client'))({
      keys: who.keys,
      path: fs.mkdtempSync(path.join(t.dir, 'sbot-')),
      timers: { inactivity: -1, handshake: 8000 },
      conn: { autostart: false, populatePubs: false },
      connections: {
        incoming: { tunnel: [{ scope: 'public', transform: 'shs' }] },
        outgoing: { net: [{ transform: 'shs' }], tunnel: [{ transform: 'shs' }] }
      }
    })
  nodes.push(node)
  return node
}

async function waitFor (fn, ms, what) {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(50)
  }
}

// conn.connect to the room; resolves the rpc once ssb-room-client has
// read room.metadata (type 'room' in ssb-conn's db).
async function join (node, addr) {
  // remembered first, as Manyverse does with a room: its ssb-conn db
  // entry is where ssb-room-client writes what room.metadata said
  node.conn.remember(addr, {})
  const rpc = await H.withTimeout(H.cbPromise((cb) => node.conn.connect(addr, cb)), 10000, 'conn.connect')
  assert.ok(rpc, 'conn.connect gave no rpc')
  await waitFor(() => (node.conn.db().get(addr) || {}).type === 'room', 10000, 'recognised as a room')
  return rpc
}

// connect that must fail (refused after the handshake)
async function refused (node, addr) {
  node.conn.remember(addr, {})
  try {
    const rpc = await H.withTimeout(H.cbPromise((cb) => node.conn.connect(addr, cb)), 10000, 'conn.connect')
    if (!rpc) return true
    // secret-stack may report the session before the room's hang-up
    await waitFor(() => rpc.closed, 3000, 'the refused session closes')
    return true
  } catch (err) {
    return true
  }
}

// muxrpc hands errors over as plain objects: match their message
async function rejects (promise, re) {
  let err = null
  try { await promise } catch (e) { err = e }
  assert.ok(err, `expected an error matching ${re}`)
  assert.match(String(err.message !== undefined ? err.message : err), re)
}

const closed = (rpc) => new Promise((resolve) => {
  if (rpc.closed) resolve(Date.now())
  else rpc.once('closed', () => resolve(Date.now()))
})

for (const mode of ['open', 'community', 'restricted']) {
  test(`room.metadata in a ${mode} room, as ssb-room-client records it`, { timeout: 60000 }, async () => {
    const db = path.join(t.dir, `md-${mode}.db`)
    const p = await startRoom(mode, db)
    await op('member', 'add', alice.keys.id)
    const a = peer(alice)
    await join(a, p.addr)
    const m = a.conn.db().get(p.addr)
    assert.equal(m.name, 'Fair Room')
    assert.equal(m.membership, true, 'a member is told it is one')
    assert.equal(!!m.supportsAliases, mode !== 'restricted', 'aliases where they resolve')
    assert.equal(!!m.openInvites, mode === 'open', 'open invites in open rooms only')
    assert.equal(m.supportsHttpAuth, true)
    assert.equal(m.supportsHttpInvite, true)
    // Manyverse's condition for offering alias registration
    assert.equal(!!(m.type === 'room' && m.name && m.supportsAliases && m.membership), mode !== 'restricted')
    const s = peer(stranger)
    if (mode === 'restricted') {
      assert.ok(await refused(s, p.addr))
      assert.notEqual((s.conn.db().get(p.addr) || {}).type, 'room', 'a non-member never sees a restricted room')
    } else {
      await join(s, p.addr)
      const sm = s.conn.db().get(p.addr)
      assert.ok(!sm.membership, 'a non-member is not told it is a member')
      assert.equal(sm.name, 'Fair Room')
    }
    await closeAll()
  })
}

test('registerAlias → URL, signature verifies, taken/invalid refused, listAliases, revokeAlias', { timeout: 90000 }, async () => {
  const db = path.join(t.dir, 'alias.db')
  const p = await startRoom('community', db)
  await op('member', 'add', alice.keys.id)
  await op('member', 'add', bob.keys.id)
  const a = peer(alice)
  await join(a, p.addr)
  const url = await H.withTimeout(H.cbPromise((cb) => a.roomClient.registerAlias(ROOM, 'alice', cb)), 10000, 'registerAlias')
  assert.equal(typeof url, 'string')
  const u = new URL(url)
  assert.match(u.pathname, /\/alias\/alice$/)
  // the alias as fairway keeps it (GSR alias JSON form: std base64, no suffix)
  const list = JSON.parse(await op('alias', 'list', '--json'))
  assert.equal(list.aliases.length, 1)
  const al = list.aliases[0]
  assert.equal(al.name, 'alice')
  assert.equal(al.owner, alice.keys.id)
  // what ssb-room-client's consumeAlias checks before dialling
  const body = `=room-alias-registration:${ROOM}:${al.owner}:${al.name}`
  assert.equal(ssbKeys.verify(al.owner, al.signature.replace(/_/g, '/').replace(/-/g, '+'), body), true)
  assert.equal(ssbKeys.verify(bob.keys.id, al.signature, body), false, 'the check can fail')

  const b = peer(bob)
  await join(b, p.addr)
  await rejects(H.cbPromise((cb) => b.roomClient.registerAlias(ROOM, 'alice', cb)),
    /alias \("alice"\) is already taken/)
  await rejects(H.cbPromise((cb) => b.roomClient.registerAlias(ROOM, 'Alice', cb)),
    /registerAlias: invalid alias/)
  await rejects(H.cbPromise((cb) => b.roomClient.registerAlias(ROOM, '', cb)),
    /registerAlias: invalid alias/)
  // a signature over someone else's registration string
  const rpcB = b.tunnel.getRoomsMap().get(ROOM).rpc
  const forged = ssbKeys.sign(bob.keys, `=room-alias-registration:${ROOM}:${alice.keys.id}:bobby`)
  await rejects(H.cbPromise((cb) => rpcB.room.registerAlias('bobby', forged, cb)),
    /registerAlias: invalid signature/)
  await rejects(H.cbPromise((cb) => rpcB.room.registerAlias('bobby', 'AAAA', cb)),
    /signature does not have the expected suffix/)
  // bob may not revoke alice's alias
  await rejects(H.cbPromise((cb) => b.roomClient.revokeAlias(ROOM, 'alice', cb)),
    /not your alias/)
  // a non-member may connect (community) but not register
  const s = peer(stranger)
  await join(s, p.addr)
  await rejects(H.cbPromise((cb) => s.roomClient.registerAlias(ROOM, 'strange', cb)),
    /roomdb: object not found/)
  // room.listAliases: anyone, about anyone
  const la = await fw('call', p.addr, 'room.listAliases', JSON.stringify([alice.keys.id]),
    '--secret', stranger.file, '--caps', CAPS)
  assert.equal(la.code, 0, la.stderr)
  assert.deepEqual(JSON.parse(la.stdout), ['alice'])
  const lb = await fw('call', p.addr, 'room.listAliases', JSON.stringify([bob.keys.id]),
    '--secret', stranger.file, '--caps', CAPS)
  assert.deepEqual(JSON.parse(lb.stdout), [])
  // room.members: members only in a community room, one [{id}] per member
  const mm = await fw('call', p.addr, 'room.members', '--source', '--secret', bob.file, '--caps', CAPS)
  assert.equal(mm.code, 0, mm.stderr)
  assert.deepEqual(mm.stdout.trim().split('\n').map((l) => JSON.parse(l)),
    [[{ id: alice.keys.id }], [{ id: bob.keys.id }]])
  const ms = await fw('call', p.addr, 'room.members', '--source', '--secret', stranger.file, '--caps', CAPS)
  assert.match(ms.stdout + ms.stderr, /external users are not allowed to list members/)

  const ok = await H.cbPromise((cb) => a.roomClient.revokeAlias(ROOM, 'alice', cb))
  assert.equal(ok, true)
  assert.deepEqual(JSON.parse(await op('alias', 'list', '--json')).aliases, [])
  await rejects(H.cbPromise((cb) => a.roomClient.revokeAlias(ROOM, 'alice', cb)),
    /roomdb: object not found/)
  await closeAll()
})

test('a denied key is refused, and disconnected at once when online', { timeout: 60000 }, async () => {
  const db = path.join(t.dir, 'deny.db')
  const p = await startRoom('open', db)
  const m = peer(mallory)
  const rpc = await join(m, p.addr)
  const gone = closed(rpc)
  const t0 = Date.now()
  await op('deny', 'add', mallory.keys.id, '--comment', 'spam')
  const at = await H.withTimeout(gone, 5000, 'the denied peer is disconnected')
  assert.ok(at - t0 < 5000)
  await closeAll()
  const m2 = peer(mallory)
  assert.ok(await refused(m2, p.addr))
  assert.notEqual((m2.conn.db().get(p.addr) || {}).type, 'room')
  // and after deny rm it gets in again (the test can tell the two apart)
  await op('deny', 'rm', mallory.keys.id)
  const m3 = peer(mallory)
  await join(m3, p.addr)
  await closeAll()
})

test('fairway member rm of an online member of a restricted room disconnects it', { timeout: 60000 }, async () => {
  const db = path.join(t.dir, 'rm.db')
  const p = await startRoom('restricted', db)
  await op('member', 'add', bob.keys.id)
  await op('member', 'add', alice.keys.id)
  const b = peer(bob)
  const a = peer(alice)
  const rpcB = await join(b, p.addr)
  const rpcA = await join(a, p.addr)
  const goneB = closed(rpcB)
  let aliceClosed = false
  rpcA.once('closed', () => { aliceClosed = true })
  await op('member', 'rm', bob.keys.id)
  await H.withTimeout(goneB, 5000, 'the removed member is disconnected')
  await sleep(300)
  assert.equal(aliceClosed, false, 'the other member stays')
  await closeAll()
  const b2 = peer(bob)
  assert.ok(await refused(b2, p.addr))
  await closeAll()
  await portal.stop()
  portal = null
})

// httpAuth.* as a Manyverse client calls them (ssb-http-auth-client signs
// with ssb-keys; secret-stack needs the methods in its own manifest).
function authPeer (who) {
  const node = SecretStack({ caps: { shs: CAPS } }).use({
    manifest: { httpAuth: { sendSolution: 'async', invalidateAllSolutions: 'async' } },
    init: () => ({})
  })({
    keys: who.keys,
    path: fs.mkdtempSync(path.join(t.dir, 'auth-')),
    timers: { inactivity: -1, handshake: 8000 },
    connections: { incoming: {}, outgoing: { net: [{ transform: 'shs' }] } }
  })
  nodes.push(node)
  return node
}

test('httpAuth.sendSolution and invalidateAllSolutions: members only, the signature checked', { timeout: 60000 }, async () => {
  const db = path.join(t.dir, 'auth.db')
  const p = await startRoom('community', db)
  await op('member', 'add', alice.keys.id)
  const a = await H.withTimeout(H.cbPromise((cb) => authPeer(alice).connect(p.addr, cb)), 8000, 'connect')
  const s = await H.withTimeout(H.cbPromise((cb) => authPeer(stranger).connect(p.addr, cb)), 8000, 'connect')
  const sc = require('node:crypto').randomBytes(32).toString('base64url') + '='
  const cc = require('node:crypto').randomBytes(32).toString('base64')
  const sol = (keys, cid) => ssbKeys.sign(keys, `=http-auth-sign-in:${ROOM}:${cid}:${sc}:${cc}`)
  await rejects(H.cbPromise((cb) => s.httpAuth.sendSolution(sc, cc, sol(stranger.keys, stranger.keys.id), cb)),
    /client is not a room member/)
  await rejects(H.cbPromise((cb) => a.httpAuth.sendSolution(sc, cc, cb)),
    /expected 3 arguments \(sc, cc, sol\) but got 2/)
  await rejects(H.cbPromise((cb) => a.httpAuth.sendSolution(sc, cc, 'not base64!.sig.ed25519', cb)),
    /signature is not valid base64 data/)
  // signed by someone else, or over another challenge
  await rejects(H.cbPromise((cb) => a.httpAuth.sendSolution(sc, cc, sol(bob.keys, alice.keys.id), cb)),
    /not a valid solution/)
  await rejects(H.cbPromise((cb) => a.httpAuth.sendSolution(sc + 'x', cc, sol(alice.keys, alice.keys.id), cb)),
    /not a valid solution/)
  // a valid solution for a challenge no browser is waiting on
  await rejects(H.cbPromise((cb) => a.httpAuth.sendSolution(sc, cc, sol(alice.keys, alice.keys.id), cb)),
    /no such session/)
  assert.equal(await H.cbPromise((cb) => a.httpAuth.invalidateAllSolutions(cb)), true)
  await rejects(H.cbPromise((cb) => s.httpAuth.invalidateAllSolutions(cb)), /roomdb: object not found/)
  await closeAll()
  await portal.stop()
  portal = null
})
