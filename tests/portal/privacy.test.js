// Privacy modes (Rooms 2.0) × member / non-member / denied: who may
// connect, list attendants (room.attendants, tunnel.endpoints), announce
// itself, and what room.metadata says. Every refusal is counted
// (fairway info) and logged once.
'use strict'

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const L = require('./lib')

const NOT_MEMBER = 'external user are not allowed to enumerate members'
const NO_ANNOUNCE = 'only members may announce themselves in this room'
// What `fairway call` says when the server hangs up instead of sending msg4.
const REFUSED = /^fairway call: connection closed before a reply: server hung up after our auth: wrong server key, or it refused us$/m

let s
before(() => { s = L.scratch('privacy', ['room', 'member', 'outsider', 'denied', 'both']) })
after(async () => {
  try { await L.closeAll() } finally { L.killAll(); s.cleanup() }
})

for (const mode of ['open', 'community', 'restricted']) {
  describe(`privacy ${mode}`, () => {
    let p
    const ids = () => s.ids
    before(async () => {
      const { room, member, denied, both } = ids()
      // "both" is a member and denied: the deny list wins.
      p = await L.portal(s, room.secret, [
        '--privacy', mode, '--member', member.id, '--member', both.id,
        '--deny', denied.id, '--deny', both.id, '--ctl', `${s.dir}/ctl-${mode}.sock`
      ])
    })
    after(async () => {
      await L.closeAll()
      if (p) {
        const r = await p.stop()
        assert.equal(r.code, 0, p.stderr())
      }
    })
    const ctl = () => `${s.dir}/ctl-${mode}.sock`
    const counters = async () => (await L.info(s, { ctl: ctl() })).counters

    test('member: connects, whoami answers', { timeout: 15000 }, async () => {
      const r = await L.call(s, p.addr, 'whoami', { secret: ids().member.secret })
      assert.equal(r.code, 0, r.stderr)
      assert.equal(JSON.parse(r.stdout).id, '@' + p.key + '.ed25519')
    })

    test('non-member: ' + (mode === 'restricted' ? 'refused right after the handshake' : 'connects'), { timeout: 15000 }, async () => {
      const before = await counters()
      const r = await L.call(s, p.addr, 'whoami', { secret: ids().outsider.secret })
      const after = await counters()
      if (mode === 'restricted') {
        assert.equal(r.code, 1, r.stderr)
        assert.equal(r.stdout, '')
        assert.match(r.stderr, REFUSED)
        assert.equal(after.refused_not_member, before.refused_not_member + 1)
        await L.assertLogLines(p, new RegExp(`closed: access restricted to members$`), 1)
      } else {
        assert.equal(r.code, 0, r.stderr)
        assert.equal(after.refused_not_member, before.refused_not_member)
      }
      assert.equal(after.refused_denied, before.refused_denied)
    })

    test('denied key: refused after the handshake, counted, one log line', { timeout: 15000 }, async () => {
      const before = await counters()
      const r = await L.call(s, p.addr, 'whoami', { secret: ids().denied.secret })
      assert.equal(r.code, 1, r.stderr)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, REFUSED)
      const after = await counters()
      assert.equal(after.refused_denied, before.refused_denied + 1)
      assert.equal(after.refused_not_member, before.refused_not_member)
      const re = new RegExp(`connection 127\\.0\\.0\\.1:\\d+ ${ids().denied.id.replace(/[+/.]/g, '\\$&')} closed: this key has been banned$`)
      await L.assertLogLines(p, re, 1)
    })

    test('a key that is both member and denied is refused', { timeout: 15000 }, async () => {
      const before = await counters()
      const r = await L.call(s, p.addr, 'whoami', { secret: ids().both.secret })
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, REFUSED)
      assert.equal((await counters()).refused_denied, before.refused_denied + 1)
    })

    test('at the byte level: a refused key gets msg2 and then the close, never msg4', { timeout: 15000 }, async () => {
      const denied = await L.shsProbe(p.port, p.key, ids().denied.keys)
      assert.equal(denied.ok, false)
      assert.equal(denied.received, 64, 'only the 64-byte server hello')
      const outsider = await L.shsProbe(p.port, p.key, ids().outsider.keys)
      if (mode === 'restricted') {
        assert.equal(outsider.ok, false)
        assert.equal(outsider.received, 64)
      } else {
        assert.equal(outsider.ok, true, String(outsider.err))
        assert.ok(outsider.received >= 64 + 80, `msg2 and msg4 arrived (${outsider.received} bytes)`)
      }
      const member = await L.shsProbe(p.port, p.key, ids().member.keys)
      assert.equal(member.ok, true, String(member.err))
      assert.ok(member.received >= 144)
    })

    test('room.metadata: membership for the caller, honest features', { timeout: 15000 }, async () => {
      const features = mode === 'open' ? ['tunnel', 'room2', 'room1'] : ['tunnel', 'room2']
      const r = await L.call(s, p.addr, 'room.metadata', { secret: ids().member.secret })
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(JSON.parse(r.stdout), { name: 'fairway', membership: true, features })
      const iz = await L.call(s, p.addr, 'tunnel.isRoom', { secret: ids().member.secret })
      assert.deepEqual(JSON.parse(iz.stdout), { name: 'fairway', membership: true, features })
      if (mode !== 'restricted') {
        const o = await L.call(s, p.addr, 'room.metadata', { secret: ids().outsider.secret })
        assert.equal(o.code, 0, o.stderr)
        assert.deepEqual(JSON.parse(o.stdout), { name: 'fairway', membership: false, features })
      }
    })

    test('member: room.attendants and tunnel.endpoints list it; announce is true', { timeout: 15000 }, async () => {
      const { rpc, id } = await L.jsConnect(s, p.addr, ids().member.keys)
      const a = await L.firstOf(rpc.room.attendants())
      assert.deepEqual(a, { item: { type: 'state', ids: [id] } })
      const e = await L.firstOf(rpc.tunnel.endpoints())
      assert.deepEqual(e, { item: [id] })
      assert.equal(await L.rpcCall((cb) => rpc.tunnel.announce(cb)), true)
      await L.closeAll()
    })

    if (mode !== 'restricted') {
      test('non-member: attendants, endpoints and announce ' + (mode === 'open' ? 'allowed' : 'refused'), { timeout: 15000 }, async () => {
        const before = await counters()
        const { rpc, id } = await L.jsConnect(s, p.addr, ids().outsider.keys)
        const a = await L.firstOf(rpc.room.attendants())
        const e = await L.firstOf(rpc.tunnel.endpoints())
        const an = await L.rpcCall((cb) => rpc.tunnel.announce((err, v) => cb(null, { err, v })))
        if (mode === 'open') {
          assert.deepEqual(a, { item: { type: 'state', ids: [id] } })
          assert.deepEqual(e, { item: [id] })
          assert.deepEqual(an, { err: null, v: true })
          assert.equal((await counters()).refused_not_member, before.refused_not_member)
        } else {
          assert.equal(a.err && a.err.message, NOT_MEMBER)
          assert.equal(e.err && e.err.message, NOT_MEMBER)
          assert.equal(an.err && an.err.message, NO_ANNOUNCE)
          assert.equal((await counters()).refused_not_member, before.refused_not_member + 3)
          const re = new RegExp(`${id.replace(/[+/.]/g, '\\$&')}: not a member, may not list or join attendants$`)
          await L.assertLogLines(p, re, 3)
          // The outsider did not become an attendant by trying.
          const { rpc: m } = await L.jsConnect(s, p.addr, ids().member.keys)
          assert.deepEqual(await L.firstOf(m.tunnel.endpoints()), { item: [ids().member.id] })
        }
        // The refusals did not end the connection.
        assert.equal(typeof (await L.rpcCall((cb) => rpc.whoami(cb))).id, 'string')
        await L.closeAll()
      })
    }

    test('info names the privacy mode and no one is left connected', { timeout: 15000 }, async () => {
      const i = await L.info(s, { ctl: ctl() })
      assert.equal(i.privacy, mode)
      assert.equal(i.ok, true)
      await L.waitFor(async () => (await L.info(s, { ctl: ctl() })).connections === 0, 5000, 'connections gone')
    })
  })
}
