// Alias resolution over HTTP: /alias/NAME, /NAME and Host NAME.<domain>,
// JSON (rooms2-server.md §2.4) and HTML with the consume-alias link; bad
// names, unknown names and a restricted room.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const L = require('./lib')

test('alias JSON and HTML, three ways to ask; bad and unknown names; restricted room', async () => {
  const dir = L.scratch('alias')
  const room = L.identity(dir, 'room')
  const alice = L.identity(dir, 'alice')
  const db = path.join(dir, 'room.db')
  L.fixture(db, ['member', alice.id])
  L.fixture(db, ['alias', 'alice', alice.secret], { ROOM_ID: room.id })
  let portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'community'] })
  try {
    const port = new URL(portal.url).port
    const want = {
      status: 'successful',
      multiserverAddress: portal.addr,
      roomId: room.id,
      userId: alice.id,
      alias: 'alice'
    }
    for (const [p, host] of [['/alias/alice', null], ['/alice', null], ['/', 'alice.127.0.0.1'],
      ['/', `ALICE.127.0.0.1:${port}`]]) {
      const r = await L.request(portal.url, `${p}?encoding=json`, { headers: host ? { Host: host } : {} })
      assert.equal(r.status, 200, p)
      assert.equal(r.headers['content-type'], 'application/json')
      const { signature, ...rest } = r.json
      assert.deepEqual(rest, want, `${p} ${host}`)
      assert.match(signature, /^[A-Za-z0-9+/]{86}==$/, 'standard base64, no suffix')
      // What ssb-room-client checks before it dials.
      const body = `=room-alias-registration:${room.id}:${alice.id}:alice`
      assert.ok(L.ssbKeys.verify(alice.id, signature + '.sig.ed25519', body), 'signature verifies')
    }
    const page = await L.request(portal.url, '/alias/alice')
    assert.equal(page.status, 200)
    assert.match(page.body, /<svg class="qr"/)
    const href = /id="alias-uri"[^>]*href="([^"]+)"/.exec(page.body)[1].replace(/&amp;/g, '&')
    const u = new URL(href)
    assert.equal(u.protocol, 'ssb:')
    assert.deepEqual([...u.searchParams.keys()],
      ['action', 'alias', 'multiserverAddress', 'roomId', 'signature', 'userId'])
    assert.equal(u.searchParams.get('action'), 'consume-alias')
    assert.equal(u.searchParams.get('multiserverAddress'), portal.addr)
    assert.equal(u.searchParams.get('userId'), alice.id)
    assert.match(u.searchParams.get('signature'), /^[A-Za-z0-9_-]{86}==$/, 'URL-safe base64')

    // Chrome on Android gets the intent:// form of the same link.
    const android = await L.request(portal.url, '/alias/alice', {
      headers: { 'User-Agent': 'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36' }
    })
    const ahref = /id="alias-uri"[^>]*href="([^"]+)"/.exec(android.body)[1].replace(/&amp;/g, '&')
    assert.equal(ahref, href.replace(/^ssb:experimental\?/, 'intent://experimental?') + '#Intent;scheme=ssb;end;')

    for (const name of ['Alice', 'a-b', 'x'.repeat(64), 'al%20ice']) {
      const r = await L.request(portal.url, `/alias/${name}?encoding=json`)
      assert.equal(r.status, 200, name)
      assert.equal(r.json.status, 'error', name)
      assert.match(r.json.error, /^aliases: invalid alias name ".*": 1 to 63 of a-z and 0-9$/, name)
      assert.equal((await L.request(portal.url, `/alias/${name}`)).status, 400, name)
      assert.equal((await L.request(portal.url, `/${name}`)).status, 404, name)
    }
    const empty = await L.request(portal.url, '/alias/?encoding=json')
    assert.match(empty.json.error, /^aliases: invalid alias name/)
    const unknown = await L.request(portal.url, '/alias/bob?encoding=json')
    assert.deepEqual(unknown.json, { status: 'error', error: 'aliases: failed to resolve name "bob": roomdb: object not found' })
    assert.equal((await L.request(portal.url, '/alias/bob')).status, 404)
    assert.equal((await L.request(portal.url, '/alias/alice', { method: 'POST' })).status, 405)
    await portal.stop()

    portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'restricted'] })
    const r = await L.request(portal.url, '/alias/alice?encoding=json')
    assert.deepEqual(r.json, { status: 'error', error: 'this room is restricted, alias resolving is turned off' })
    assert.equal((await L.request(portal.url, '/alice')).status, 403)
  } finally {
    await portal.stop()
  }
})

