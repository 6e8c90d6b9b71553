// Identities are interchangeable with the JS stack: a secret written by
// `fairway keygen` loads in ssb-keys 8.5.0 (and signs like the id says),
// one written by ssb-keys.createSync is read by `fairway id`, and bad files
// are refused with exit 2 and a message naming the file.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const ssbKeys = require('ssb-keys')
const { runFairway, tmpDir, killAll } = require('./helpers')

const ID_RE = /^@[A-Za-z0-9+/]{43}=\.ed25519$/
let scratch

before(() => { scratch = tmpDir('keys') })
after(() => { killAll(); scratch.cleanup() })

test('fairway keygen output loads in ssb-keys with the same id', { timeout: 20000 }, async () => {
  const file = path.join(scratch.dir, 'keygen-secret')
  const r = await runFairway(['keygen', '--secret', file], { home: scratch.dir })
  assert.equal(r.code, 0, r.stderr)
  const id = r.stdout.trim()
  assert.match(id, ID_RE)
  assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'keygen writes mode 0600')

  const keys = ssbKeys.loadSync(file)
  assert.ok(keys, 'ssb-keys parsed the file')
  assert.equal(keys.curve, 'ed25519')
  assert.equal(keys.id, id)
  assert.equal('@' + keys.public, id)

  // The private half really belongs to the id: ssb-keys signs with it and
  // verifies against the public key alone.
  const signed = ssbKeys.signObj(keys, { type: 'test', text: 'fairway made this key' })
  assert.ok(ssbKeys.verifyObj({ public: keys.public, curve: 'ed25519' }, signed))

  // And fairway reads its own file back with the same id.
  const r2 = await runFairway(['id', '--secret', file], { home: scratch.dir })
  assert.equal(r2.code, 0, r2.stderr)
  assert.equal(r2.stdout.trim(), id)
})

test('a secret made by ssb-keys.createSync (mode 0400) is read by fairway id', { timeout: 20000 }, async () => {
  const file = path.join(scratch.dir, 'ssb-secret')
  const keys = ssbKeys.createSync(file)
  assert.equal(fs.statSync(file).mode & 0o777, 0o400, 'ssb-keys writes mode 0400')
  const r = await runFairway(['id', '--secret', file], { home: scratch.dir })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), keys.id)
})

test('a malformed secret file is refused with exit 2 naming the file', { timeout: 20000 }, async () => {
  const cases = {
    'not-json': '# a comment\nthis is not json\n',
    'truncated-json': '{\n  "curve": "ed25519",\n  "public": "',
    'short-private': JSON.stringify({
      curve: 'ed25519',
      public: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519',
      private: 'AAAA.ed25519',
      id: '@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519'
    }),
    empty: ''
  }
  for (const [name, text] of Object.entries(cases)) {
    const file = path.join(scratch.dir, `bad-${name}`)
    fs.writeFileSync(file, text, { mode: 0o600 })
    const r = await runFairway(['id', '--secret', file], { home: scratch.dir })
    assert.equal(r.code, 2, `${name}: exit status (stderr: ${r.stderr})`)
    assert.equal(r.stdout, '', `${name}: prints no id`)
    assert.ok(r.stderr.includes(file), `${name}: message names the file: ${r.stderr}`)
  }
})

test('a secret file readable by others (0644) is refused with exit 2 naming the file', { timeout: 20000 }, async () => {
  const file = path.join(scratch.dir, 'open-secret')
  ssbKeys.createSync(file)
  fs.chmodSync(file, 0o644)
  const r = await runFairway(['id', '--secret', file], { home: scratch.dir })
  assert.equal(r.code, 2, r.stderr)
  assert.equal(r.stdout, '')
  assert.ok(r.stderr.includes(file), `message names the file: ${r.stderr}`)
  assert.match(r.stderr, /readable|permission|mode/i)

  // Group-readable alone is refused too.
  fs.chmodSync(file, 0o640)
  const r2 = await runFairway(['id', '--secret', file], { home: scratch.dir })
  assert.equal(r2.code, 2, r2.stderr)
  assert.ok(r2.stderr.includes(file))
})
