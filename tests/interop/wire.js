// A hand-driven muxrpc connection: the real secret-handshake 1.1.21 client
// (SHS + box-stream) carrying packet-stream packets that the test writes
// byte by byte, so tests can send what no well-behaved JS peer would
// (malformed JSON, goodbye, a corrupt box-stream frame) and see exactly
// what comes back (protocol.md §5).
'use strict'

const net = require('node:net')
const pull = require('pull-stream')
const shs = require('secret-handshake')
const toPull = require('stream-to-pull-stream')
const ssbKeys = require('ssb-keys')

const b64 = (s) => Buffer.from(s.replace(/\.ed25519$/, ''), 'base64')

// packet-stream header: flags u8, body length u32 BE, req i32 BE.
function encodePacket ({ flags, req, body }) {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')
  const h = Buffer.alloc(9)
  h.writeUInt8(flags, 0)
  h.writeUInt32BE(b.length, 1)
  h.writeInt32BE(req, 5)
  return Buffer.concat([h, b])
}

const GOODBYE = Buffer.alloc(9)

// Connects to 127.0.0.1:port, runs SHS as a fresh identity and resolves
// {id, localPort, send(buf), packet(ms), closed, sock, destroy()}; a
// refused handshake rejects with the error, err.localPort set.
//   packet(ms): the next whole packet {flags, len, req, body, goodbye}
//               (rejects if the stream ends or nothing comes in time)
//   closed:     promise, resolved {err} once the boxed source has ended
function connectRaw (port, serverKey, caps, timeoutMs = 5000) {
  const keys = ssbKeys.generate()
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    sock.on('error', () => {})
    sock.once('connect', () => {
      const localPort = sock.localPort
      const client = shs.createClient(
        { publicKey: b64(keys.public), secretKey: b64(keys.private) },
        Buffer.from(caps, 'base64'), timeoutMs)
      const hs = client(b64(serverKey), (err, boxed) => {
        if (err) {
          sock.destroy()
          // Tell the caller which connection failed (to find the portal's log line).
          return reject(Object.assign(err, { localPort }))
        }
        resolve(wrap(boxed, sock, keys.id, localPort))
      })
      pull(hs, toPull.duplex(sock), hs)
    })
    sock.once('error', reject)
  })
}

function wrap (boxed, sock, id, localPort) {
  // Outgoing: a queue the boxed sink pulls from.
  const queue = []
  let pending = null
  let ended = false
  pull((abort, cb) => {
    if (abort) { ended = true; return cb(abort) }
    if (queue.length) return cb(null, queue.shift())
    if (ended) return cb(true)
    pending = cb
  }, boxed.sink)
  const send = (buf) => {
    if (pending) { const p = pending; pending = null; p(null, buf) } else queue.push(buf)
  }
  const end = () => {
    ended = true
    if (pending) { const p = pending; pending = null; p(true) }
  }

  // Incoming: bytes accumulate; packet() cuts whole packets out of them.
  let buf = Buffer.alloc(0)
  let done = null
  let wake = null
  let closedResolve
  const closed = new Promise((resolve) => { closedResolve = resolve })
  pull(boxed.source, pull.drain((chunk) => {
    buf = Buffer.concat([buf, chunk])
    if (wake) wake()
  }, (err) => {
    done = { err: err || null }
    closedResolve(done)
    if (wake) wake()
  }))

  function tryCut () {
    if (buf.length < 9) return null
    const flags = buf.readUInt8(0)
    const len = buf.readUInt32BE(1)
    const req = buf.readInt32BE(5)
    if (len === 0) {
      // JS packet-stream-codec reads any zero-length header as goodbye.
      buf = buf.subarray(9)
      return { flags, len, req, body: Buffer.alloc(0), goodbye: flags === 0 && req === 0 }
    }
    if (buf.length < 9 + len) return null
    const body = buf.subarray(9, 9 + len)
    buf = buf.subarray(9 + len)
    return { flags, len, req, body, goodbye: false }
  }

  function packet (ms = 5000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { wake = null; reject(new Error(`no packet within ${ms} ms`)) }, ms)
      const check = () => {
        const p = tryCut()
        if (p) { clearTimeout(timer); wake = null; return resolve(p) }
        if (done) {
          clearTimeout(timer); wake = null
          return reject(Object.assign(new Error('stream ended: ' + (done.err ? done.err.message : 'ok')), { ended: true }))
        }
        wake = check
      }
      check()
    })
  }

  return { id, localPort, sock, send, end, packet, closed, destroy: () => sock.destroy() }
}

// Parses a JSON packet body (flags & 3 == 2).
function json (p) {
  return JSON.parse(p.body.toString('utf8'))
}

module.exports = { connectRaw, encodePacket, json, GOODBYE }
