// Plumbing shared by the JS peer programs (ssb-tunnel-peer.js, room-peer.js).
//
// A peer is a separate node process the tests can SIGKILL. It takes its
// config as one JSON argument, prints events as JSON lines on stdout
// ({"event": …}) and takes commands as JSON lines on stdin
// ({"cmd": …, "id": n}); every command ends with a {"event":"result"|"error",
// "id": n} line. SIGTERM closes the sbot and exits 0.
//
// This file loads no SSB package itself: each peer passes the pull-stream
// of its own stack, because the two stacks live in different node_modules.
'use strict'

const crypto = require('node:crypto')
const net = require('node:net')
const readline = require('node:readline')
const { bulkStream } = require('../bulkbytes')

// ---- sockets: NODELAY and backpressure ----------------------------------

// multiserver never sets TCP_NODELAY (interop.md: ~88 ms idle round trips
// through a tunnel from delayed ACKs). With NODELAY=1 in the environment
// every socket this process opens or accepts gets it. All sockets are also
// tracked so a bulk source can wait for them to drain.
const sockets = new Set()
const NODELAY = process.env.NODELAY === '1'

function track (sock) {
  if (sockets.has(sock)) return
  sockets.add(sock)
  if (NODELAY) sock.setNoDelay(true)
  sock.once('close', () => sockets.delete(sock))
}

const serverEmit = net.Server.prototype.emit
net.Server.prototype.emit = function (ev, sock, ...rest) {
  if (ev === 'connection' && sock instanceof net.Socket) track(sock)
  return serverEmit.call(this, ev, sock, ...rest)
}
const socketConnect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  track(this)
  return socketConnect.apply(this, args)
}

// Calls cb once no socket of this process has more queued than its high
// water mark. muxrpc has no flow control: without this a bulk source would
// be read as fast as the CPU allows and everything would pile up in memory
// in front of the socket (interop.md: 12 GB). stream-to-pull-stream stops
// taking from muxrpc's queue while its socket needs a drain, so a socket
// that does not need one means the queue in front of it is empty too.
function whenDrained (cb) {
  for (const s of sockets) {
    if (!s.destroyed && s.writableNeedDrain) {
      let done = false
      const again = () => {
        if (done) return
        done = true
        s.removeListener('drain', again)
        s.removeListener('close', again)
        whenDrained(cb)
      }
      s.once('drain', again)
      s.once('close', again)
      return
    }
  }
  setImmediate(cb)
}

// ---- output ---------------------------------------------------------------

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function errText (err) {
  if (!err) return String(err)
  return err.message || String(err)
}

// ---- pull-streams over TCP --------------------------------------------------

// A pull-stream duplex over a net.Socket, with backpressure both ways:
// the source pauses the socket when more than 1 MiB waits for the reader,
// the sink waits for 'drain'.
//
// muxrpc 6.7.3 (pull-weird) aborts the local source as soon as the remote
// END arrives, while the items before that END may still be queued for
// our sink (it has no flow control: a fast sender gets far ahead). So a
// clean abort (true) only stops the source; the socket is ended by the
// sink once everything queued has been written. Destroying it there lost
// the last ~60 MiB of a 64 MiB transfer.
function socketDuplex (sock) {
  const queue = []
  let queued = 0
  let ended = null // true or an Error once the socket has ended
  let waiting = null

  function deliver () {
    if (!waiting) return
    if (queue.length > 0) {
      const cb = waiting
      waiting = null
      const b = queue.shift()
      queued -= b.length
      if (queued < (256 << 10)) sock.resume()
      cb(null, b)
    } else if (ended) {
      const cb = waiting
      waiting = null
      cb(ended)
    }
  }
  sock.on('data', (b) => {
    if (b.length === 0) return
    queue.push(b)
    queued += b.length
    if (queued > (1 << 20)) sock.pause()
    deliver()
  })
  sock.on('end', () => { ended = ended || true; deliver() })
  sock.on('error', (e) => { ended = ended || e; deliver() })
  sock.on('close', () => { ended = ended || true; deliver() })

  return {
    source (abort, cb) {
      if (abort) {
        ended = ended || abort
        queue.length = 0
        if (abort !== true) sock.destroy()
        cb(abort)
        return
      }
      waiting = cb
      deliver()
    },
    sink (read) {
      // Writes while the socket still connects are buffered by node; a
      // full buffer then waits for 'drain' like any other.
      function next () {
        let loop = true
        while (loop) {
          loop = false
          let sync = true
          read(null, (end, data) => {
            if (end === true) { sock.end(); return }
            if (end) { sock.destroy(); return }
            if (sock.destroyed) { read(true, () => {}); return }
            if (sock.write(data) === false) sock.once('drain', next)
            else if (sync) loop = true
            else next()
          })
          sync = false
        }
      }
      next()
    }
  }
}

// ---- the plugins every JS target serves -------------------------------------

