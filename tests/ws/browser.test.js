// A real browser as an SSB peer: headless Chromium (Debian chromium)
// driven by puppeteer-core loads a page whose script esbuild bundles here,
// from browser/page.js and the JS SSB stack in ./node_modules
// (secret-handshake, pull-box-stream, muxrpc, pull-ws; libsodium from
// libsodium-wrappers through chloride's browser path). The page dials the
// portal over ws://, opens tunnel.connect to a `fairway host --expose`
// service, shakes hands with the host inside the tunnel, calls
// forward.connect and reads 8 MiB, whose sha256 it computes itself. The
// page is served by a static server on 127.0.0.1 started here. A
// screenshot lands in build-logs/ws-browser.png.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const L = require('../portal/lib')
const W = require('./lib')

const SHOT = path.resolve(__dirname, '..', '..', 'build-logs', 'ws-browser.png')
let s
before(() => { s = L.scratch('ws-browser', ['room', 'host']) })
after(async () => {
  try { await W.stopGates() } finally { L.killAll(); s.cleanup() }
})

async function bundle (dir) {
  await W.req('esbuild').build({
    entryPoints: [path.join(__dirname, 'browser', 'page.js')],
    inject: [path.join(__dirname, 'browser', 'shim.js')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    outfile: path.join(dir, 'bundle.js'),
    logLevel: 'error'
  })
  fs.copyFileSync(path.join(__dirname, 'browser', 'index.html'), path.join(dir, 'index.html'))
}

// index.html and bundle.js from dir, nothing else.
async function staticServer (dir) {
  const types = { '/': ['index.html', 'text/html'], '/bundle.js': ['bundle.js', 'text/javascript'] }
  const srv = http.createServer((req, res) => {
    const t = types[req.url]
    if (!t) { res.writeHead(404); return res.end() }
    res.writeHead(200, { 'content-type': t[1] })
    res.end(fs.readFileSync(path.join(dir, t[0])))
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return { srv, url: `http://127.0.0.1:${srv.address().port}/` }
}

test('Chromium tunnels through the portal over ws:// to a fairway host and receives 8 MiB intact', { timeout: 90000 }, async () => {
  const web = path.join(s.dir, 'web')
  fs.mkdirSync(web)
  await bundle(web)
  const st = await staticServer(web)
  const size = 8 << 20
  const svc = await W.bulkService(size)
  const g = await W.startGate(s)
  const h = await W.startHost(s, g.net, ['--expose', `bulk=127.0.0.1:${svc.port}`])
  fs.mkdirSync(path.dirname(SHOT), { recursive: true })
  const browser = await W.req('puppeteer-core').launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${path.join(s.dir, 'chromium')}`],
    timeout: 30000
  })
  try {
    const page = await browser.newPage()
    const problems = []
    page.on('pageerror', (e) => problems.push(e.message))
    await page.goto(st.url, { waitUntil: 'load' })
    const r = await page.evaluate((cfg) => window.fairwayRun(cfg), {
      wsUrl: `ws://127.0.0.1:${g.wsPort}`, caps: L.CAPS, room: s.ids.room.id, host: s.ids.host.id, service: 'bulk'
    })
    await page.screenshot({ path: SHOT, fullPage: true })
    assert.deepEqual(problems, [])
    assert.equal(r.n, size)
    assert.equal(r.sha256, svc.sha)
    assert.match(await page.$eval('#log', (e) => e.textContent), /libsodium ready[\s\S]*sha256 [0-9a-f]{64}/)
    // the portal and the host both saw the browser's key
    assert.ok(g.stderr().includes(`authenticated ${r.id}`), g.stderr())
    await L.waitFor(() => h.stderr().includes(`authenticated ${r.id}`), 3000, 'the host naming the browser')
    console.log(`# Chromium received 8 MiB in ${r.ms.toFixed(0)} ms (${(8 / (r.ms / 1000)).toFixed(1)} MiB/s)`)
  } finally {
    await browser.close()
    st.srv.close()
    await h.stop()
    svc.close()
    await g.stop()
  }
})
