// fairway as the client, the real JS stack as the server: `fairway call`
// against a secret-stack 6.4.2 node (muxrpc 6.7.3, secret-handshake 1.1.21)
// running in this process.
'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const pull = require('pull-stream')
const SecretStack = require('secret-stack')
const ssbKeys = require('ssb-keys')
const {
  runFairway, tmpDir, freePort, cbPromise, killAll, TEST_CAPS, MAIN_CAPS
} = require('./helpers')

// The plugin the JS server exposes to anonymous peers as test.*.
const testPlugin = {
  name: 'test',
  version: '1.0.0',
  manifest: {
    hello: 'async', fail: 'async', big: 'async', never: 'async', drop: 'async', count: 'source', countThenFail: 'source'
  },
  permissions: { anonymous: { allow: ['hello', 'fail', 'big', 'never', 'drop', 'count', 'countThenFail'] } },
  init (api) {
    return {
      hello (name, cb) {
        // A string comes back as a string; anything else as an object,
        // so both the string and the JSON reply body types are exercised.
        if (typeof name === 'string') return cb(null, 'hello ' + name)
        cb(null, { hello: name, n: 42, nested: { ok: true, list: [1, 'two', null] } })
      },
      fail (cb) {
        cb(new Error('deliberate failure from JS'))
      },
      // Never answers: the caller's --timeout must end the wait.
      never (cb) {},
      // Hangs up on the caller (no goodbye) instead of answering.
      drop (cb) {
        for (const rpc of api.peers[this.id] || []) rpc.close(true, () => {})
      },
      // A reply far larger than one box-stream frame (4096 bytes).
      big (n, cb) {
        cb(null, { size: n, text: 'ø'.repeat(n) })
      },
      count (n) {
        const items = []
        for (let i = 0; i < n; i++) items.push(i)
        return pull.values(items)
      },
      countThenFail (n) {
        const items = []
        for (let i = 0; i < n; i++) items.push({ i })
        return pull(pull.values(items.concat([null])), pull.asyncMap((x, cb) => {
          cb(x === null ? new Error('source broke after ' + n) : null, x)
        }))
      }
    }
  }
}

// Starts a secret-stack server on 127.0.0.1; resolves {node, addr}.
async function startJsServer (caps, dir) {
  const port = await freePort()
  const keys = ssbKeys.generate()
  // SecretStack() already brings its net and shs plugins.
  const node = SecretStack({ caps: { shs: caps } })
    .use(testPlugin)({
      keys,
      path: dir,
      host: '127.0.0.1',
      port,
      timers: { inactivity: -1, handshake: 5000 },
      connections: {
        incoming: { net: [{ host: '127.0.0.1', port, scope: 'device', transform: 'shs' }] },
        outgoing: { net: [{ transform: 'shs' }] }
      }
    })
  await new Promise((resolve) => node.once('multiserver:listening', resolve))
  const addr = node.getAddress('device')
  assert.match(addr, new RegExp(`^net:127\\.0\\.0\\.1:${port}~shs:`))
  return { node, keys, addr }
}

let scratch, server, mainServer

before(async () => {
  scratch = tmpDir('client')
  server = await startJsServer(TEST_CAPS, path.join(scratch.dir, 'js-test'))
  mainServer = await startJsServer(MAIN_CAPS, path.join(scratch.dir, 'js-main'))
})

after(async () => {
  try {
    for (const s of [server, mainServer]) {
      if (s) await cbPromise((cb) => s.node.close(true, cb)).catch(() => {})
    }
  } finally {
    killAll()
    scratch.cleanup()
  }
})

function call (addr, method, args, extra = [], caps = TEST_CAPS) {
  const argv = ['call', addr, method]
  if (args !== undefined) argv.push(JSON.stringify(args))
  if (caps) argv.push('--caps', caps)
  argv.push('--timeout', '8000', ...extra)
  return runFairway(argv, { home: scratch.dir, timeoutMs: 15000 })
}

test('async call: string result', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.hello', ['fairway'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, '"hello fairway"\n')
})

test('async call: object result', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.hello', [{ from: 'C' }])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), {
    hello: { from: 'C' }, n: 42, nested: { ok: true, list: [1, 'two', null] }
  })
  assert.equal(r.stdout.trim().split('\n').length, 1, 'one compact JSON line')
})

test('async call: error reply exits 1 with the message', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.fail', [])
  assert.equal(r.code, 1, r.stderr)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /fairway call: test\.fail: deliberate failure from JS/)
})

test('async call: method the JS server does not allow', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.secret', [])
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /fairway call: test\.secret: .*not in list of allowed methods/)
})

test('source call: items in order, then a clean end', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.count', [25], ['--source'])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.deepEqual(lines.map((l) => JSON.parse(l)), Array.from({ length: 25 }, (_, i) => i))
})

