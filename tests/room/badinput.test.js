// Bad input to the room server's HTTP side: each gets the right status and
// error text, and nothing is written (no member, no invite used).
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const L = require('./lib')

const NOT_FOUND = 'rooms/web: item not found: invite'

test('/invite/consume: malformed, oversized, wrong type, bad tokens and ids: refused, nothing written', async () => {
  const dir = L.scratch('bad')
  const room = L.identity(dir, 'room')
  const eve = L.identity(dir, 'eve')
  const mallory = L.identity(dir, 'mallory')
  const db = path.join(dir, 'room.db')
  const good = L.fixture(db, ['invite'])
  const expired = L.fixture(db, ['invite', '-60'])
  L.fixture(db, ['deny', mallory.id])
  const unknown = Buffer.alloc(50, 7).toString('base64url') + '='
  const portal = await L.startPortal({ dir, secret: room.secret, db })
  const bad = 'consume body contained invalid json: '
  try {
    const cases = [
      // [what, body, content type, status, error text (JSON) or body (text)]
      ['not JSON', '{"id":', 'application/json', 200, new RegExp('^' + bad)],
      ['not an object', '["x"]', 'application/json', 200, bad + 'expected an object {"id":…,"invite":…}'],
      ['duplicate key', `{"id":"${eve.id}","id":"${eve.id}","invite":"${good}"}`, 'application/json', 200, new RegExp('^' + bad + 'duplicate object key')],
      ['no invite', { id: eve.id }, 'application/json', 200, bad + 'missing string field "invite"'],
      ['invite not a string', { id: eve.id, invite: 5 }, 'application/json', 200, bad + 'missing string field "invite"'],
      ['no id', { invite: good }, 'application/json', 200, bad + 'missing string field "id"'],
      ['bad feed id', { id: '@abc.ed25519', invite: good }, 'application/json', 200, bad + 'id is not a feed id (@<base64>.ed25519)'],
      ['feed id with junk', { id: eve.id + 'x', invite: good }, 'application/json', 200, bad + 'id is not a feed id (@<base64>.ed25519)'],
      ['malformed token', { id: eve.id, invite: 'abc' }, 'application/json', 200, 'rooms/web: invalid invite'],
      ['token too long', { id: eve.id, invite: good + 'A' }, 'application/json', 200, 'rooms/web: invalid invite'],
      ['unknown token', { id: eve.id, invite: unknown }, 'application/json', 200, NOT_FOUND],
      ['expired token', { id: eve.id, invite: expired }, 'application/json', 200, 'rooms/web: invite expired'],
      ['denied key', { id: mallory.id, invite: good }, 'application/json', 200, 'rooms: this key has been banned'],
      ['text/plain', { id: eve.id, invite: good }, 'text/plain', 400, 'unhandled Content-Type ("text/plain")\n'],
      ['other charset', { id: eve.id, invite: good }, 'application/json; charset=latin1', 400, 'unhandled Content-Type ("application/json; charset=latin1")\n'],
      ['no type', { id: eve.id, invite: good }, null, 400, 'unhandled Content-Type ("")\n'],
      ['form without id', `invite=${encodeURIComponent(good)}`, 'application/x-www-form-urlencoded', 400, /bad form: missing string field &quot;id&quot;/],
      ['form, bad escape', 'id=%zz&invite=%00', 'application/x-www-form-urlencoded', 400, /bad form: not application\/x-www-form-urlencoded/],
      ['form, twice', `id=${encodeURIComponent(eve.id)}&id=x&invite=y`, 'application/x-www-form-urlencoded', 400, /bad form: a field appears twice/],
      ['form, unknown', `id=${encodeURIComponent(eve.id)}&invite=${encodeURIComponent(unknown)}`, 'application/x-www-form-urlencoded', 404, /rooms\/web: item not found: invite/]
    ]
    for (const [what, body, ctype, status, want] of cases) {
      const headers = ctype ? { 'Content-Type': ctype } : {}
      const r = await L.request(portal.url, '/invite/consume', {
        method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body)
      })
      assert.equal(r.status, status, `${what}: status (${r.body})`)
      if (r.json) {
        assert.equal(r.json.status, 'error', what)
        if (want instanceof RegExp) assert.match(r.json.error, want, what)
        else assert.equal(r.json.error, want, what)
      } else if (want instanceof RegExp) {
        assert.match(r.body, want, what)
      } else {
        assert.equal(r.body, want, what)
      }
    }
    // Oversized: refused from its Content-Length, and when sent chunked.
    const big = JSON.stringify({ id: eve.id, invite: good, pad: 'x'.repeat(20000) })
    const r1 = await L.postJson(portal.url, big)
    assert.equal(r1.status, 413)
    assert.equal(r1.body, 'request body too large\n')
    const r2 = await L.request(portal.url, '/invite/consume', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, body: big
    })
    assert.equal(r2.status, 413)
    // Headers larger than the connection's memory: MHD refuses them.
    const huge = await L.request(portal.url, '/', { headers: { 'X-Pad': 'x'.repeat(20000) } })
    assert.equal(huge.status, 431)
    // Wrong method.
    assert.equal((await L.request(portal.url, '/invite/consume')).status, 405)
    // Nothing written: the good invite still works, for eve only now.
    assert.equal(L.fixture(db, ['invites']), 'open 2 used 0')
    assert.equal(L.fixture(db, ['role', eve.id]), 'none')
    assert.equal(L.fixture(db, ['role', mallory.id]), 'none')
    const ok = await L.postJson(portal.url, { id: eve.id, invite: good })
    assert.equal(ok.json.status, 'successful')
    assert.equal(L.fixture(db, ['role', eve.id]), 'member')
    // The same invite as a form, now used: 404 page.
    const used = await L.request(portal.url, '/invite/consume', {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `invite=${encodeURIComponent(good)}&id=${encodeURIComponent(room.id)}`
    })
    assert.equal(used.status, 404)
    assert.match(used.body, /rooms\/web: item not found: invite/)
  } finally {
    await portal.stop()
  }
})

