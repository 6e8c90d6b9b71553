// `fairway reload`: the running portal re-reads its -c FILE. New members,
// deny lists, privacy and limits apply to open connections too (denied
// peers and, in restricted rooms, non-members are closed; non-members
// stop attending in community rooms); a file with errors is refused with
// its file:line message and the running policy stays; without -c there is
// nothing to reload.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const L = require('./lib')

const REFUSED = /^fairway call: connection closed before a reply: server hung up after our auth/m
const esc = (t) => t.replace(/[+/.[\]()]/g, '\\$&')

let s
before(() => { s = L.scratch('reload', ['room', 'alice', 'bob', 'carol']) })
after(async () => {
  try { await L.closeAll() } finally { L.killAll(); s.cleanup() }
})

function file (name, { privacy = 'restricted', users = ['alice', 'bob'], deny = [], extra = '' } = {}) {
  let t = `[portal]\nprivacy = ${privacy}\n${extra}`
  for (const d of deny) t += `deny = ${s.ids[d].id}\n`
  for (const u of users) t += `\n[user ${u}]\nid = ${s.ids[u].id}\n`
  return L.policyFile(s, name, t)
}

const reload = () => L.fw(s, ['reload', '--secret', s.ids.room.secret])
const counters = async () => (await L.info(s, { secret: s.ids.room.secret })).counters

async function withPortal (args, fn) {
  const p = await L.portal(s, s.ids.room.secret, args)
  try {
    await fn(p)
  } finally {
    await L.closeAll()
    const r = await p.stop()
    assert.equal(r.code, 0, p.stderr())
  }
}

test('reload adds a member: a refused key is let in afterwards', { timeout: 20000 }, async () => {
  const f = file('add.ini')
  await withPortal(['-c', f], async (p) => {
    let r = await L.call(s, p.addr, 'whoami', { secret: s.ids.carol.secret })
    assert.equal(r.code, 1)
    assert.match(r.stderr, REFUSED)
    file('add.ini', { users: ['alice', 'bob', 'carol'] })
    const rl = await reload()
    assert.equal(rl.code, 0, rl.stderr)
    assert.equal(rl.stdout, '')
    await L.assertLogLines(p, new RegExp(`reloaded ${esc(f)}: privacy restricted, 3 members, 0 denied(,|$)`), 1)
    r = await L.call(s, p.addr, 'room.metadata', { secret: s.ids.carol.secret })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).membership, true)
  })
})

test('reload denies a connected peer: it is closed, others carry on and see it leave', { timeout: 20000 }, async () => {
  const f = file('deny.ini', { privacy: 'community' })
  await withPortal(['-c', f], async (p) => {
    const alice = await L.jsConnect(s, p.addr, s.ids.alice.keys)
    assert.equal(await L.rpcCall((cb) => alice.rpc.tunnel.announce(cb)), true)
    const bob = await L.jsConnect(s, p.addr, s.ids.bob.keys)
    const events = []
    L.pull(bob.rpc.room.attendants(), L.pull.drain((e) => { events.push(e) }, () => {}))
    await L.waitFor(() => events.length >= 1, 3000, 'attendants state')
    assert.deepEqual(events[0], { type: 'state', ids: [s.ids.alice.id, s.ids.bob.id].sort() })
    const before = await counters()

    file('deny.ini', { privacy: 'community', deny: ['alice'] })
    const rl = await reload()
    assert.equal(rl.code, 0, rl.stderr)
    await L.withTimeout(alice.closed, 3000, 'the denied peer being closed')
    await L.waitFor(() => events.some((e) => e.type === 'left' && e.id === s.ids.alice.id), 3000, 'left event')
    assert.equal((await counters()).refused_denied, before.refused_denied + 1)
    await L.assertLogLines(p, new RegExp(`${esc(s.ids.alice.id)} closed: this key has been banned \\(policy reloaded\\)$`), 1)
    // bob's connection is untouched, and alice can't come back.
    assert.equal((await L.rpcCall((cb) => bob.rpc.whoami(cb))).id, '@' + p.key + '.ed25519')
    const r = await L.call(s, p.addr, 'whoami', { secret: s.ids.alice.secret })
    assert.equal(r.code, 1)
    assert.match(r.stderr, REFUSED)
  })
})

