#!/usr/bin/env node
// Tunnel benchmarks, fairway portal beside the JS ssb-tunnel 2.0.0 portal,
// in the same run (issue 3, "Scale and speed"). Run by hand, not in CI:
//
//   FAIRWAY_BIN=build/fairway node bench/tunnel/bench.js [rtt] [bulk] [MiB]
//
// rtt:  idle tunnel.ping round trips (500, 5 ms apart) from a JS
//       ssb-tunnel client to a JS ssb-tunnel target through each portal;
//       both JS peers with TCP_NODELAY on every socket (peers/common.js
//       hook) and, for comparison, stock (no NODELAY).
// bulk: one bulk tunnel fairway connect → portal → fairway host → TCP
//       sink (so the ends are not the bottleneck); MB/s, and MB relayed
//       per portal CPU-second from /proc/PID/stat utime+stime.
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const L = require(path.resolve(__dirname, '..', '..', 'tests', 'tunnels', 'lib.js'))

const what = process.argv.slice(2).filter((a) => !/^\d+$/.test(a))
const MIB = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) || 256)
const want = (w) => what.length === 0 || what.includes(w)

function cpuSeconds (pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  // fields 14 and 15 (utime, stime), counted from 1 before the comm.
  return (Number(rest[11]) + Number(rest[12])) / 100
}

function rssKiB (pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : 0
}

function stats (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return `min ${s[0].toFixed(3)} median ${q(0.5).toFixed(3)} p99 ${q(0.99).toFixed(3)} max ${s[s.length - 1].toFixed(3)} ms (n=${s.length})`
}

let nportal = 0

async function startPortal (dir, kind, nodelay = '1') {
  if (kind === 'fairway') {
    const p = await L.fairwayPortal(dir, `portal${++nportal}`)
    return { proc: p.proc, addr: p.addr, info: { host: p.host, port: p.port, id: p.id } }
  }
  const port = await L.freePort()
  const p = await L.jsPeer(dir, 'ssb-tunnel', 'js-portal-' + port, { role: 'portal', port }, { NODELAY: nodelay })
  const ev = await p.waitLine((l, j) => j && j.event === 'listening', 15000, 'listening')
  return { proc: p, addr: ev.address, info: { host: '127.0.0.1', port, id: p.id } }
}

async function rtt (dir) {
  for (const nodelay of ['1', '0']) {
    for (const kind of ['fairway', 'ssb-tunnel']) {
      const portal = await startPortal(dir, kind, nodelay)
      const env = { NODELAY: nodelay }
      const target = await L.jsPeer(dir, 'ssb-tunnel', `t-${kind}-${nodelay}`,
        { role: 'target', portal: portal.info }, env)
      const ev = await target.waitLine((l, j) => j && j.event === 'announced', 20000, 'announced')
      const client = await L.jsPeer(dir, 'ssb-tunnel', `c-${kind}-${nodelay}`,
        { role: 'client', portal: portal.info }, env)
      const r = await client.cmd({ cmd: 'pings', addr: ev.address, count: 500, interval: 5 }, 120000)
      console.log(`rtt  portal=${kind.padEnd(10)} JS client+target${kind === 'fairway' ? '' : '+portal'} NODELAY=${nodelay === '1' ? 'on ' : 'off'}: ${stats(r.rtts.slice(10))}`)
      await client.stop(); await target.stop(); await portal.proc.stop()
    }
  }
}

async function bulk (dir) {
  for (const kind of ['fairway', 'ssb-tunnel']) {
    const sink = await L.sinkService().ready
    const portal = await startPortal(dir, kind)
    const hw = await L.keygen(dir, 'bh-' + kind)
    const host = await L.fairwayHost(dir, { addr: portal.addr }, hw, { sink: sink.port })
    const cw = await L.keygen(dir, 'bc-' + kind)
    const c = await L.fairwayConnect(dir, host.addr, { addr: portal.addr }, cw, 'sink')
    const pid = portal.proc.pid
    const rss0 = rssKiB(pid)
    const cpu0 = cpuSeconds(pid)
    const t0 = process.hrtime.bigint()
    const received = sink.next()
    const s = L.tcpSend(c.port, MIB * L.MiB)
    let peak = rss0
    const watch = setInterval(() => { peak = Math.max(peak, rssKiB(pid)) }, 50)
    await s.done
    const got = await received.catch(() => null)
    const secs = Number(process.hrtime.bigint() - t0) / 1e9
    clearInterval(watch)
    const cpu = cpuSeconds(pid) - cpu0
    const mb = MIB * L.MiB / 1e6
    console.log(`bulk portal=${kind.padEnd(10)} ${MIB} MiB in ${secs.toFixed(2)} s = ${(mb / secs).toFixed(1)} MB/s; ` +
      `portal CPU ${cpu.toFixed(2)} s = ${(mb / cpu).toFixed(0)} MB per CPU-second; ` +
      `portal RSS ${(rss0 / 1024).toFixed(1)} → peak ${(peak / 1024).toFixed(1)} MiB; intact=${got && got.sha256 === (await s.done).sha256}`)
    s.sock.destroy()
    await c.proc.stop(); await host.proc.stop(); await portal.proc.stop(); await sink.close()
  }
}

;(async () => {
  const s = L.scratch('bench')
  try {
    if (want('rtt')) await rtt(s.dir)
    if (want('bulk')) await bulk(s.dir)
  } catch (e) {
    console.error(e)
    process.exitCode = 1
  } finally {
    await L.killAll()
    s.cleanup()
  }
})()
