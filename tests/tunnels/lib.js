// Shared plumbing for the tunnel matrix tests: fairway and the JS peers as
// child processes (each killed by pid in the after hooks), a TCP sink
// service that hashes what arrives, a TCP sender that hashes what it sends.
'use strict'

const { spawn } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { bulkStream } = require('./bulkbytes')

// run.sh exports FAIRWAY_BIN=<BUILD_DIR>/fairway; by hand, default to ../../build.
const FAIRWAY = process.env.FAIRWAY_BIN || path.resolve(__dirname, '..', '..', 'build', 'fairway')
const PEERS = path.join(__dirname, 'peers')

// The network key of every peer in these tests: sha256("fairway-tunnels").
// Never the main network's, so a stray peer cannot reach real SSB nodes.
const CAPS = crypto.createHash('sha256').update('fairway-tunnels').digest('base64')

const MiB = 1 << 20
const BULK = 64 * MiB

function scratch (tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fairway-tunnels-${tag}-`))
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Rejects after ms, so nothing awaited can hang a test.
function deadline (promise, ms, what) {
  let t
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((resolve, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)
    })
  ])
}

// ---- child processes ------------------------------------------------------

// Every child of this test file, so after() can kill the leftovers by pid.
const children = new Set()

class Proc {
  constructor (name, cmd, args, env) {
    this.name = name
    this.out = ''
    this.err = ''
    this.lines = []
    this.waiters = []
    this.child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    this.pid = this.child.pid
    children.add(this)
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        children.delete(this)
        this.exit = { code, signal }
        this.check()
        resolve(this.exit)
      })
    })
    this.child.on('error', (e) => { this.err += `spawn error: ${e.message}\n` })
    this.child.stdin.on('error', () => {})
    this.child.stdout.on('data', (d) => {
      this.out += d
      let nl
      while ((nl = this.out.indexOf('\n')) >= 0) {
        const line = this.out.slice(0, nl)
        this.out = this.out.slice(nl + 1)
        let json = null
        try { json = JSON.parse(line) } catch (_) {}
        this.lines.push({ line, json })
      }
      this.check()
    })
    this.child.stderr.on('data', (d) => { this.err += d; this.check() })
  }

  alive () {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  check () {
    for (const w of this.waiters.slice()) w()
  }

  // Resolves the first stdout line (from index `from`) for which pred(line,
  // json) is true; rejects when the process exits first or after ms.
  waitLine (pred, ms, what, from = 0) {
    return deadline(new Promise((resolve, reject) => {
      const w = () => {
        for (let i = from; i < this.lines.length; i++) {
          const l = this.lines[i]
          if (pred(l.line, l.json)) {
            this.waiters = this.waiters.filter((x) => x !== w)
            resolve(l.json || l.line)
            return
          }
        }
        if (this.exit) {
          this.waiters = this.waiters.filter((x) => x !== w)
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before ${what}\n` +
            `stderr:\n${this.err.slice(-3000)}`))
        }
      }
      this.waiters.push(w)
      w()
    }), ms, `${this.name}: ${what}\nstderr:\n${this.err.slice(-3000)}`)
  }

  // Resolves when stderr matches re.
  waitErr (re, ms, what) {
    return deadline(new Promise((resolve, reject) => {
      const w = () => {
        const m = re.exec(this.err)
        if (m) {
          this.waiters = this.waiters.filter((x) => x !== w)
          resolve(m)
        } else if (this.exit) {
          this.waiters = this.waiters.filter((x) => x !== w)
          reject(new Error(`${this.name} exited before ${what}`))
        }
      }
      this.waiters.push(w)
      w()
    }), ms, `${this.name}: ${what}\nstderr:\n${this.err.slice(-3000)}`)
  }

  kill (sig = 'SIGKILL') {
    if (this.alive()) {
      try { process.kill(this.pid, sig) } catch (_) {}
    }
    return this.exited
  }

  // SIGTERM, then SIGKILL after ms.
  async stop (ms = 3000) {
    if (!this.alive()) return this.exited
    try { process.kill(this.pid, 'SIGTERM') } catch (_) {}
    const t = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL') } catch (_) {} }, ms)
    const r = await this.exited
    clearTimeout(t)
    return r
  }
}

