// Headless Chromium (Debian's) loads the room's pages on a phone-sized
// screen: the stylesheet applies under the CSP (no violation reported),
// there is no script, the join and alias links and QR codes are there, the
// page does not scroll sideways, and it cannot be framed. PNG screenshots
// are kept in build-logs/room-screens/ as artifacts.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const L = require('./lib')
const puppeteer = require('puppeteer-core')

const SHOTS = path.resolve(__dirname, '..', '..', 'build-logs', 'room-screens')

test('Chromium: /, /join, /alias on a phone; CSP holds; no framing', async () => {
  const dir = L.scratch('chromium')
  const room = L.identity(dir, 'room')
  const alice = L.identity(dir, 'alice')
  const db = path.join(dir, 'room.db')
  L.fixture(db, ['text', 'name', 'Fairway Friends'])
  L.fixture(db, ['text', 'description', 'A small room for testing fairway.'])
  L.fixture(db, ['text', 'notice.code-of-conduct', 'Be kind. No spam.'])
  L.fixture(db, ['member', alice.id])
  L.fixture(db, ['alias', 'alice', alice.secret], { ROOM_ID: room.id })
  const token = L.fixture(db, ['invite'])
  const portal = await L.startPortal({ dir, secret: room.secret, db, extra: ['--privacy', 'community'] })
  fs.mkdirSync(SHOTS, { recursive: true })
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${path.join(dir, 'chromium')}`],
    timeout: 30000
  })
  try {
    const page = await browser.newPage()
    await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 1, isMobile: true })
    const problems = []
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()) })
    page.on('pageerror', (e) => problems.push(e.message))
    for (const [name, p, sel] of [
      ['landing', '/', '#privacy-mode'],
      ['join', `/join?token=${encodeURIComponent(token)}`, '#claim-invite-uri'],
      ['alias', '/alias/alice', '#alias-uri']
    ]) {
      const resp = await page.goto(portal.url + p, { waitUntil: 'load', timeout: 15000 })
      assert.equal(resp.status(), 200, name)
      assert.ok(await page.$(sel), `${name}: ${sel}`)
      // The stylesheet applied (it sets the body's max width).
      const maxWidth = await page.$eval('body', (b) => getComputedStyle(b).maxWidth)
      assert.notEqual(maxWidth, 'none', `${name}: stylesheet not applied`)
      // Nothing wider than the phone.
      const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)
      assert.equal(wide, false, `${name}: scrolls sideways`)
      assert.equal(await page.$$eval('script', (s) => s.length), 0, `${name}: has a script`)
      if (name !== 'landing') {
        const box = await page.$eval('svg.qr', (s) => { const r = s.getBoundingClientRect(); return [r.width, r.height] })
        assert.ok(box[0] >= 150 && box[0] <= 390 && box[0] === box[1], `${name}: QR code ${box}`)
      }
      await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true })
    }
    assert.deepEqual(problems, [], 'console errors (CSP violations show here)')

    // A page that frames the room gets nothing (X-Frame-Options, frame-ancestors),
    // even from the room's own origin (the parent here is its stylesheet).
    const framing = await browser.newPage()
    await framing.goto(portal.url + '/style.css')
    await framing.evaluate((url) => new Promise((resolve) => {
      const f = document.createElement('iframe')
      f.src = url
      f.onload = resolve
      document.body.appendChild(f)
      setTimeout(resolve, 5000)
    }), portal.url + '/')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const child = framing.frames().find((f) => f !== framing.mainFrame())
    assert.ok(child, 'no iframe')
    let framed = ''
    try { framed = await child.content() } catch (_) {}
    const blocked = !framed.includes('privacy-mode')
    assert.equal(blocked, true, 'the room page rendered inside a frame')
  } finally {
    await browser.close()
    await portal.stop()
  }
})
