// Shared plumbing for the interop tests: where the fairway binary is, the
// test network key, running fairway as a child process (always with a
// deadline, always killed by pid), and scratch directories.
'use strict'

const { spawn } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

// run.sh exports FAIRWAY_BIN=<BUILD_DIR>/fairway; by hand, default to ../../build.
const FAIRWAY = process.env.FAIRWAY_BIN ||
  path.resolve(__dirname, '..', '..', 'build', 'fairway')

// A network key of our own so these peers can never talk to the real SSB
// network by accident: sha256("fairway-interop"), base64.
const TEST_CAPS = crypto.createHash('sha256').update('fairway-interop').digest('base64')
// The main network's key (ssb-caps), fairway's default.
const MAIN_CAPS = require('ssb-caps').shs

// Every fairway child still running, by pid. Tests stop their own children
// (finally/after); this is the backstop for a test that timed out or a test
// file the runner killed: killAll() runs in each file's after() hook, at
// exit, and on SIGTERM/SIGINT (how node --test stops a file that overran).
const children = new Map()

function track (child) {
  children.set(child.pid, child)
  child.on('close', () => children.delete(child.pid))
  return child
}

function killAll () {
  for (const pid of children.keys()) {
    try { process.kill(pid, 'SIGKILL') } catch (_) {}
  }
  children.clear()
}

// Scratch directories not yet removed (removed at exit at the latest).
const scratchDirs = new Set()

function removeDir (dir) {
  fs.rmSync(dir, { recursive: true, force: true })
  scratchDirs.delete(dir)
}

process.on('exit', () => {
  killAll()
  for (const dir of scratchDirs) removeDir(dir)
})
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(1))   // runs the 'exit' handler above
}

// Fresh scratch directory, removed by the returned cleanup function.
function tmpDir (tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fairway-interop-${tag}-`))
  scratchDirs.add(dir)
  return { dir, cleanup: () => removeDir(dir) }
}

// The environment every fairway child gets: its own HOME/FAIRWAY_HOME so a
// developer's ~/.fairway is never read or written.
function childEnv (home) {
  return { ...process.env, HOME: home, FAIRWAY_HOME: path.join(home, '.fairway') }
}

// Runs fairway to completion. Resolves {code, signal, stdout, stderr}; a
// run that outlives timeoutMs is SIGKILLed (and reported as timedOut) so a
// hang shows up as a failed assertion, not a stuck suite.
function runFairway (args, { home, timeoutMs = 12000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(FAIRWAY, args, {
      env: childEnv(home || os.tmpdir()),
      stdio: ['ignore', 'pipe', 'pipe']
    }))
    let stdout = ''
    let stderr = ''
    let timedOut = false
    // Decode as a stream: a UTF-8 character may straddle two chunks.
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => {
      timedOut = true
      try { process.kill(child.pid, 'SIGKILL') } catch (_) {}
    }, timeoutMs)
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

// Starts `fairway portal --listen 127.0.0.1:0` and waits for its address
// line. Returns {child, addr, key, stderr(), stop()}; stop() sends SIGTERM,
// waits for the exit (SIGKILL after 5 s) and resolves the exit code.
function startPortal ({ home, secret, caps, extra = [], readyMs = 10000 } = {}) {
  const args = ['portal', '--listen', '127.0.0.1:0']
  if (secret) args.push('--secret', secret)
  if (caps) args.push('--caps', caps)
  args.push(...extra)
  return new Promise((resolve, reject) => {
    const child = track(spawn(FAIRWAY, args, {
      env: childEnv(home),
      stdio: ['ignore', 'pipe', 'pipe']
    }))
    let out = ''
    let err = ''
    let settled = false
    const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
    const handle = {
      child,
      stderr: () => err,
      exited,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          try { process.kill(child.pid, 'SIGTERM') } catch (_) {}
        }
        const t = setTimeout(() => {
          try { process.kill(child.pid, 'SIGKILL') } catch (_) {}
        }, 5000)
        const r = await exited
        clearTimeout(t)
        return r
      }
    }
    const fail = (why) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      try { process.kill(child.pid, 'SIGKILL') } catch (_) {}
      reject(new Error(`fairway portal: ${why}\nstderr:\n${err}`))
    }
    const timer = setTimeout(() => fail(`no address line within ${readyMs} ms`), readyMs)
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => { err += d })
    child.stdout.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl < 0 || settled) return
      settled = true
      clearTimeout(timer)
      handle.addr = out.slice(0, nl)
      const m = /^net:127\.0\.0\.1:(\d+)~shs:([A-Za-z0-9+/]{43}=)$/.exec(handle.addr)
      if (!m) {
        try { process.kill(child.pid, 'SIGKILL') } catch (_) {}
        reject(new Error(`unexpected address line '${handle.addr}'`))
        return
      }
      handle.port = Number(m[1])
      handle.key = m[2]
      resolve(handle)
    })
    child.on('error', (e) => fail(e.message))
    child.on('close', (code, signal) => fail(`exited early (code ${code}, signal ${signal})`))
  })
}

// A free TCP port on 127.0.0.1 (for JS servers, whose multiserver would
// otherwise pick a random one without telling us whether it is free).
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

// Rejects after ms with a message, so awaited callbacks cannot hang a test.
function withTimeout (promise, ms, what) {
  let t
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((resolve, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    })
  ])
}

// Makes a Node callback-style call awaitable.
function cbPromise (fn) {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))))
}

module.exports = {
  FAIRWAY, TEST_CAPS, MAIN_CAPS, tmpDir, childEnv, runFairway, startPortal,
  freePort, withTimeout, cbPromise, killAll
}