async function killAll () {
  await Promise.all([...children].map((p) => p.kill('SIGKILL')))
}

// ---- fairway --------------------------------------------------------------

function fairwayEnv (dir) {
  return { HOME: dir, FAIRWAY_HOME: path.join(dir, '.fairway') }
}

// Runs a short fairway command to completion (SIGKILL after ms).
function fairwayRun (dir, args, ms = 20000) {
  return new Promise((resolve) => {
    const p = new Proc('fairway ' + args[0], FAIRWAY, args, fairwayEnv(dir))
    const t = setTimeout(() => p.kill(), ms)
    p.exited.then((exit) => {
      clearTimeout(t)
      resolve({ ...exit, stdout: p.lines.map((l) => l.line).join('\n'), stderr: p.err })
    })
  })
}

// A fresh identity in dir/NAME.secret; resolves {secret, id}.
async function keygen (dir, name) {
  const secret = path.join(dir, name + '.secret')
  const r = await fairwayRun(dir, ['keygen', '--secret', secret])
  if (r.code !== 0) throw new Error(`fairway keygen: ${r.stderr}`)
  const id = await fairwayRun(dir, ['id', '--secret', secret])
  return { secret, id: id.stdout.trim() }
}

async function fairwayPortal (dir, name = 'portal', extra = []) {
  const { secret, id } = await keygen(dir, name)
  const p = new Proc('fairway portal', FAIRWAY,
    ['portal', '--listen', '127.0.0.1:0', '--secret', secret, '--caps', CAPS, ...extra], fairwayEnv(dir))
  const addr = await p.waitLine((l) => l.startsWith('net:'), 10000, 'address line')
  const m = /^net:127\.0\.0\.1:(\d+)~shs:(.+)$/.exec(addr)
  return { proc: p, addr, id, host: '127.0.0.1', port: Number(m[1]) }
}

// services: {NAME: port}. Resolves {proc, addr, id} once announced.
async function fairwayHost (dir, portal, who, services = {}) {
  const args = ['host', '--portal', portal.addr, '--secret', who.secret, '--caps', CAPS]
  for (const [name, port] of Object.entries(services)) args.push('--expose', `${name}=127.0.0.1:${port}`)
  const p = new Proc('fairway host', FAIRWAY, args, fairwayEnv(dir))
  const addr = await p.waitLine((l) => l.startsWith('tunnel:'), 15000, 'tunnel address')
  return { proc: p, addr, id: who.id }
}

// fairway connect … -L 127.0.0.1:PORT:SERVICE; resolves {proc, port} once forwarding.
async function fairwayConnect (dir, tunAddr, portal, who, service) {
  const port = await freePort()
  const p = new Proc('fairway connect', FAIRWAY,
    ['connect', tunAddr, '--portal', portal.addr, '--secret', who.secret, '--caps', CAPS,
      '-L', `127.0.0.1:${port}:${service}`], fairwayEnv(dir))
  await p.waitLine((l) => l.startsWith('forwarding'), 15000, 'forwarding line')
  return { proc: p, port }
}

// One call through a tunnel; resolves the parsed result (throws on failure).
async function fairwayCall (dir, tunAddr, portal, who, method, args) {
  const argv = ['call', `${portal.addr};${tunAddr}`, method]
  if (args !== undefined) argv.push(JSON.stringify(args))
  argv.push('--secret', who.secret, '--caps', CAPS)
  const r = await fairwayRun(dir, argv)
  if (r.code !== 0) throw new Error(`fairway call ${method}: exit ${r.code} ${r.signal || ''}\n${r.stderr}`)
  return JSON.parse(r.stdout)
}

// ---- JS peers -------------------------------------------------------------

let cmdSeq = 0

