#!/usr/bin/env node
// An ssb-tunnel 2.0.0 peer (secret-stack 6.4.2 + ssb-gossip 1.1.1, from
// tests/interop/node_modules) in one of three roles:
//
//   portal  listens on 127.0.0.1:port; prints {"event":"listening","address":"net:…~shs:…"}
//   target  announces itself at cfg.portal; prints {"event":"announced","address":"tunnel:…"};
//           serves matrix.caller and forward.connect (peers/common.js)
//   client  dials tunnel addresses on command: {"cmd":"call"|"bulk", …} on stdin
//
// Usage: node ssb-tunnel-peer.js '<json config>'
//   {role, caps (base64), secret (file), path (dir), port?, portal?: {host, port, id},
//    services?: {NAME: {host, port}}, logging?}
// Every incoming session is reported as {"event":"rpc-connect","id","address"}:
// `id` is what the inner handshake proved, `address` is ssb-tunnel's label
// (protocol.md §7.3: it names the portal twice, the seed's bug).
'use strict'

const path = require('node:path')
const { createRequire } = require('node:module')
const C = require('./common')

const req = createRequire(path.resolve(__dirname, '..', '..', 'interop', 'package.json'))
const SecretStack = req('secret-stack')
const ssbKeys = req('ssb-keys')
const pull = req('pull-stream')

const cfg = JSON.parse(process.argv[2])
const keys = ssbKeys.loadOrCreateSync(cfg.secret)

// ssb-gossip expects an ssb-db underneath; these are the four things it
// touches. Without a name the methods land on the sbot itself; without a
// manifest nobody can call them remotely (secret-stack still makes them
// hookable, which ssb-gossip needs for status).
const dbStub = {
  init () {
    return {
      status: () => ({}),
      ready: () => true,
      post: () => {},
      messagesByType: () => pull.empty()
    }
  }
}

const incoming = {}
if (cfg.role === 'portal') {
  incoming.net = [{ host: '127.0.0.1', port: cfg.port, scope: 'device', transform: 'shs' }]
} else if (cfg.role === 'target') {
  incoming.tunnel = [{ scope: 'public', transform: 'shs', portal: cfg.portal.id }]
}

let stack = SecretStack({ caps: { shs: cfg.caps } })
  .use(dbStub)
  .use(req('ssb-gossip'))
  .use(req('ssb-tunnel'))
for (const p of C.plugins(cfg.services || {})) stack = stack.use(p)

const sbot = stack({
  keys,
  path: cfg.path,
  host: '127.0.0.1',
  port: cfg.port,
  timers: { inactivity: -1, handshake: 15000 },
  gossip: { pub: false, autoPopulate: false },
  tunnel: { logging: !!cfg.logging },
  connections: {
    incoming,
    outgoing: { net: [{ transform: 'shs' }], tunnel: [{ transform: 'shs' }] }
  }
})

C.onTerm((cb) => sbot.close(true, cb))

sbot.on('rpc:connect', (rpc, isClient) => {
  if (!isClient) C.emit({ event: 'rpc-connect', id: rpc.id, address: rpc.stream && rpc.stream.address })
  rpc.on('closed', (err) => C.emit({ event: 'rpc-closed', id: rpc.id, isClient, error: err ? C.errText(err) : null }))
})

// ssb-gossip crashes on a plain address string: add the portal as an object.
if (cfg.portal) {
  sbot.gossip.add({ host: cfg.portal.host, port: cfg.portal.port, key: cfg.portal.id }, 'manual')
}

C.emit({ event: 'ready', id: sbot.id, pid: process.pid, nodelay: C.NODELAY })

if (cfg.role === 'portal') {
  sbot.once('multiserver:listening', () => {
    C.emit({ event: 'listening', address: sbot.getAddress('device') })
  })
} else if (cfg.role === 'target') {
  sbot.on('tunnel:listening', () => {
    C.emit({
      event: 'announced',
      address: `tunnel:${cfg.portal.id}:${sbot.id}:0~shs:${C.keyOf(sbot.id)}`
    })
  })
}

// ---- client commands ----

function dial (addr) {
  return C.cbp((cb) => sbot.connect(addr, cb), 20000, 'connect ' + addr)
}

function closeRpc (rpc) {
  return new Promise((resolve) => rpc.close(true, () => resolve()))
}

C.commandLoop({
  ...C.sessionCommands(pull, dial, (rpc) => rpc, closeRpc),
  // n tunnel.ping round trips on one tunnel, msg.interval ms apart.
  async pings (msg) {
    const rpc = await dial(msg.addr)
    try {
      const rtts = []
      for (let i = 0; i < msg.count; i++) {
        const t0 = process.hrtime.bigint()
        await C.cbp((cb) => rpc.tunnel.ping(cb), 10000, 'tunnel.ping')
        rtts.push(Number(process.hrtime.bigint() - t0) / 1e6)
        if (msg.interval) await new Promise((resolve) => setTimeout(resolve, msg.interval))
      }
      return { rtts }
    } finally {
      await closeRpc(rpc)
    }
  }
})