test('/join: unknown, used, expired and malformed tokens', async () => {
  const dir = L.scratch('join')
  const room = L.identity(dir, 'room')
  const db = path.join(dir, 'room.db')
  const expired = L.fixture(db, ['invite', '-60'])
  const portal = await L.startPortal({ dir, secret: room.secret, db })
  try {
    const unknown = Buffer.alloc(50, 1).toString('base64url') + '='
    for (const [q, err, html] of [
      [`token=${unknown}`, NOT_FOUND, 404],
      [`token=${encodeURIComponent(expired)}`, 'rooms/web: invite expired', 404],
      ['token=short', 'rooms/web: invalid invite', 400],
      ['', 'missing invite token (?token=…)', 400]
    ]) {
      const j = await L.request(portal.url, `/join?${q}&encoding=json`)
      assert.equal(j.status, 200)
      assert.deepEqual(j.json, { status: 'failed', error: err }, q)
      const h = await L.request(portal.url, `/join?${q}`)
      assert.equal(h.status, html, q)
      assert.match(h.body, /This invite cannot be used/)
    }
    // The spec's parameter name works too.
    const t = L.fixture(db, ['invite'])
    const j = await L.request(portal.url, `/join?invite=${encodeURIComponent(t)}&encoding=json`)
    assert.deepEqual(j.json, { status: 'successful', invite: t, postTo: `${portal.url}/invite/consume` })
  } finally {
    await portal.stop()
  }
})

test('security headers on every response; per-address rate limit on claims', async () => {
  const dir = L.scratch('hdr')
  const room = L.identity(dir, 'room')
  const eve = L.identity(dir, 'eve')
  const db = path.join(dir, 'room.db')
  const portal = await L.startPortal({ dir, secret: room.secret, db })
  try {
    for (const p of ['/', '/style.css', '/join?token=x', '/alias/x?encoding=json', '/nope/nope', '/create-invite']) {
      const r = await L.request(portal.url, p)
      assert.match(r.headers['content-security-policy'], /default-src 'self'/, p)
      assert.match(r.headers['content-security-policy'], /frame-ancestors 'none'/, p)
      assert.equal(r.headers['x-frame-options'], 'DENY', p)
      assert.equal(r.headers['x-content-type-options'], 'nosniff', p)
      assert.equal(r.headers['referrer-policy'], 'same-origin', p)
    }
    const unknown = Buffer.alloc(50, 2).toString('base64url') + '='
    const statuses = []
    for (let i = 0; i < 30; i++) {
      statuses.push((await L.postJson(portal.url, { id: eve.id, invite: unknown })).status)
    }
    assert.ok(statuses.slice(0, 15).every((s) => s === 200), statuses.join(' '))
    assert.ok(statuses.slice(25).every((s) => s === 429), statuses.join(' '))
    const limited = await L.postJson(portal.url, { id: eve.id, invite: unknown })
    assert.equal(limited.status, 429)
    assert.equal(limited.headers['retry-after'], '2')
    assert.match(limited.json.error, /too many invite claims from this address/)
  } finally {
    await portal.stop()
  }
})

test('slowloris: a client that never finishes its headers is closed', async () => {
  const dir = L.scratch('slow')
  const room = L.identity(dir, 'room')
  const db = path.join(dir, 'room.db')
  const portal = await L.startPortal({ dir, secret: room.secret, db })
  try {
    const u = new URL(portal.url)
    const t0 = Date.now()
    const closedAfter = await new Promise((resolve, reject) => {
      const s = net.connect(Number(u.port), u.hostname, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n'))
      s.on('error', reject)
      s.on('close', () => resolve(Date.now() - t0))
      setTimeout(() => { s.destroy(); reject(new Error('still open after 40 s')) }, 40000)
    })
    assert.ok(closedAfter >= 10000 && closedAfter < 30000, `closed after ${closedAfter} ms`)
    // The server still serves others.
    assert.equal((await L.request(portal.url, '/')).status, 200)
  } finally {
    await portal.stop()
  }
})