// kind: 'ssb-tunnel' or 'room'. cfg goes to the peer as JSON (plus caps,
// path). Resolves the Proc once the peer printed its ready line; .id is
// its feed id, .cmd(obj, ms) sends a command and resolves its result.
async function jsPeer (dir, kind, name, cfg, env = {}) {
  const full = { caps: CAPS, path: path.join(dir, name), secret: path.join(dir, name + '.js-secret'), ...cfg }
  fs.mkdirSync(full.path, { recursive: true })
  const script = path.join(PEERS, kind === 'room' ? 'room-peer.js' : 'ssb-tunnel-peer.js')
  const p = new Proc(`${kind} ${name}`, process.execPath, [script, JSON.stringify(full)], env)
  const ready = await p.waitLine((l, j) => j && j.event === 'ready', 15000, 'ready')
  p.id = ready.id
  p.secret = full.secret
  p.cmd = (obj, ms = 60000) => {
    const id = ++cmdSeq
    const from = p.lines.length
    p.child.stdin.write(JSON.stringify({ ...obj, id }) + '\n')
    return p.waitLine((l, j) => j && j.id === id && (j.event === 'result' || j.event === 'error'),
      ms, `${obj.cmd} result`, from).then((j) => {
      if (j.event === 'error') throw new Error(`${p.name}: ${obj.cmd}: ${j.error}`)
      return j.value
    })
  }
  return p
}

// ---- bulk bytes -------------------------------------------------------------

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

// A TCP service that hashes each connection's bytes until EOF. .port;
// .received: bytes of all connections so far; .next(): resolves
// {bytes, sha256, error, prefix} of the next connection to end; prefix:
// what came is a byte-exact prefix of the bulk stream (bulkbytes.js), as
// every bulk sender sends, whole or cut short by a kill.
function sinkService () {
  const done = []
  const waiters = []
  const sink = { received: 0, conns: new Set() }
  const srv = net.createServer((sock) => {
    sink.conns.add(sock)
    const hash = crypto.createHash('sha256')
    const expect = bulkStream()
    let bytes = 0
    let error = null
    let prefix = true
    sock.on('data', (b) => {
      hash.update(b)
      if (prefix && !expect.next(b.length).equals(b)) prefix = false
      bytes += b.length
      sink.received += b.length
    })
    sock.on('error', (e) => { error = e.message })
    sock.on('close', () => {
      sink.conns.delete(sock)
      const r = { bytes, sha256: hash.digest('hex'), error, prefix }
      const w = waiters.shift()
      if (w) w(r)
      else done.push(r)
    })
  })
  sink.ready = new Promise((resolve) => srv.listen(0, '127.0.0.1', () => {
    sink.port = srv.address().port
    resolve(sink)
  }))
  sink.next = () => new Promise((resolve) => {
    const r = done.shift()
    if (r) resolve(r)
    else waiters.push(resolve)
  })
  sink.close = () => {
    for (const s of sink.conns) s.destroy()
    return new Promise((resolve) => srv.close(() => resolve()))
  }
  return sink
}

// Connects to 127.0.0.1:port and writes `bytes` bytes of the bulk stream with
// backpressure, then half-closes. Returns {sock, done}: done resolves
// {bytes, sha256, error} of what was written once the last byte is handed
// to the kernel (or the socket dies). It does not wait for the far end to
// close: JS targets never answer the END (peers/common.js). The caller
// destroys sock when done.
function tcpSend (port, bytes, onProgress) {
  const hash = crypto.createHash('sha256')
  const stream = bulkStream()
  let sent = 0
  let error = null
  const sock = net.connect(port, '127.0.0.1')
  sock.setNoDelay(true)
  sock.on('data', () => {})
  const done = new Promise((resolve) => {
    const finish = () => resolve({ bytes: sent, sha256: hash.digest('hex'), error })
    sock.on('error', (e) => { error = e.message })
    sock.once('finish', finish)
    sock.once('close', () => { if (!sock.writableFinished) finish() })
  })
  function pump () {
    while (sent < bytes) {
      const b = stream.next(Math.min(65536, bytes - sent))
      hash.update(b)
      sent += b.length
      if (onProgress) onProgress(sent)
      if (!sock.write(b)) {
        sock.once('drain', pump)
        return
      }
    }
    sock.end()
  }
  sock.on('connect', pump)
  return { sock, done }
}

// Waits until fn() is true, polling every 20 ms.
async function until (fn, ms, what) {
  const t0 = Date.now()
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(20)
  }
}

module.exports = {
  FAIRWAY, CAPS, MiB, BULK, scratch, sleep, deadline, Proc, killAll, keygen, fairwayRun,
  fairwayPortal, fairwayHost, fairwayConnect, fairwayCall, jsPeer, freePort, sinkService,
  tcpSend, until
}
