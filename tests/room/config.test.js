// The web server from the policy file (keys http, public-url), and the
// per-address connection limit on the HTTP port.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const L = require('./lib')

test('policy keys http and public-url; fairway check refuses bad values', async () => {
  const dir = L.scratch('conf')
  const room = L.identity(dir, 'room')
  const db = path.join(dir, 'room.db')
  const pol = path.join(dir, 'portal.conf')
  fs.writeFileSync(pol, '[portal]\nprivacy = community\nhttp = 127.0.0.1:0\npublic-url = https://room.example/\n')
  // startPortal passes --http 127.0.0.1:0 too; the file alone must work:
  // run without it and read the lines ourselves.
  const child = require('node:child_process').spawn(L.FAIRWAY, ['portal', '-c', pol, '--listen', '127.0.0.1:0',
    '--secret', room.secret, '--db', db, '--ctl', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    const lines = await new Promise((resolve, reject) => {
      let out = ''
      const t = setTimeout(() => reject(new Error('no URL line')), 10000)
      child.stdout.on('data', (d) => {
        out += d
        if (/^http:\/\/.*\n/m.test(out)) { clearTimeout(t); resolve(out.split('\n')) }
      })
      child.on('close', (c) => reject(new Error(`exited ${c}`)))
    })
    // net:, then the WebSocket addresses (ws://, and wss:// from the https public URL), then http://
    assert.match(lines[1], /^ws:\/\/127\.0\.0\.1:\d+~shs:/)
    assert.match(lines[2], /^wss:\/\/room\.example~shs:/)
    assert.match(lines[3], /^http:\/\/127\.0\.0\.1:\d+$/)
    const t = L.fixture(db, ['invite'])
    const j = await L.request(lines[3], `/join?token=${encodeURIComponent(t)}&encoding=json`)
    assert.equal(j.json.postTo, 'https://room.example/invite/consume')
  } finally {
    try { process.kill(child.pid, 'SIGKILL') } catch (_) {}
  }
  for (const [line, msg] of [['http = nowhere', /http: expected HOST:PORT/],
    ['public-url = ftp://x', /public-url: expected http:\/\/HOST/],
    ['public-url = https://x/?q=1', /public-url: expected/]]) {
    fs.writeFileSync(pol, `[portal]\n${line}\n`)
    const r = await L.runFairway(['check', pol])
    assert.notEqual(r.code, 0, line)
    assert.match(r.stdout + r.stderr, msg, line)
  }
})

test('--max-conns-per-ip limits HTTP connections from one address', async () => {
  const dir = L.scratch('perip')
  const room = L.identity(dir, 'room')
  const db = path.join(dir, 'room.db')
  const portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--max-conns-per-ip', '2'] })
  const socks = []
  try {
    const u = new URL(portal.url)
    const open = () => new Promise((resolve) => {
      const s = net.connect(Number(u.port), u.hostname, () => resolve(s))
      s.on('error', () => {})   // the refused one is reset
      socks.push(s)
    })
    await open(); await open()
    const third = await open()
    const closed = await new Promise((resolve) => {
      third.on('close', () => resolve(true))
      third.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      setTimeout(() => resolve(false), 3000)
    })
    assert.ok(closed, 'a third connection from the same address is refused')
    for (const s of socks) s.destroy()
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal((await L.request(portal.url, '/')).status, 200, 'served again once the others closed')
  } finally {
    for (const s of socks) s.destroy()
    await portal.stop()
  }
})
