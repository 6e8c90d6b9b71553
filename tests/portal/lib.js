// Plumbing for the portal tests (membership, privacy, limits, policy file,
// reload, control socket). Builds on ../interop/helpers.js (fairway as a
// child process with a deadline, killed by pid) and borrows its pinned JS
// stack (secret-stack 6.4.2, ssb-keys, secret-handshake) from
// ../interop/node_modules.
'use strict'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { createRequire } = require('node:module')
const { spawn } = require('node:child_process')
const H = require('../interop/helpers')

// Resolve JS packages from the interop test directory's node_modules.
const jsRequire = createRequire(path.join(__dirname, '..', 'interop', 'package.json'))
const pull = jsRequire('pull-stream')
const SecretStack = jsRequire('secret-stack')
const ssbKeys = jsRequire('ssb-keys')
const shs = jsRequire('secret-handshake')
const toPull = jsRequire('stream-to-pull-stream')

const CAPS = H.TEST_CAPS
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// An identity written as an ssb-keys secret file (fairway reads those),
// so the same key can be used by fairway children and JS clients.
function identity (dir, name) {
  const secret = path.join(dir, name, 'secret')
  fs.mkdirSync(path.dirname(secret), { recursive: true })
  const keys = ssbKeys.createSync(secret)
  return { name, secret, keys, id: keys.id }
}

// One scratch directory per test file, with a few named identities.
function scratch (tag, names = []) {
  const t = H.tmpDir(tag)
  const ids = {}
  for (const n of names) ids[n] = identity(t.dir, n)
  return { dir: t.dir, cleanup: t.cleanup, ids, home: t.dir }
}

// Starts a portal with the test network key; the control socket goes
// beside the secret unless extra says otherwise.
function portal (s, secret, extra = []) {
  return H.startPortal({ home: s.home, secret, caps: CAPS, extra })
}

// fairway ARGS… with the test network key where the command takes one.
function fw (s, args, timeoutMs = 12000) {
  return H.runFairway(args, { home: s.home, timeoutMs })
}

function call (s, addr, method, { secret, args, source = false, timeout = 6000 } = {}) {
  const argv = ['call', addr, method]
  if (args !== undefined) argv.push(JSON.stringify(args))
  if (source) argv.push('--source')
  if (secret) argv.push('--secret', secret)
  argv.push('--caps', CAPS, '--timeout', String(timeout))
  return fw(s, argv, timeout + 6000)
}

