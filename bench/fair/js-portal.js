#!/usr/bin/env node
// The JS ssb-tunnel 2.0.0 portal for bench/fair: the same stack as
// tests/tunnels/peers/ssb-tunnel-peer.js in its portal role (secret-stack
// 6.4.2 + ssb-gossip 1.1.1 + ssb-tunnel 2.0.0 from tests/interop/node_modules),
// but listening on any address (setting (b) puts it in a network namespace
// at 10.200.50.1). TCP_NODELAY on every socket comes from peers/common.js
// when NODELAY=1 is in the environment.
//
// Usage: node js-portal.js '{"caps":B64,"secret":FILE,"path":DIR,"host":IP,"port":N}'
// Prints {"event":"listening","address":"net:IP:PORT~shs:…"}; SIGTERM closes it.
'use strict'

const path = require('node:path')
const { createRequire } = require('node:module')
const C = require('../../tests/tunnels/peers/common')

const req = createRequire(path.resolve(__dirname, '..', '..', 'tests', 'interop', 'package.json'))
const SecretStack = req('secret-stack')
const ssbKeys = req('ssb-keys')
const pull = req('pull-stream')

const cfg = JSON.parse(process.argv[2])
const keys = ssbKeys.loadOrCreateSync(cfg.secret)

// ssb-gossip wants an ssb-db underneath: the four things it touches.
const dbStub = {
  init () {
    return { status: () => ({}), ready: () => true, post: () => {}, messagesByType: () => pull.empty() }
  }
}

const sbot = SecretStack({ caps: { shs: cfg.caps } })
  .use(dbStub)
  .use(req('ssb-gossip'))
  .use(req('ssb-tunnel'))({
    keys,
    path: cfg.path,
    host: cfg.host,
    port: cfg.port,
    timers: { inactivity: -1, handshake: 15000 },
    gossip: { pub: false, autoPopulate: false },
    connections: {
      incoming: { net: [{ host: cfg.host, port: cfg.port, scope: 'public', transform: 'shs' }] },
      outgoing: { net: [{ transform: 'shs' }] }
    }
  })

C.onTerm((cb) => sbot.close(true, cb))
sbot.once('multiserver:listening', () => {
  C.emit({ event: 'listening', address: sbot.getAddress('public'), pid: process.pid })
})
