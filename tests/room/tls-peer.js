// The client side of tests/room/nginx.test.js, run as its own process so
// that NODE_EXTRA_CA_CERTS (read by Node only at start) makes the test's
// self-signed certificate trusted, as a real CA's would be:
//
//   node tls-peer.js claim URL FEED_ID
//       the real ssb-http-invite-client 1.0.1 claims the invite URL;
//       prints {"address": multiserver address}
//   node tls-peer.js ws 'wss://HOST:PORT~shs:KEY' SECRET_FILE
//       secret-stack 6 with multiserver's ws transport (the JS stack of
//       ../interop) connects over wss://, calls whoami and tunnel.isRoom,
//       announces itself and reads room.attendants; prints what it saw.
//
// One JSON line on stdout; on failure {"error": …} and exit 1.
'use strict'

const path = require('node:path')
const { createRequire } = require('node:module')

const SSB_CAPS = '1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=' // the main network's (the portal's default)

function done (obj, code = 0) {
  process.stdout.write(JSON.stringify(obj) + '\n')
  process.exit(code)
}
const fail = (err) => done({ error: String(err && err.message ? err.message : err) }, 1)
const cb2p = (f) => new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))))

async function claim (url, id) {
  const { inviteClient } = require('./lib')
  done({ address: await inviteClient(id)(url) })
}

async function ws (addr, secret) {
  const jsRequire = createRequire(path.join(__dirname, '..', 'interop', 'package.json'))
  const SecretStack = jsRequire('secret-stack')
  const WS = jsRequire('multiserver/plugins/ws')
  const ssbKeys = require('ssb-keys')
  const keys = ssbKeys.loadSync(secret)
  const node = SecretStack({ caps: { shs: SSB_CAPS } })
    .use({ name: 'multiserver-ws', version: '1.0.0', init (api) { api.multiserver.transport({ name: 'ws', create: (o) => WS(o) }) } })
    .use({ manifest: { whoami: 'async', room: { attendants: 'source' }, tunnel: { isRoom: 'async', announce: 'async' } }, init: () => ({}) })({
      keys,
      path: path.dirname(secret),
      timers: { inactivity: -1, handshake: 8000 },
      connections: { incoming: {}, outgoing: { ws: [{ transform: 'shs' }] } }
    })
  const rpc = await cb2p((cb) => node.connect(addr, cb))
  const who = await cb2p((cb) => rpc.whoami(cb))
  // many calls: box-stream frames cut into WebSocket messages by
  // pull-websocket, re-framed by nginx, read back by the portal
  const rooms = await Promise.all(Array.from({ length: 100 }, () => cb2p((cb) => rpc.tunnel.isRoom(cb))))
  await cb2p((cb) => rpc.tunnel.announce(cb))
  const first = await new Promise((resolve, reject) => {
    rpc.room.attendants()(null, (end, item) => (end ? reject(end === true ? new Error('attendants ended') : end) : resolve(item)))
  })
  const out = { whoami: who.id, isRoom: rooms.filter((r) => r !== false && r !== undefined).length, attendants: first }
  node.close(true, () => done(out))
  setTimeout(() => done(out), 2000).unref()
}

const [cmd, a, b] = process.argv.slice(2)
setTimeout(() => fail(`${cmd}: no answer within 20 s`), 20000).unref()
if (cmd === 'claim') claim(a, b).catch(fail)
else if (cmd === 'ws') ws(a, b).catch(fail)
else fail(`usage: tls-peer.js claim URL ID | ws ADDR SECRET (got '${cmd}')`)