// fairway info --json through the control socket beside secret (or --ctl).
async function info (s, { secret, ctl } = {}) {
  const argv = ['info', '--json']
  if (ctl) argv.push('--ctl', ctl)
  else argv.push('--secret', secret)
  const r = await fw(s, argv)
  assert.equal(r.code, 0, `fairway info failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

// Polls fn() until it returns a truthy value; fails with what after ms.
async function waitFor (fn, ms, what) {
  const until = Date.now() + ms
  let last
  for (;;) {
    last = await fn()
    if (last) return last
    if (Date.now() > until) throw new Error(`${what}: not true within ${ms} ms`)
    await sleep(100)
  }
}

// Waits until the portal's stderr matches re (stderr can lag stdout).
function waitLog (p, re, ms = 3000) {
  return waitFor(() => re.test(p.stderr()), ms, `log ${re} in:\n${p.stderr()}`)
}

// How many lines of text match re.
function countLines (text, re) {
  return text.split('\n').filter((l) => re.test(l)).length
}

// Waits until the portal's stderr has exactly n lines matching re (and
// checks a moment later that no more came).
async function assertLogLines (p, re, n = 1, ms = 3000) {
  await waitFor(() => countLines(p.stderr(), re) >= n, ms, `log line ${re}`)
  await sleep(150)
  assert.equal(countLines(p.stderr(), re), n, `expected ${n} log line(s) ${re} in:\n${p.stderr()}`)
}

// The portal methods a JS client may call (secret-stack assumes the remote
// manifest is its own; protocol.md §5.7), in a nameless plugin.
const remoteManifest = {
  manifest: {
    whoami: 'async',
    room: { metadata: 'async', attendants: 'source', ping: 'async' },
    tunnel: {
      isRoom: 'async', endpoints: 'source', announce: 'async', leave: 'async',
      ping: 'async', connect: 'duplex'
    }
  },
  init: () => ({})
}

// JS clients made by jsConnect, closed by closeAll().
const jsNodes = []

// A secret-stack client connected to the portal as keys (an identity's
// keys, or a fresh one). Resolves {rpc, node, id, closed}; closed resolves
// when the connection ends.
async function jsConnect (s, addr, keys = ssbKeys.generate()) {
  const node = SecretStack({ caps: { shs: CAPS } }).use(remoteManifest)({
    keys,
    path: path.join(s.dir, 'js-' + jsNodes.length),
    timers: { inactivity: -1, handshake: 5000 },
    connections: { incoming: {}, outgoing: { net: [{ transform: 'shs' }] } }
  })
  jsNodes.push(node)
  const rpc = await H.withTimeout(H.cbPromise((cb) => node.connect(addr, cb)), 8000, 'connect')
  const closed = new Promise((resolve) => rpc.once('closed', () => resolve(Date.now())))
  return { rpc, node, id: keys.id, closed }
}

async function closeAll () {
  while (jsNodes.length) {
    const node = jsNodes.pop()
    await H.withTimeout(H.cbPromise((cb) => node.close(true, cb)), 3000, 'close').catch(() => {})
  }
}

const rpcCall = (fn, ms = 5000, what = 'rpc') => H.withTimeout(H.cbPromise(fn), ms, what)

// The first item of a source (or its error): resolves {item} or {err}.
function firstOf (source, ms = 5000) {
  return H.withTimeout(new Promise((resolve) => {
    let done = false
    pull(source, pull.drain((item) => {
      if (!done) { done = true; resolve({ item }) }
      return false
    }, (err) => { if (!done) { done = true; resolve({ err: err || null }) } }))
  }), ms, 'first item')
}

// A duplex tunnel.connect call whose source is read: resolves
// {ended: Promise<{err, ms}>, abort()} — ended settles when the portal
// (or the target) ends the stream; its err carries the error message.
function openTunnel (rpc, opts) {
  const t0 = Date.now()
  const chunks = []
  // muxrpc reports a duplex's error to its callback (without one it
  // throws "callback not provided"); the source ends too.
  let cbErr
  const args = opts === undefined ? [] : [opts]
  const d = rpc.tunnel.connect(...args, (err) => { cbErr = err })
  let pending = null
  let stopped = false
  // Our side sends nothing and stays open (the sink must not end, or
  // the whole duplex ends).
  const src = (abort, cb) => {
    if (abort || stopped) {
      // Answer a read still waiting too, or the sink never sends its END.
      if (pending) { const p = pending; pending = null; p(abort || true) }
      return cb(abort || true)
    }
    pending = cb
  }
  pull(src, d.sink)
  const ended = new Promise((resolve) => {
    pull(d.source, pull.drain((c) => { chunks.push(c) }, (err) => {
      // The callback may come a tick after the source's end.
      setImmediate(() => resolve({ err: err || cbErr || null, ms: Date.now() - t0 }))
    }))
  })
  return {
    ended,
    chunks,
    abort () {
      stopped = true
      if (pending) { const p = pending; pending = null; p(true) }
    }
  }
}

// A raw TCP connection: resolves {sock, closed, localPort}; closed
// resolves {data, ms} when the portal closes it.
function rawConn (port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    const chunks = []
    const t0 = Date.now()
    const closed = new Promise((resolve) => sock.once('close', () => resolve({ data: Buffer.concat(chunks), ms: Date.now() - t0 })))
    sock.on('data', (d) => chunks.push(d))
    sock.on('error', () => {})
    sock.once('connect', () => resolve({ sock, closed, localPort: sock.localPort }))
    sock.once('error', reject)
  })
}

// A connection the portal refuses at accept: it resets the socket, which
// Node may report before or after 'connect'. Resolves {data, reset, ms}
// once it is gone (data: every byte the server sent, none expected).
function refusedConn (port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    const chunks = []
    const t0 = Date.now()
    let reset = false
    sock.on('data', (d) => chunks.push(d))
    sock.on('error', (e) => { if (e.code === 'ECONNRESET') reset = true })
    sock.once('close', () => resolve({ data: Buffer.concat(chunks), reset, ms: Date.now() - t0 }))
  })
}

const b64 = (id) => Buffer.from(id.replace(/^@/, '').replace(/\.ed25519$/, ''), 'base64')

// Runs the real JS secret-handshake client as keys against the portal and
// counts every byte the server sends. Resolves {ok, err, received}: a
// refused key sees msg2 (64 bytes) and then the close, never msg4.
function shsProbe (port, serverKey, keys) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    let received = 0
    sock.on('data', (d) => { received += d.length })
    sock.on('error', () => {})
    sock.once('connect', () => {
      const client = shs.createClient(
        { publicKey: b64(keys.public), secretKey: b64(keys.private) },
        Buffer.from(CAPS, 'base64'), 5000)
      const hs = client(b64(serverKey), (err, boxed) => {
        if (err) {
          // Let the close land so every byte has been counted.
          sock.once('close', () => resolve({ ok: false, err, received }))
          sock.destroy()
          return
        }
        const got = received
        sock.destroy()
        resolve({ ok: true, received: got })
      })
      pull(hs, toPull.duplex(sock), hs)
    })
  })
}

// Long-running fairway children started here (hosts, pings), by pid.
const longChildren = new Map()

function killChildren () {
  for (const pid of longChildren.keys()) {
    try { process.kill(pid, 'SIGKILL') } catch (_) {}
  }
  longChildren.clear()
  H.killAll()
}
process.on('exit', killChildren)

// Spawns fairway ARGS… in the background. Returns {child, pid, stdout(),
// stderr(), line: Promise<first stdout line>, exited: Promise<{code,
// signal}>, stop()}: stop() sends SIGTERM (SIGKILL after 5 s).
function spawnFairway (s, args) {
  const child = spawn(H.FAIRWAY, args, { env: H.childEnv(s.home), stdio: ['ignore', 'pipe', 'pipe'] })
  longChildren.set(child.pid, child)
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => { err += d })
  const exited = new Promise((resolve) => child.on('close', (code, signal) => {
    longChildren.delete(child.pid)
    resolve({ code, signal })
  }))
  const line = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve(out.slice(0, nl))
    })
    exited.then((r) => reject(new Error(`fairway ${args[0]} exited (${r.code}/${r.signal}) before its first line:\n${err}`)))
  })
  line.catch(() => {})
  return {
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    line,
    exited,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(child.pid, 'SIGTERM') } catch (_) {}
      }
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch (_) {} }, 5000)
      const r = await exited
      clearTimeout(t)
      return r
    }
  }
}

// `fairway host` announced at the portal; resolves the handle with .tunnel
// (its tunnel:…~shs:… address).
async function startHost (s, p, secret) {
  const h = spawnFairway(s, ['host', '--portal', p.addr, '--secret', secret, '--caps', CAPS])
  h.tunnel = await H.withTimeout(h.line, 8000, 'the host announcing itself')
  assert.match(h.tunnel, /^tunnel:@[A-Za-z0-9+/]{43}=\.ed25519:@[A-Za-z0-9+/]{43}=\.ed25519~shs:[A-Za-z0-9+/]{43}=$/)
  return h
}

// Writes a policy file; returns its path.
function policyFile (s, name, text) {
  const f = path.join(s.dir, name)
  fs.writeFileSync(f, text)
  return f
}

module.exports = {
  refusedConn,
  ...H,
  CAPS, pull, ssbKeys, sleep, identity, scratch, portal, fw, call, info, waitFor,
  countLines, waitLog, assertLogLines, jsConnect, closeAll, rpcCall, firstOf, openTunnel, rawConn,
  shsProbe, policyFile, spawnFairway, startHost,
  killAll: killChildren
}
