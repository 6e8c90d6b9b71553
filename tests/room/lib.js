// Plumbing for the room server tests (tests/room): a fairway portal with a
// room database and its web server, the fixture tool that sets the
// database up through the store API (room_fixture, built beside fairway),
// and raw HTTP requests. Every child has a deadline and is killed by pid.
'use strict'

const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')

const FAIRWAY = process.env.FAIRWAY_BIN ||
  path.resolve(__dirname, '..', '..', 'build-test', 'fairway')
const FIXTURE = path.join(path.dirname(FAIRWAY), 'room_fixture')
const ssbKeys = require('ssb-keys')

const children = new Map()
process.on('exit', () => { for (const pid of children.keys()) try { process.kill(pid, 'SIGKILL') } catch (_) {} })
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(1))

function scratch (tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fairway-room-${tag}-`))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

// An identity as an ssb-keys secret file (fairway reads those too).
function identity (dir, name) {
  const secret = path.join(dir, name, 'secret')
  fs.mkdirSync(path.dirname(secret), { recursive: true })
  const keys = ssbKeys.createSync(secret)
  return { name, secret, keys, id: keys.id }
}

// room_fixture DB ARGS… → stdout (trimmed); throws on a non-zero exit.
function fixture (db, args, env = {}) {
  return execFileSync(FIXTURE, [db, ...args], {
    encoding: 'utf8', timeout: 10000, env: { ...process.env, ...env }
  }).trim()
}

// `fairway portal --db DB --http 127.0.0.1:0 …`: resolves once both lines
// (net: address, http:// URL) are out.
function startPortal ({ dir, secret, db, extra = [], readyMs = 10000 }) {
  const args = ['portal', '--listen', '127.0.0.1:0', '--secret', secret, '--db', db,
    '--http', '127.0.0.1:0', '--ctl', 'none', ...extra]
  return new Promise((resolve, reject) => {
    const child = spawn(FAIRWAY, args, {
      env: { ...process.env, HOME: dir, FAIRWAY_HOME: path.join(dir, '.fairway') },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    children.set(child.pid, child)
    let out = ''; let err = ''; let settled = false
    const exited = new Promise((resolve) => child.on('close', (code, signal) => {
      children.delete(child.pid); resolve({ code, signal })
    }))
    const fail = (why) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      try { process.kill(child.pid, 'SIGKILL') } catch (_) {}
      reject(new Error(`fairway portal: ${why}\nstderr:\n${err}`))
    }
    const timer = setTimeout(() => fail(`no address lines within ${readyMs} ms`), readyMs)
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => { err += d })
    child.stdout.on('data', (d) => {
      out += d
      // net:, ws:// (and wss:// with an https public URL), then http://
      const lines = out.split('\n')
      const at = lines.findIndex((l, i) => i < lines.length - 1 && l.startsWith('http://'))
      if (at < 0 || settled) return
      settled = true
      clearTimeout(timer)
      const [addr, ws] = lines
      const url = lines[at]
      if (!/^net:127\.0\.0\.1:\d+~shs:[A-Za-z0-9+/]{43}=$/.test(addr) ||
          !/^ws:\/\/127\.0\.0\.1:\d+~shs:[A-Za-z0-9+/]{43}=$/.test(ws) ||
          !/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) {
        try { process.kill(child.pid, 'SIGKILL') } catch (_) {}
        reject(new Error(`unexpected address lines '${addr}' '${url}'`))
        return
      }
      const wss = lines.slice(2, at).find((l) => l.startsWith('wss://'))
      resolve({
        child, addr, ws, wss, url, exited,
        stderr: () => err,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            try { process.kill(child.pid, 'SIGTERM') } catch (_) {}
          }
          const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch (_) {} }, 5000)
          const r = await exited
          clearTimeout(t)
          return r
        }
      })
    })
    child.on('close', (code, signal) => fail(`exited early (code ${code}, signal ${signal})`))
  })
}

// fairway ARGS… to completion with a deadline.
function runFairway (args, { timeoutMs = 12000, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(FAIRWAY, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    children.set(child.pid, child)
    let stdout = ''; let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch (_) {} }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(t); children.delete(child.pid)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

// One raw HTTP request. Resolves {status, headers, body, json}.
function request (base, pathname, { method = 'GET', headers = {}, body } = {}) {
  const u = new URL(pathname, base)
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, timeout: 10000
    }, (res) => {
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { data += d })
      res.on('end', () => {
        let json
        if ((res.headers['content-type'] || '').startsWith('application/json')) {
          try { json = JSON.parse(data) } catch (_) {}
        }
        resolve({ status: res.statusCode, headers: res.headers, body: data, json })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname}: timeout`)))
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

const postJson = (base, body, ctype = 'application/json') =>
  request(base, '/invite/consume', {
    method: 'POST',
    headers: { 'Content-Type': ctype, Accept: 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })

// The real ssb-http-invite-client 1.0.1 plugin, with the SSB instance it
// needs reduced to what it reads (ssb.id): its claim() does the HTTP.
function inviteClient (id) {
  const plugin = require('ssb-http-invite-client')
  const api = plugin.init({ id }, {})
  return (uri) => new Promise((resolve, reject) =>
    api.claim(uri, (err, addr) => (err ? reject(err) : resolve(addr))))
}

module.exports = {
  FAIRWAY, scratch, identity, fixture, startPortal, runFairway, request, postJson, inviteClient, ssbKeys
}
