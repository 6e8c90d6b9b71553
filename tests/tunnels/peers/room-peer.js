#!/usr/bin/env node
// A Rooms 2.0 peer as Manyverse runs it: secret-stack 6.4.1 + ssb-conn
// 6.0.4 + ssb-room-client 2.0.2 (from tests/tunnels/rooms/node_modules).
// It connects to the room with ssb.conn.connect (ssb-room-client only sees
// rooms connected through ssb-conn), which calls room.metadata and
// subscribes room.attendants; then, in either role:
//
//   target  waits until the room lists it as an attendant, prints
//           {"event":"announced","address":"tunnel:ROOM:SELF~shs:KEY"};
//           serves matrix.caller and forward.connect (peers/common.js)
//   client  dials tunnel addresses on command ({"cmd":"call"|"bulk", …})
//
// Usage: node room-peer.js '<json config>'
//   {role, caps, secret, path, portal: {host, port, id}, services?}
'use strict'

const path = require('node:path')
const { createRequire } = require('node:module')
const C = require('./common')

const req = createRequire(path.resolve(__dirname, '..', 'rooms', 'package.json'))
const SecretStack = req('secret-stack')
const ssbKeys = req('ssb-keys')
const pull = req('pull-stream')

const cfg = JSON.parse(process.argv[2])
const keys = ssbKeys.loadOrCreateSync(cfg.secret)

let stack = SecretStack({ caps: { shs: cfg.caps } })
  .use(req('ssb-conn'))
  .use(req('ssb-room-client'))
for (const p of C.plugins(cfg.services || {})) stack = stack.use(p)

const sbot = stack({
  keys,
  path: cfg.path,
  timers: { inactivity: -1, handshake: 15000 },
  conn: { autostart: false, populatePubs: false },
  connections: {
    incoming: { tunnel: [{ scope: 'public', transform: 'shs' }] },
    outgoing: { net: [{ transform: 'shs' }], tunnel: [{ transform: 'shs' }] }
  }
})

C.onTerm((cb) => sbot.close(true, cb))

sbot.on('rpc:connect', (rpc, isClient) => {
  if (!isClient) C.emit({ event: 'rpc-connect', id: rpc.id, address: rpc.stream && rpc.stream.address })
})

C.emit({ event: 'ready', id: sbot.id, pid: process.pid, nodelay: C.NODELAY })

const portalAddr = `net:${cfg.portal.host}:${cfg.portal.port}~shs:${C.keyOf(cfg.portal.id)}`

// The room observer ssb-room-client made for our portal, once it has
// recognised it as a room (room.metadata) and subscribed its attendants.
function observer () {
  const rooms = sbot.tunnel.getRoomsMap()
  return rooms.get(cfg.portal.id)
}

async function joinRoom () {
  await C.cbp((cb) => sbot.conn.connect(portalAddr, cb), 15000, 'conn.connect to the room')
  const t0 = Date.now()
  for (;;) {
    const obs = observer()
    // The state event lists the subscriber itself: then we are reachable.
    if (obs && (cfg.role !== 'target' || obs.attendants.has(sbot.id))) return obs
    if (Date.now() - t0 > 15000) throw new Error('the room never listed us as an attendant')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

joinRoom().then(() => {
  C.emit({ event: 'joined', room: cfg.portal.id })
  if (cfg.role === 'target') {
    C.emit({
      event: 'announced',
      address: `tunnel:${cfg.portal.id}:${sbot.id}~shs:${C.keyOf(sbot.id)}`
    })
  }
}, (err) => {
  C.emit({ event: 'fatal', error: C.errText(err) })
  process.exit(1)
})

// ---- client commands ----

function dial (addr) {
  return C.cbp((cb) => sbot.conn.connect(addr, cb), 20000, 'conn.connect ' + addr)
}

// ssb-conn closes a session by its address
function closeRpc (addr) {
  return new Promise((resolve) => sbot.conn.disconnect(addr, () => resolve()))
}

C.commandLoop(C.sessionCommands(pull, dial, (rpc, addr) => addr, closeRpc))
