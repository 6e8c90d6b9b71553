// Real nginx (Debian's) as the TLS reverse proxy in front of `fairway
// portal --http`, configured by docs/nginx.conf.example itself (ports and
// paths replaced with sed), with a self-signed certificate made here by
// openssl. Through nginx: the landing page, /join JSON and HTML (links on
// the https public URL), an invite claimed by the real
// ssb-http-invite-client, alias JSON, the http:// → https:// redirect, and
// SSB over WebSocket (wss://) from the JS stack's multiserver ws client.
// nginx runs as this test's own child (daemon off), on 127.0.0.1 only.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const https = require('node:https')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const L = require('./lib')

const EXAMPLE = path.resolve(__dirname, '..', '..', 'docs', 'nginx.conf.example')
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p))

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
  })
}

// docs/nginx.conf.example with the test's ports, certificate and portal;
// the IPv6 listens dropped (127.0.0.1 only). Wrapped in a main config of
// the test's own (pid, logs and temporary files in DIR).
function nginxConfig (dir, { httpPort, tlsPort, portalPort, cert, key }) {
  const site = execFileSync('sed', [
    '-e', `s|^\\(\\s*\\)listen 80;|\\1listen 127.0.0.1:${httpPort};|`,
    '-e', `s|^\\(\\s*\\)listen 443 ssl;|\\1listen 127.0.0.1:${tlsPort} ssl;|`,
    '-e', '/listen \\[::\\]/d',
    '-e', `s|http://127.0.0.1:8080;|http://127.0.0.1:${portalPort};|`,
    '-e', `s|/etc/letsencrypt/live/room.example/fullchain.pem|${cert}|`,
    '-e', `s|/etc/letsencrypt/live/room.example/privkey.pem|${key}|`,
    EXAMPLE], { encoding: 'utf8' })
  // the substitutions must all have happened: the example is what we test
  assert.equal((site.match(new RegExp(`listen 127\\.0\\.0\\.1:(${httpPort}|${tlsPort})`, 'g')) || []).length, 2, site)
  assert.equal((site.match(new RegExp(`proxy_pass http://127\\.0\\.0\\.1:${portalPort};`, 'g')) || []).length, 2, site)
  assert.doesNotMatch(site, /ssl_certificate.*letsencrypt|listen \[::\]|proxy_pass http:\/\/127\.0\.0\.1:8080/)
  fs.writeFileSync(path.join(dir, 'fairway-site.conf'), site)
  fs.mkdirSync(path.join(dir, 'tmp'))
  const conf = path.join(dir, 'nginx.conf')
  fs.writeFileSync(conf, [
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log info;`,
    'events { worker_connections 128; }',
    'http {',
    `  access_log ${dir}/access.log;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/tmp/${t};`),
    `  include ${dir}/fairway-site.conf;`,
    '}', ''].join('\n'))
  return conf
}

// nginx -p DIR -c CONF -g 'daemon off;': resolves once the TLS port answers.
async function startNginx (dir, conf, tlsPort) {
  const args = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf]
  execFileSync(NGINX, [...args, '-t'], { stdio: 'pipe' }) // a config error shows here, with its text
  const child = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  const exited = new Promise((resolve) => child.on('close', resolve))
  process.on('exit', () => { try { process.kill(child.pid, 'SIGKILL') } catch (_) {} })
  for (let i = 0; ; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: tlsPort }, () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (up) break
    if (child.exitCode !== null || i > 100) throw new Error(`nginx did not start: ${err}\n${fs.readFileSync(path.join(dir, 'error.log'), 'utf8')}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    stop: async () => {
      try { process.kill(child.pid, 'SIGQUIT') } catch (_) {}
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch (_) {} }, 5000)
      await exited
      clearTimeout(t)
    }
  }
}