test('landing page: name, description, notices, privacy mode, how to join; --public-url in links', async () => {
  const dir = L.scratch('land')
  const room = L.identity(dir, 'room')
  const db = path.join(dir, 'room.db')
  L.fixture(db, ['text', 'name', 'Hackers <&> Friends'])
  L.fixture(db, ['text', 'description', 'A room for\nfriends'])
  L.fixture(db, ['text', 'notice.code-of-conduct', 'Be kind.'])
  const portal = await L.startPortal({
    dir, secret: room.secret, db,
    extra: ['--privacy', 'community', '--public-url', 'https://Room.Example/']
  })
  try {
    const r = await L.request(portal.url, '/')
    assert.equal(r.status, 200)
    assert.match(r.headers['content-type'], /^text\/html; charset=utf-8/)
    assert.match(r.body, /<h1>Hackers &lt;&amp;&gt; Friends<\/h1>/)
    assert.match(r.body, /A room for<br>\nfriends/)
    assert.match(r.body, /<h2>Code of conduct<\/h2><p>Be kind\.<\/p>/)
    assert.match(r.body, /data-mode="community"/)
    assert.match(r.body, /Ask a member of this room for an invite link/)
    assert.match(r.body, /<meta name="viewport"/)
    assert.match(r.body, /<link rel="stylesheet" href="\/style.css">/)
    assert.doesNotMatch(r.body, /<script/)
    const key = portal.addr.split('~shs:')[1]
    const sshPort = portal.addr.split(':')[2].split('~')[0]
    assert.match(r.body, new RegExp(`net:room\\.example:${sshPort}~shs:${key.replace(/[+/]/g, '\\$&')}`))
    const css = await L.request(portal.url, '/style.css')
    assert.match(css.headers['content-type'], /^text\/css/)
    // Links use the public URL; the alias domain is its host.
    const t = L.fixture(db, ['invite'])
    const j = await L.request(portal.url, `/join?token=${encodeURIComponent(t)}&encoding=json`)
    assert.equal(j.json.postTo, 'https://Room.Example/invite/consume')
    const c = await L.postJson(portal.url, { id: room.id, invite: t })
    assert.match(c.json.multiserverAddress, /^net:room\.example:\d+~shs:/)
    const sub = await L.request(portal.url, '/?encoding=json', { headers: { Host: 'nobody.room.example' } })
    assert.match(sub.json.error, /failed to resolve name "nobody"/)
  } finally {
    await portal.stop()
  }
})

test('start-up errors: --http without --db, bad --http, bad --public-url: exit 2 with the reason', async () => {
  const dir = L.scratch('cfg')
  const room = L.identity(dir, 'room')
  const db = path.join(dir, 'room.db')
  const base = ['portal', '--listen', '127.0.0.1:0', '--secret', room.secret, '--ctl', 'none']
  for (const [extra, msg] of [
    [['--http', '127.0.0.1:0'], /--http needs the room database \(--db FILE\)/],
    [['--db', db, '--http', 'nowhere'], /--http wants HOST:PORT/],
    [['--db', db, '--http', 'example.org:80'], /--http: 'example.org' is not a numeric IPv4 or IPv6 address/],
    [['--db', db, '--http', '127.0.0.1:0', '--public-url', 'ftp://x'], /--public-url: 'ftp:\/\/x' does not start with http:\/\/ or https:\/\//],
    [['--db', db, '--http', '127.0.0.1:0', '--public-url', 'https://x/?a=1'], /--public-url: .*a base URL cannot have/]
  ]) {
    const r = await L.runFairway([...base, ...extra])
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, msg)
  }
})
