// The browser peer, bundled by esbuild in browser.test.js: the JS SSB
// stack's own modules (secret-handshake + pull-box-stream + muxrpc over
// pull-ws), crypto from chloride's browser path (sodium-browserify →
// libsodium-wrappers, libsodium compiled to wasm/JS; no native code).
//
//   page ──ws://portal── SHS(room) ── muxrpc tunnel.connect({portal,target})
//        └─ SHS(host) inside it ── muxrpc forward.connect({service}) ── bytes
//
// window.fairwayRun(cfg) resolves {n, sha256, ms, id} (the sha computed
// here, with WebCrypto).
const pull = require('pull-stream')
const sodium = require('chloride')
const shs = require('secret-handshake')
const muxrpc = require('muxrpc')
const wsDuplex = require('pull-ws/duplex')

const b64 = (id) => Buffer.from(id.replace(/^@/, '').replace(/\.ed25519$/, ''), 'base64')
const say = (t) => { document.getElementById('log').textContent += t + '\n' }

// libsodium's wasm loads asynchronously; until then sodium-browserify
// answers with tweetnacl. Wait for the real one.
const sodiumReady = new Promise((resolve) => {
  const sb = require('sodium-browserify')
  if (!sb.events) throw new Error('sodium-browserify without its load event: not the libsodium build')
  sb.events.once('sodium-browserify:wasm loaded', resolve)
})

// SHS client over a pull duplex; resolves the box-stream duplex.
function handshake (keys, caps, remoteId, transport) {
  return new Promise((resolve, reject) => {
    const client = shs.createClient(keys, caps, 15000)
    const hs = client(b64(remoteId), (err, stream) => err ? reject(err) : resolve(stream))
    pull(transport, hs, transport)
  })
}

function rpcOver (stream, manifest) {
  const rpc = muxrpc(manifest, {})({})
  const s = rpc.createStream()
  pull(stream, s, stream)
  return rpc
}

window.fairwayRun = async function (cfg) {
  await sodiumReady
  say('libsodium ready')
  const kp = sodium.crypto_sign_keypair()
  const keys = { publicKey: kp.publicKey, secretKey: kp.secretKey }
  const id = '@' + Buffer.from(kp.publicKey).toString('base64') + '.ed25519'
  say('me ' + id)
  const caps = Buffer.from(cfg.caps, 'base64')

  // the page's own WebSocket, wrapped as multiserver's ws plugin does
  // (pull-ws/duplex; its client.js only adds URL guessing)
  const ws = new WebSocket(cfg.wsUrl)
  ws.binaryType = 'arraybuffer'
  const sock = wsDuplex(ws, { binary: true })
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve)
    ws.addEventListener('error', () => reject(new Error('WebSocket error on ' + cfg.wsUrl)))
  })
  say('ws open ' + cfg.wsUrl)
  const room = rpcOver(await handshake(keys, caps, cfg.room, sock),
    { tunnel: { connect: 'duplex' } })
  say('room handshake done')
  const tunnel = room.tunnel.connect({ portal: cfg.room, target: cfg.host }, () => {})
  const host = rpcOver(await handshake(keys, caps, cfg.host, tunnel),
    { forward: { connect: 'duplex' } })
  say('host handshake done')

  const t0 = performance.now()
  const chunks = []
  let n = 0
  // our side sends nothing and stays open until the service ends
  let held = null
  const quiet = (abort, cb) => { if (abort) { if (held) held(abort); return cb(abort) } held = cb }
  const f = host.forward.connect({ service: cfg.service }, () => {})
  pull(quiet, f.sink)
  await new Promise((resolve, reject) => pull(f.source, pull.drain((c) => {
    chunks.push(c); n += c.length
  }, (err) => { if (held) { const h = held; held = null; h(true) } err && err !== true ? reject(err) : resolve() })))
  const ms = performance.now() - t0
  const all = new Uint8Array(n)
  let o = 0
  for (const c of chunks) { all.set(c, o); o += c.length }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all))
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
  say(`received ${n} bytes in ${ms.toFixed(0)} ms\nsha256 ${sha256}`)
  room.close(() => {})
  return { n, sha256, ms, id }
}
