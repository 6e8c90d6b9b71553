#!/usr/bin/env node
// Load generator: N announced idle hosts on one portal, each on its own TCP
// connection with its own key (raw secret-handshake 1.1.21 + muxrpc 6.7.3
// from tests/interop/node_modules, no secret-stack: a fairway host process
// per host would be far too heavy). Then tunnel set-ups per second: one
// origin connection opens tunnel.connect to random announced hosts, which
// answer by echoing the duplex; a set-up counts when the first byte comes
// back through the portal (the splice, without an inner handshake).
//
//   node bench/tunnel/hosts.js 'net:127.0.0.1:PORT~shs:KEY' CAPS_B64 N [SETUPS] [PORTAL_PID]
//
// Mind `ulimit -n` (N sockets here and N at the portal).
'use strict'

const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { createRequire } = require('node:module')

const req = createRequire(path.resolve(__dirname, '..', '..', 'tests', 'interop', 'package.json'))
const shs = req('secret-handshake')
const muxrpc = req('muxrpc')
const pull = req('pull-stream')
const toPull = req('stream-to-pull-stream')
const sodium = req('sodium-native')

const [addr, capsB64, nArg, setupsArg, pidArg] = process.argv.slice(2)
const m = /^net:([^:]+):(\d+)~shs:(.+)$/.exec(addr)
const portal = { host: m[1], port: Number(m[2]), key: Buffer.from(m[3], 'base64') }
const appKey = Buffer.from(capsB64, 'base64')
const N = Number(nArg || 1000)
const SETUPS = Number(setupsArg || 1000)
const portalPid = pidArg ? Number(pidArg) : null

function keypair () {
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(64)
  sodium.crypto_sign_keypair(publicKey, secretKey)
  return { publicKey, secretKey }
}

function idOf (pk) {
  return '@' + pk.toString('base64') + '.ed25519'
}

function rssKiB (pid) {
  const r = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return r ? Number(r[1]) : 0
}

const remoteManifest = { tunnel: { announce: 'async', connect: 'duplex' } }
const localManifest = { tunnel: { connect: 'duplex' }, gossip: { ping: 'duplex' } }

// One session to the portal; api: what the portal may call on us.
function session (keys, api) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(portal.port, portal.host)
    sock.setNoDelay(true)
    sock.on('error', reject)
    const stream = toPull.duplex(sock)
    const client = shs.createClient(keys, appKey, 15000)(portal.key, (err, secure) => {
      if (err) { reject(err); return }
      const rpc = muxrpc(remoteManifest, localManifest, api, idOf(portal.key), null, null, true)
      const rs = rpc.createStream(() => {})
      pull(secure, rs, secure)
      resolve({ rpc, sock })
    })
    pull(stream, client, stream)
  })
}

// A host answers tunnel.connect with an echo of the duplex.
const hostApi = {
  tunnel: {
    connect () {
      const buf = []
      let waiting = null
      let ended = null
      return {
        source (abort, cb) {
          if (abort) { cb(abort); return }
          if (buf.length) cb(null, buf.shift())
          else if (ended) cb(ended)
          else waiting = cb
        },
        sink (read) {
          read(null, function next (end, data) {
            if (end) { ended = end; if (waiting) { const w = waiting; waiting = null; w(end) } return }
            if (waiting) { const w = waiting; waiting = null; w(null, data) } else buf.push(data)
            read(null, next)
          })
        }
      }
    }
  },
  gossip: { ping () { return pull.values([]) } }
}

async function main () {
  const ids = []
  const t0 = Date.now()
  const rss0 = portalPid ? rssKiB(portalPid) : 0
  let next = 0
  let failed = 0
  async function worker () {
    while (next < N) {
      next++
      const keys = keypair()
      try {
        const { rpc } = await session(keys, hostApi)
        await new Promise((resolve, reject) => rpc.tunnel.announce((err) => (err ? reject(err) : resolve())))
        ids.push(idOf(keys.publicKey))
      } catch (e) {
        failed++
        if (failed < 5) console.error('host failed:', e.message)
      }
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  const secs = (Date.now() - t0) / 1000
  console.log(`${ids.length} hosts announced (${failed} failed) in ${secs.toFixed(1)} s = ${(ids.length / secs).toFixed(0)} connections+handshakes+announces per second`)
  if (portalPid) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const rss = rssKiB(portalPid)
    console.log(`portal RSS ${(rss0 / 1024).toFixed(1)} MiB before, ${(rss / 1024).toFixed(1)} MiB with ${ids.length} hosts: ` +
      `${((rss - rss0) / ids.length).toFixed(2)} KiB per host`)
  }

  // Tunnel set-ups through the portal, 16 in flight.
  const origin = await session(keypair(), {})
  let done = 0
  let bad = 0
  const t1 = process.hrtime.bigint()
  async function setupWorker () {
    while (done + bad < SETUPS) {
      const target = ids[Math.floor(Math.random() * ids.length)]
      try {
        await new Promise((resolve, reject) => {
          const d = origin.rpc.tunnel.connect({ target, portal: idOf(portal.key) }, () => {})
          const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10000)
          // One item, then nothing (no END: the portal would end the whole
          // tunnel before the echo comes back).
          let sentHello = false
          pull((abort, cb) => {
            if (abort) cb(abort)
            else if (!sentHello) { sentHello = true; cb(null, Buffer.from('hello')) }
          }, d.sink)
          d.source(null, (end, data) => {
            clearTimeout(timer)
            if (end) reject(end === true ? new Error('ended') : end)
            else resolve(data)
            d.source(true, () => {})
          })
        })
        done++
      } catch (e) {
        bad++
        if (bad < 5) console.error('set-up failed:', e.message || e)
      }
    }
  }
  await Promise.all(Array.from({ length: 16 }, setupWorker))
  const s2 = Number(process.hrtime.bigint() - t1) / 1e9
  console.log(`${done} tunnel set-ups (${bad} failed) in ${s2.toFixed(2)} s = ${(done / s2).toFixed(0)} per second (origin → portal → host echo, first byte back)`)
  if (portalPid) console.log(`portal RSS after set-ups ${(rssKiB(portalPid) / 1024).toFixed(1)} MiB`)
  process.exit(0)
}

main().catch((e) => { console.error(e); process.exit(1) })