// matrix.caller: who the muxrpc layer thinks is calling (the inner SHS id).
// forward.connect({service}): the same byte pipe as fairway host's — the
// duplex is spliced to a TCP connection to services[service].
function plugins (services) {
  const matrix = {
    name: 'matrix',
    version: '1.0.0',
    manifest: { caller: 'async' },
    permissions: { anonymous: { allow: ['caller'] } },
    init () {
      return {
        caller (cb) { cb(null, this.id) }
      }
    }
  }
  const forward = {
    name: 'forward',
    version: '1.0.0',
    manifest: { connect: 'duplex' },
    permissions: { anonymous: { allow: ['connect'] } },
    init () {
      return {
        connect (opts) {
          const svc = services[opts && opts.service]
          if (!svc) {
            const err = new Error('no such service: ' + (opts && opts.service))
            return { source: (abort, cb) => cb(err), sink: (read) => read(err, () => {}) }
          }
          emit({ event: 'forward', from: this.id, service: opts.service })
          const sock = net.connect(svc.port, svc.host)
          sock.on('error', () => {})
          return socketDuplex(sock)
        }
      }
    }
  }
  return [matrix, forward]
}

// ---- bulk sender ---------------------------------------------------------

// Sends `bytes` bytes of the bulk stream (../bulkbytes.js; 64 KiB items) into the sink of `duplex` and
// drains its source. Resolves {bytes, sha256, peakRss} once everything was
// handed to the sockets: not when the other side ENDs, because a JS
// muxrpc 6.7.3 target never answers an END on a duplex (pull-weird drops
// its reply), and not by closing the session, which could cut bytes still
// queued at the target. The caller keeps the session until the receiver
// has confirmed. Progress lines every 8 MiB let a test kill a peer mid-way.
function bulkSend (pull, duplex, bytes, id) {
  const hash = crypto.createHash('sha256')
  const stream = bulkStream()
  let sent = 0
  let nextMark = 8 << 20
  let peakRss = process.memoryUsage().rss
  return new Promise((resolve, reject) => {
    let failed = null
    function source (abort, cb) {
      if (abort) { cb(abort); return }
      if (failed) { cb(failed); return }
      if (sent >= bytes) {
        cb(true)
        whenDrained(() => resolve({ bytes: sent, sha256: hash.digest('hex'), peakRss }))
        return
      }
      whenDrained(() => {
        const n = Math.min(65536, bytes - sent)
        const b = stream.next(n)
        hash.update(b)
        sent += n
        if (sent >= nextMark) {
          nextMark += 8 << 20
          const rss = process.memoryUsage().rss
          if (rss > peakRss) peakRss = rss
          emit({ event: 'progress', id, sent, rss })
        }
        cb(null, b)
      })
    }
    pull(source, duplex.sink)
    pull(duplex.source, pull.drain(() => {}, (err) => {
      if (err && err !== true && sent < bytes) {
        failed = err
        reject(err)
      }
    }))
  })
}

// ---- command loop -------------------------------------------------------------

// handlers: {name: async (msg) => value}. Each command answers with a
// result or error line carrying its id.
function commandLoop (handlers) {
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', async (line) => {
    let msg
    try {
      msg = JSON.parse(line)
    } catch (e) {
      emit({ event: 'error', error: 'bad command line: ' + line })
      return
    }
    const fn = handlers[msg.cmd]
    if (!fn) {
      emit({ event: 'error', id: msg.id, error: 'unknown command ' + msg.cmd })
      return
    }
    try {
      emit({ event: 'result', id: msg.id, value: await fn(msg) })
    } catch (e) {
      emit({ event: 'error', id: msg.id, error: errText(e) })
    }
  })
}

// SIGTERM/SIGINT: close(cb) then exit 0; a close that hangs is cut short.
function onTerm (close) {
  const stop = () => {
    setTimeout(() => process.exit(0), 2000).unref()
    try {
      close(() => process.exit(0))
    } catch (_) {
      process.exit(0)
    }
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

// A callback API as a promise with a deadline.
function cbp (fn, ms, what) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    fn((err, v) => {
      clearTimeout(t)
      if (err) reject(err)
      else resolve(v)
    })
  })
}

// The commands both peers answer the same way, given how a peer opens a
// session (dial(addr) → rpc), what names it for closing (handleOf(rpc,
// addr)) and how it closes one (closeRpc(handle)):
//   call  msg.method ("ns.fn") with msg.args on a fresh session, timed
//   bulk  msg.bytes into forward.connect({service}); the session stays
//         open (see bulkSend) until a 'close' command
//   close every session bulk left open
function sessionCommands (pull, dial, handleOf, closeRpc) {
  const open = new Set()
  return {
    async call (msg) {
      const rpc = await dial(msg.addr)
      try {
        const [ns, fn] = msg.method.split('.')
        const t0 = process.hrtime.bigint()
        const value = await cbp((cb) => rpc[ns][fn](...(msg.args || []), cb), 10000, msg.method)
        const ms = Number(process.hrtime.bigint() - t0) / 1e6
        return { value, remoteId: rpc.id, ms }
      } finally {
        await closeRpc(handleOf(rpc, msg.addr))
      }
    },
    async bulk (msg) {
      const rpc = await dial(msg.addr)
      open.add(handleOf(rpc, msg.addr))
      const t0 = Date.now()
      const duplex = rpc.forward.connect({ service: msg.service }, () => {})
      const r = await bulkSend(pull, duplex, msg.bytes, msg.id)
      return { ...r, ms: Date.now() - t0 }
    },
    async close () {
      const all = [...open]
      open.clear()
      await Promise.all(all.map(closeRpc))
      return all.length
    }
  }
}

function keyOf (id) {
  return id.slice(1, id.indexOf('.ed25519'))
}

module.exports = {
  emit, errText, plugins, bulkSend, commandLoop, onTerm, cbp, sessionCommands, keyOf, whenDrained, NODELAY
}
