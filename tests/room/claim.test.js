// ssb-http-invite-client 1.0.1 (the real package) claims fairway invites
// by URL and by ssb: URI: single use, membership afterwards (a restricted
// room then admits the key over SHS), kept across a portal restart.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const L = require('./lib')

async function metadata (portal, who) {
  return L.runFairway(['call', portal.addr, 'room.metadata', '--secret', who.secret, '--timeout', '5000'])
}

test('claim by URL and by ssb: URI, single use, membership kept across a restart (restricted room)', async () => {
  const dir = L.scratch('claim')
  const room = L.identity(dir, 'room')
  const alice = L.identity(dir, 'alice')
  const bob = L.identity(dir, 'bob')
  const db = path.join(dir, 'room.db')
  const t1 = L.fixture(db, ['invite'])
  const t2 = L.fixture(db, ['invite', '3600'])
  let portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'restricted'] })
  try {
    // Not a member yet: a restricted room refuses the handshake.
    const before = await metadata(portal, alice)
    assert.notEqual(before.code, 0, `a non-member got in: ${before.stdout}`)

    const claim = L.inviteClient(alice.id)
    const msaddr = await claim(`${portal.url}/join?token=${encodeURIComponent(t1)}`)
    assert.equal(msaddr, portal.addr, 'the multiserver address is the room\'s')

    // Single use: the façade and the consume both refuse it now.
    await assert.rejects(claim(`${portal.url}/join?token=${encodeURIComponent(t1)}`),
      { message: 'rooms/web: item not found: invite' })
    const again = await L.postJson(portal.url, { id: bob.id, invite: t1 })
    assert.deepEqual(again.json, { status: 'error', error: 'rooms/web: item not found: invite' })

    // The ssb: URI on the /join page, claimed as Manyverse would.
    const page = await L.request(portal.url, `/join?token=${encodeURIComponent(t2)}`)
    assert.equal(page.status, 200)
    assert.match(page.headers['content-type'], /^text\/html/)
    assert.match(page.body, /<svg class="qr"/, 'a QR code')
    const href = /id="claim-invite-uri"[^>]*href="([^"]+)"/.exec(page.body)[1].replace(/&amp;/g, '&')
    assert.match(href, /^ssb:experimental\?action=claim-http-invite&invite=/)
    assert.equal(new URL(href).searchParams.get('invite'), t2)
    assert.equal(await L.inviteClient(bob.id)(href), portal.addr)

    // Members now: the restricted room admits both keys.
    for (const who of [alice, bob]) {
      const r = await metadata(portal, who)
      assert.equal(r.code, 0, `${who.name} refused after claiming: ${r.stderr}`)
      assert.equal(JSON.parse(r.stdout).membership, true)
    }
    assert.equal(L.fixture(db, ['invites']), 'open 0 used 2')

    // Kept across a restart.
    await portal.stop()
    portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'restricted'] })
    const after = await metadata(portal, alice)
    assert.equal(after.code, 0, `alice refused after a restart: ${after.stderr}`)
    assert.equal(JSON.parse(after.stdout).membership, true)
    await assert.rejects(claim(`${portal.url}/join?token=${encodeURIComponent(t1)}`),
      { message: 'rooms/web: item not found: invite' })
  } finally {
    await portal.stop()
  }
})

test('open room: /create-invite makes an invite the client claims; community refuses', async () => {
  const dir = L.scratch('open')
  const room = L.identity(dir, 'room')
  const admin = L.identity(dir, 'admin')
  const carol = L.identity(dir, 'carol')
  const db = path.join(dir, 'room.db')
  let portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'open'] })
  try {
    // No admin in the store: nobody to record the invite for.
    const none = await L.request(portal.url, '/create-invite', { method: 'POST', headers: { Accept: 'application/json' } })
    assert.equal(none.status, 503)
    assert.equal(none.json.error, 'roomdb: no admin user available to associate invite to')
    await portal.stop()
    L.fixture(db, ['member', admin.id, 'admin'])
    portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'open'] })
    const r = await L.request(portal.url, '/create-invite', { method: 'POST', headers: { Accept: 'application/json' } })
    assert.equal(r.status, 200)
    assert.match(r.json.url, new RegExp(`^${portal.url}/join\\?token=[A-Za-z0-9_-]{67}=$`))
    assert.equal(await L.inviteClient(carol.id)(r.json.url), portal.addr)
    assert.equal(L.fixture(db, ['role', carol.id]), 'member')
    // The HTML form on the landing page posts here.
    const land = await L.request(portal.url, '/')
    assert.match(land.body, /<form method="post" action="\/create-invite">/)
    const html = await L.request(portal.url, '/create-invite', { method: 'POST' })
    assert.equal(html.status, 200)
    assert.match(html.body, /id="invite-url" href="http:\/\/127\.0\.0\.1:\d+\/join\?token=/)
    await portal.stop()

    portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'community'] })
    const c = await L.request(portal.url, '/create-invite', { method: 'POST', headers: { Accept: 'application/json' } })
    assert.equal(c.status, 403)
    assert.deepEqual(c.json, { status: 'failed', error: 'roomdb: privacy mode not set to open but ModeCommunity' })
    assert.doesNotMatch((await L.request(portal.url, '/')).body, /create-invite/)
    assert.equal(L.fixture(db, ['invites']), 'open 1 used 1', 'nothing made in community mode (one from the HTML form, one claimed)')
  } finally {
    await portal.stop()
  }
})
