// kill -9 during 100 concurrent invite claims (issue 12): after a restart
// on the same database every claim that was answered `successful` is a
// member, every invite is used at most once, and the members are exactly
// the used invites' claimants — nothing acknowledged lost, nothing half
// done. The invites are made with `fairway invite create --json --db`,
// the state read back with `fairway member list` / `invite list --json`.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const path = require('node:path')
const L = require('./lib')

const N = 100

// One POST /invite/consume from its own loopback address (127.0.0.X: the
// portal rate-limits claims per address, 20 at once). The body goes in
// two writes, the second after a delay, so that some claims are still in
// flight when the portal is killed. Resolves {ok, status, json} or {err}.
function claim (base, id, token, i, delayMs, onReply) {
  const u = new URL('/invite/consume', base)
  const body = Buffer.from(JSON.stringify({ id, invite: token }))
  return new Promise((resolve) => {
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'POST', localAddress: `127.0.0.${2 + i}`,
      headers: { 'Content-Type': 'application/json', 'Content-Length': body.length }, timeout: 15000
    }, (res) => {
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { data += d })
      res.on('end', () => {
        let json
        try { json = JSON.parse(data) } catch (_) {}
        onReply()
        resolve({ status: res.statusCode, json, ok: json !== undefined && json.status === 'successful' })
      })
      res.on('error', (err) => resolve({ err }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (err) => resolve({ err }))
    req.write(body.subarray(0, 20))
    setTimeout(() => req.end(body.subarray(20)), delayMs)
  })
}

async function cli (home, db, args) {
  const r = await L.runFairway([...args, '--json', '--db', db], { env: { FAIRWAY_HOME: home, HOME: home } })
  assert.equal(r.code, 0, `fairway ${args.join(' ')}: ${r.stdout}${r.stderr}`)
  return JSON.parse(r.stdout)
}

test('kill -9 during 100 concurrent claims: acknowledged claims are members, members == used invites', { timeout: 90000 }, async () => {
  const dir = L.scratch('crash')
  const home = path.join(dir, '.fairway')
  const room = L.identity(dir, 'room')
  const db = path.join(dir, 'room.db')

  // 100 invites through the operator command (on the database: no portal yet)
  const tokens = []
  for (let i = 0; i < N; i += 10) {
    const got = await Promise.all(Array.from({ length: 10 }, () =>
      cli(home, db, ['invite', 'create', '--public-url', 'http://127.0.0.1'])))
    for (const g of got) tokens.push(g.token)
  }
  assert.equal(new Set(tokens).size, N)
  const ids = Array.from({ length: N }, () => L.ssbKeys.generate().id)

  let portal = await L.startPortal({ dir, secret: room.secret, db })
  let replies = 0
  const KILL_AT = 25
  const results = await Promise.all(ids.map((id, i) =>
    claim(portal.url, id, tokens[i], i, Math.floor(Math.random() * 150), () => {
      if (++replies === KILL_AT) portal.child.kill('SIGKILL')
    })))
  const died = await portal.exited
  assert.equal(died.signal, 'SIGKILL')
  const acked = ids.filter((_, i) => results[i].ok)
  const lost = results.filter((r) => r.err).length
  // the kill landed mid-way: some answered, some cut off
  assert.ok(acked.length >= KILL_AT - 5, `only ${acked.length} claims answered successful`)
  assert.ok(lost > 0, 'every claim was answered before the kill: nothing was cut off')
  for (const r of results) {
    if (!r.err) assert.equal(r.ok, true, `a claim answered other than successful: ${r.status} ${JSON.stringify(r.json)}`)
  }

  // restart on the same database: it opens and serves
  portal = await L.startPortal({ dir, secret: room.secret, db })
  try {
    const land = await L.request(portal.url, '/')
    assert.equal(land.status, 200)
  } finally {
    await portal.stop()
  }

  const members = (await cli(home, db, ['member', 'list'])).members
  const invites = (await cli(home, db, ['invite', 'list', '--all'])).invites
  assert.equal(invites.length, N)
  const used = invites.filter((v) => v.state === 'used')
  const byN = new Map(members.map((m) => [m.n, m.id]))
  // every acknowledged claim is a member
  const memberIds = new Set(members.map((m) => m.id))
  for (const id of acked) assert.ok(memberIds.has(id), `${id} was told successful but is no member`)
  // members are exactly the used invites' claimants, one invite each
  assert.equal(members.length, used.length, `${members.length} members, ${used.length} used invites`)
  const claimants = used.map((v) => byN.get(v.used_by))
  assert.ok(claimants.every((id) => id !== undefined), 'a used invite names no member')
  assert.equal(new Set(claimants).size, used.length, 'a member holds two invites')
  for (const id of memberIds) assert.ok(ids.includes(id), `${id} is a member nobody claimed for`)
  for (const v of invites) assert.ok(v.state === 'used' || v.state === 'open', `invite ${v.n}: ${v.state}`)

  // at most once: every token claimed again by a new key; only the ones
  // still open may succeed, and they become members now
  portal = await L.startPortal({ dir, secret: room.secret, db })
  let second
  try {
    const fresh = Array.from({ length: N }, () => L.ssbKeys.generate().id)
    second = await Promise.all(fresh.map((id, i) => claim(portal.url, id, tokens[i], i, 0, () => {})))
  } finally {
    await portal.stop()
  }
  const openBefore = invites.filter((v) => v.state === 'open').length
  assert.equal(second.filter((r) => r.ok).length, openBefore, 'a used invite was accepted again (or an open one refused)')
  for (const r of second) {
    assert.ok(!r.err, String(r.err))
    if (!r.ok) assert.equal(r.json.error, 'rooms/web: item not found: invite')
  }
  const after = (await cli(home, db, ['invite', 'list', '--all'])).invites
  assert.equal(after.filter((v) => v.state === 'used').length, N)
  assert.equal((await cli(home, db, ['member', 'list'])).members.length, N)
  console.log(`# crash: ${acked.length} acknowledged, ${used.length - acked.length} committed but unanswered, ` +
    `${N - used.length} not committed, ${lost} cut off`)
})