test('reload to restricted closes connected non-members; to community drops non-member attendants', { timeout: 20000 }, async () => {
  const f = file('mode.ini', { privacy: 'open', users: ['alice'] })
  await withPortal(['-c', f], async (p) => {
    const alice = await L.jsConnect(s, p.addr, s.ids.alice.keys)
    const carol = await L.jsConnect(s, p.addr, s.ids.carol.keys)
    assert.equal(await L.rpcCall((cb) => carol.rpc.tunnel.announce(cb)), true)
    const ends = []
    L.pull(alice.rpc.tunnel.endpoints(), L.pull.drain((e) => { ends.push(e) }, () => {}))
    await L.waitFor(() => ends.length && ends[ends.length - 1].length === 2, 3000, 'both endpoints')

    file('mode.ini', { privacy: 'community', users: ['alice'] })
    assert.equal((await reload()).code, 0)
    await L.waitFor(() => JSON.stringify(ends[ends.length - 1]) === JSON.stringify([s.ids.alice.id]), 3000,
      'carol no longer an endpoint')
    assert.equal((await L.rpcCall((cb) => carol.rpc.whoami(cb))).id, '@' + p.key + '.ed25519',
      'carol is still connected in a community room')

    const before = await counters()
    file('mode.ini', { privacy: 'restricted', users: ['alice'] })
    assert.equal((await reload()).code, 0)
    await L.withTimeout(carol.closed, 3000, 'the non-member being closed')
    assert.equal((await counters()).refused_not_member, before.refused_not_member + 1)
    await L.assertLogLines(p, new RegExp(`${esc(s.ids.carol.id)} closed: access restricted to members \\(policy reloaded\\)$`), 1)
    assert.equal((await L.rpcCall((cb) => alice.rpc.whoami(cb))).id, '@' + p.key + '.ed25519')
    assert.equal((await L.info(s, { secret: s.ids.room.secret })).privacy, 'restricted')
  })
})

test('reload applies new limits to open connections (idle-timeout)', { timeout: 20000 }, async () => {
  const f = file('limits.ini', { privacy: 'open' })
  await withPortal(['-c', f], async (p) => {
    const a = await L.jsConnect(s, p.addr)
    file('limits.ini', { privacy: 'open', extra: 'idle-timeout = 1s\n' })
    assert.equal((await reload()).code, 0)
    await L.withTimeout(a.closed, 4000, 'the quiet client being closed by the new idle timeout')
    assert.equal((await counters()).closed_idle, 1)
  })
})

test('a file with errors is refused with file:line, exit 1, and the running policy stays', { timeout: 20000 }, async () => {
  const f = file('bad.ini', { users: ['alice'] })
  await withPortal(['-c', f], async (p) => {
    const alice = await L.jsConnect(s, p.addr, s.ids.alice.keys)
    // carol would be let in and alice denied, if the broken file counted.
    L.policyFile(s, 'bad.ini', `[portal]\nprivacy = open\nbogus = 1\nidle-timeout = forever\ndeny = ${s.ids.alice.id}\n\n[user carol]\nid = ${s.ids.carol.id}\n`)
    const rl = await reload()
    assert.equal(rl.code, 1, rl.stderr)
    assert.equal(rl.stdout, '')
    assert.equal(rl.stderr,
      `fairway reload: ${f}:3: error: unknown key "bogus" in [portal]\n` +
      `${f}:4: error: idle-timeout: expected a duration like 15s, 500ms or 10min (0 = never), got "forever"\n`)
    await L.assertLogLines(p, new RegExp(`reload of ${esc(f)} refused; the running policy stays$`), 1)
    assert.equal((await L.info(s, { secret: s.ids.room.secret })).privacy, 'restricted')
    const r = await L.call(s, p.addr, 'whoami', { secret: s.ids.carol.secret })
    assert.equal(r.code, 1, 'carol is still no member')
    assert.equal((await L.rpcCall((cb) => alice.rpc.whoami(cb))).id, '@' + p.key + '.ed25519', 'alice still connected')
    // A Fair NAT config is refused the same way.
    L.policyFile(s, 'bad.ini', 'DEV_LAN=eth0\nRATE_UP=128\n')
    const n = await reload()
    assert.equal(n.code, 1)
    assert.equal(n.stderr, `fairway reload: ${f}: error: this is a Fair NAT config (for \`fairway nat\`), ` +
      'not a portal policy ([portal] and [user NAME] sections)\n')
    // A deleted file too.
    require('node:fs').unlinkSync(f)
    const d = await reload()
    assert.equal(d.code, 1)
    assert.equal(d.stderr, `fairway reload: ${f}: error: cannot open: No such file or directory\n`)
    assert.equal((await L.info(s, { secret: s.ids.room.secret })).privacy, 'restricted')
    // And a good file afterwards is taken.
    file('bad.ini', { privacy: 'restricted', users: ['alice', 'carol'] })
    assert.equal((await reload()).code, 0)
    assert.equal((await L.call(s, p.addr, 'whoami', { secret: s.ids.carol.secret })).code, 0)
  })
})