test('source call: an empty source ends cleanly with no items', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.count', [0], ['--source'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, '')
})

test('async call: unicode in arguments and result', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.hello', ['wörld ✓ 🌍 "quoted" \\ back'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout), 'hello wörld ✓ 🌍 "quoted" \\ back')
})

test('async call: a 200 KB reply spanning many box-stream frames', { timeout: 20000 }, async () => {
  const n = 100000   // 'ø' is two bytes in UTF-8
  const r = await call(server.addr, 'test.big', [n])
  assert.equal(r.code, 0, r.stderr)
  const v = JSON.parse(r.stdout)
  assert.equal(v.size, n)
  // Not assert.equal: a failure would print 200 KB twice.
  assert.equal(v.text.length, n)
  const bad = v.text.search(/[^ø]/)
  assert.equal(bad, -1, `text differs at ${bad}: ${JSON.stringify(v.text.slice(bad, bad + 20))}`)
})

test('source call: 3000 items arrive complete and in order', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.count', [3000], ['--source'])
  assert.equal(r.code, 0, r.stderr)
  const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(got.length, 3000)
  got.forEach((v, i) => assert.equal(v, i))
})

test('source call: an error after some items is shown, exit 1', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.countThenFail', [3], ['--source'])
  assert.equal(r.code, 1, r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), [{ i: 0 }, { i: 1 }, { i: 2 }])
  assert.match(r.stderr, /fairway call: test\.countThenFail: source broke after 3/)
})

test('several calls in a row on fresh connections all succeed', { timeout: 30000 }, async () => {
  const rs = await Promise.all([1, 2, 3, 4].map((i) => call(server.addr, 'test.hello', ['n' + i])))
  rs.forEach((r, i) => {
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `"hello n${i + 1}"\n`)
  })
})

test('wrong server key: exit 1, no hang', { timeout: 20000 }, async () => {
  const other = ssbKeys.generate().public.replace('.ed25519', '')
  const bad = server.addr.replace(/~shs:.*$/, `~shs:${other}`)
  const t0 = Date.now()
  const r = await call(bad, 'test.hello', ['x'])
  assert.equal(r.timedOut, false, 'fairway call did not hang')
  assert.equal(r.code, 1, r.stderr)
  assert.equal(r.stdout, '')
  assert.ok(Date.now() - t0 < 12000)
})

test('wrong network key: exit 1, no hang', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.hello', ['x'], [], MAIN_CAPS)
  assert.equal(r.timedOut, false, 'fairway call did not hang')
  assert.equal(r.code, 1, r.stderr)
  assert.equal(r.stdout, '')
})

test('no reply: --timeout ends the call with exit 1', { timeout: 20000 }, async () => {
  const t0 = Date.now()
  const r = await runFairway(['call', server.addr, 'test.never', '[]', '--caps', TEST_CAPS, '--timeout', '1000'],
    { home: scratch.dir, timeoutMs: 10000 })
  assert.equal(r.timedOut, false, 'fairway call stopped by itself')
  assert.equal(r.code, 1, r.stderr)
  assert.equal(r.stdout, '')
  const ms = Date.now() - t0
  assert.ok(ms >= 900 && ms < 6000, `gave up after ${ms} ms`)
})

test('the server hangs up mid-call: exit 1, no hang', { timeout: 20000 }, async () => {
  const r = await call(server.addr, 'test.drop', [])
  assert.equal(r.timedOut, false, 'fairway call stopped by itself')
  assert.equal(r.code, 1, r.stderr)
  assert.equal(r.stdout, '')
})

test('nothing listening: exit 1 at once', { timeout: 20000 }, async () => {
  const port = await freePort()
  const addr = server.addr.replace(/^net:127\.0\.0\.1:\d+/, `net:127.0.0.1:${port}`)
  const r = await call(addr, 'test.hello', ['x'])
  assert.equal(r.timedOut, false)
  assert.equal(r.code, 1, r.stderr)
  assert.equal(r.stdout, '')
})

test('default network key (main SSB caps) talks to a JS node on ssb-caps', { timeout: 20000 }, async () => {
  // No --caps at all: fairway's default must be ssb-caps' shs key.
  const r = await call(mainServer.addr, 'test.hello', ['main net'], [], null)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, '"hello main net"\n')
})

test('fairway call with a secret file made by ssb-keys authenticates as that id', { timeout: 20000 }, async () => {
  const file = path.join(scratch.dir, 'caller-secret')
  const keys = ssbKeys.createSync(file)
  const seen = new Promise((resolve) => {
    server.node.once('rpc:connect', (rpc) => resolve(rpc.id))
  })
  const r = await call(server.addr, 'test.hello', ['me'], ['--secret', file])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(await seen, keys.id)
})