// One HTTPS request through nginx, trusting only the test's certificate.
function get (base, pathname, { ca, headers = {}, lib = https } = {}) {
  const u = new URL(pathname, base)
  return new Promise((resolve, reject) => {
    const req = lib.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, headers, ca, timeout: 10000
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => {
        let json
        if ((res.headers['content-type'] || '').startsWith('application/json')) json = JSON.parse(body)
        resolve({ status: res.statusCode, headers: res.headers, body, json })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${pathname}: timeout`)))
    req.on('error', reject)
    req.end()
  })
}

// node tls-peer.js … with the certificate trusted the way a system CA is.
function peer (args, cert) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'tls-peer.js'), ...args], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''; let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch (_) {} }, 30000)
    child.on('close', (code) => {
      clearTimeout(t)
      let r
      try { r = JSON.parse(out.trim().split('\n').pop()) } catch (_) { r = { error: `no JSON: ${out} ${err}` } }
      resolve({ code, ...r, stderr: err })
    })
  })
}

test('nginx (docs/nginx.conf.example) in front of the portal: pages, invites, aliases and wss://', { timeout: 90000 }, async (t) => {
  assert.ok(NGINX, 'nginx is not installed (scripts/deps installs it)')
  const dir = L.scratch('nginx')
  const room = L.identity(dir, 'room')
  const alice = L.identity(dir, 'alice')
  const bob = L.identity(dir, 'bob')
  const db = path.join(dir, 'room.db')
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' })
  const ca = fs.readFileSync(cert)

  L.fixture(db, ['member', alice.id])
  L.fixture(db, ['alias', 'alice', alice.secret], { ROOM_ID: room.id })
  const token = L.fixture(db, ['invite'])
  const tlsPort = await freePort()
  const httpPort = await freePort()
  const pub = `https://127.0.0.1:${tlsPort}`
  const portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--public-url', pub, '--privacy', 'community'] })
  const key64 = room.id.slice(1, -8)
  let nginx
  try {
    // The portal's addresses: wss:// from the https public URL.
    assert.equal(portal.wss, `wss://127.0.0.1:${tlsPort}~shs:${key64}`)
    const portalPort = Number(new URL(portal.url).port)
    nginx = await startNginx(dir, nginxConfig(dir, { httpPort, tlsPort, portalPort, cert, key }), tlsPort)

    await t.test('landing page through TLS, with the portal\'s security headers', async () => {
      const r = await get(pub, '/', { ca })
      assert.equal(r.status, 200)
      assert.match(r.headers['content-type'], /^text\/html/)
      assert.match(r.headers['content-security-policy'], /frame-ancestors 'none'/)
      assert.equal(r.headers['x-frame-options'], 'DENY')
      assert.ok(r.body.includes(portal.wss), 'the wss:// address on the page')
    })

    await t.test('plain http:// redirects to https://', async () => {
      const r = await get(`http://127.0.0.1:${httpPort}`, `/join?token=${encodeURIComponent(token)}`, { lib: http })
      assert.equal(r.status, 301)
      assert.equal(r.headers.location, `https://127.0.0.1/join?token=${encodeURIComponent(token)}`)
    })

    await t.test('/join: JSON and HTML links on the https public URL', async () => {
      const j = await get(pub, `/join?token=${encodeURIComponent(token)}&encoding=json`, { ca })
      assert.deepEqual(j.json, { status: 'successful', invite: token, postTo: `${pub}/invite/consume` })
      const h = await get(pub, `/join?token=${encodeURIComponent(token)}`, { ca })
      assert.equal(h.status, 200)
      const href = /id="claim-invite-uri"[^>]*href="([^"]+)"/.exec(h.body)[1].replace(/&amp;/g, '&')
      assert.equal(new URL(href).searchParams.get('postTo'), `${pub}/invite/consume`)
    })

    await t.test('the real ssb-http-invite-client claims the invite through nginx', async () => {
      const r = await peer(['claim', `${pub}/join?token=${encodeURIComponent(token)}`, bob.id], cert)
      assert.equal(r.code, 0, r.error + r.stderr)
      assert.equal(r.address, portal.addr)
      assert.equal(L.fixture(db, ['role', bob.id]), 'member')
      // single use, through nginx too
      const again = await peer(['claim', `${pub}/join?token=${encodeURIComponent(token)}`, alice.id], cert)
      assert.equal(again.code, 1)
      assert.equal(again.error, 'rooms/web: item not found: invite')
    })

    await t.test('alias JSON through nginx', async () => {
      const r = await get(pub, '/alias/alice?encoding=json', { ca })
      assert.equal(r.json.status, 'successful')
      assert.equal(r.json.multiserverAddress, portal.addr)
      assert.equal(r.json.userId, alice.id)
      assert.equal(r.json.roomId, room.id)
      // a verifying signature, as ssb-room-client checks it
      const body = `=room-alias-registration:${room.id}:${alice.id}:alice`
      assert.ok(L.ssbKeys.verify({ curve: 'ed25519', public: alice.id.slice(1) }, `${r.json.signature}.sig.ed25519`, body))
      const page = await get(pub, '/alias/alice', { ca })
      assert.match(page.body, /id="alias-uri"/)
    })

    await t.test('SSB over wss:// through nginx: bob (a member since his claim) is an attendant', async () => {
      const r = await peer(['ws', portal.wss, bob.secret], cert)
      assert.equal(r.code, 0, r.error + r.stderr)
      assert.equal(r.whoami, room.id)
      assert.equal(r.isRoom, 100)
      assert.equal(r.attendants.type, 'state')
      assert.ok(r.attendants.ids.includes(bob.id), JSON.stringify(r.attendants))
      // the portal saw it come from nginx (loopback) over WebSocket
      assert.match(portal.stderr(), new RegExp(`connection 127\\.0\\.0\\.1:\\d+: authenticated ${bob.id.replace(/[+/.]/g, '\\$&')}`))
      const log = fs.readFileSync(path.join(dir, 'access.log'), 'utf8')
      assert.match(log, /"GET \/ HTTP\/1\.1" 101 /, 'nginx passed the upgrade on')
    })

    // ---- sign-in with SSB through nginx: NOT TESTED HERE YET --------------
    // The sign-in flow (/login, /withssb/login, the /withssb/events SSE
    // stream, /withssb/finalize) is being built on another branch
    // (signin). The example config already has its location
    // (proxy_buffering off); the test of the events reaching the browser
    // through nginx belongs here once the routes exist.
  } finally {
    if (nginx) await nginx.stop()
    await portal.stop()
  }
})