test('the command line still wins at reload', { timeout: 20000 }, async () => {
  const f = file('cli.ini', { privacy: 'community', users: ['alice'] })
  await withPortal(['-c', f, '--privacy', 'open', '--member', s.ids.carol.id], async (p) => {
    file('cli.ini', { privacy: 'restricted', users: ['alice'] })
    assert.equal((await reload()).code, 0)
    const i = await L.info(s, { secret: s.ids.room.secret })
    assert.equal(i.privacy, 'open')
    const r = await L.call(s, p.addr, 'room.metadata', { secret: s.ids.carol.secret })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).membership, true, '--member survives the reload')
    await L.assertLogLines(p, /reloaded .*: privacy open, 2 members, 0 denied(,|$)/, 1)
  })
})

test('without -c, reload fails with a clear message', { timeout: 15000 }, async () => {
  await withPortal([], async (p) => {
    const rl = await reload()
    assert.equal(rl.code, 1)
    assert.equal(rl.stdout, '')
    assert.equal(rl.stderr,
      'fairway reload: this portal was started without a policy file (-c): nothing to reload\n')
    assert.equal((await L.call(s, p.addr, 'whoami')).code, 0, 'the portal carries on')
  })
})

// portal_reconfigure() once made a demoted member leave the attendants but
// kept its room.attendants / tunnel.endpoints subscriptions open, so it
// kept seeing who joined and left.
test('a member demoted by reload stops seeing attendants (its subscriptions end)', { timeout: 15000 }, async () => {
  const f = file('demote.ini', { privacy: 'community', users: ['alice', 'bob'] })
  await withPortal(['-c', f], async (p) => {
    const alice = await L.jsConnect(s, p.addr, s.ids.alice.keys)
    const events = []
    let endErr
    L.pull(alice.rpc.room.attendants(), L.pull.drain((e) => { events.push(e) }, (err) => { endErr = err || true }))
    await L.waitFor(() => events.length >= 1, 3000, 'attendants state')
    file('demote.ini', { privacy: 'community', users: ['bob'] })
    assert.equal((await reload()).code, 0)
    const bob = await L.jsConnect(s, p.addr, s.ids.bob.keys)
    assert.equal(await L.rpcCall((cb) => bob.rpc.tunnel.announce(cb)), true)
    await L.sleep(500)
    assert.deepEqual(events.filter((e) => e.id === s.ids.bob.id), [], 'no news of bob for a non-member')
    assert.equal(endErr && endErr.message, 'external user are not allowed to enumerate members')
  })
})

test('SIGHUP reloads like `fairway reload`; the portal keeps running', { timeout: 20000 }, async () => {
  const f = file('hup.ini')
  await withPortal(['-c', f], async (p) => {
    let r = await L.call(s, p.addr, 'whoami', { secret: s.ids.carol.secret })
    assert.equal(r.code, 1)
    file('hup.ini', { users: ['alice', 'bob', 'carol'] })
    process.kill(p.child.pid, "SIGHUP")
    await L.assertLogLines(p, /SIGHUP: reloading the policy/, 1)
    await L.assertLogLines(p, new RegExp(`reloaded ${esc(f)}: privacy restricted, 3 members`), 1)
    r = await L.call(s, p.addr, 'whoami', { secret: s.ids.carol.secret })
    assert.equal(r.code, 0, r.stderr)
  })
})

test('a stale control socket left by a killed portal is replaced, with a log line', { timeout: 20000 }, async () => {
  const p1 = await L.portal(s, s.ids.room.secret, [])
  process.kill(p1.child.pid, "SIGKILL")
  await p1.exited
  const p2 = await L.portal(s, s.ids.room.secret, [])
  try {
    await L.assertLogLines(p2, /replaced a stale control socket .*portal\.sock/, 1)
    const i = await L.info(s, { secret: s.ids.room.secret })
    assert.ok(i.counters, 'the new portal answers on the socket')
  } finally {
    const r = await p2.stop()
    assert.equal(r.code, 0, p2.stderr())
  }
})
