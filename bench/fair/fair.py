#!/usr/bin/env python3
"""bench/fair driver: issue 4's workload through one portal (fairway or JS).

  fair.py run --setting a|b --portal fairway|js|fairway-noshape --out FILE.json
  fair.py sink            (child: counts bytes per user at the receiving services)
  fair.py send U:PORT...  (child: bulk senders, one process, non-blocking sockets)
  fair.py report FILE.json...   (markdown table)

Workload (issue 4): users U1..U4 with 1, 2, 4, 8 bulk tunnels (one `fairway
connect` process per tunnel, the user's secret shared by its processes), U5
one tunnel pinging every 100 ms (`fairway ping -i 100`). One `fairway host`
exposes services u1..u4, each a port of the sink, so the sink counts bytes
per user. The portal is the only thing that changes between runs.

Timeline of a run (seconds): idle pings [0, IDLE); bulk starts at IDLE;
measurement window [IDLE+WARM, IDLE+WARM+WIN); then U4's senders close
their sockets and the others' uptake is sampled from the sink's 50 ms bins
for TAIL s. Every child is started here and killed by pid at the end.

Setting (b) runs this driver inside the clients' namespace; the portal is
started with `ip netns exec $PORTAL_NS`. Environment: FAIRWAY_BIN, PORTAL_NS,
PORTAL_IP, RATE_MBIT, SUB_PERCENT, TC_DEV (the shaped veth, for link bytes),
PACE (the policy's `pace`, e.g. 4ms; unset: fairway's default).
"""
import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import hashlib
import base64
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
TUNNELS = {1: 1, 2: 2, 3: 4, 4: 8}          # user -> bulk tunnels
BIN = 0.05                                  # sink sampling period, s
# Same network key as tests/tunnels/lib.js: never the main network's.
CAPS = base64.b64encode(hashlib.sha256(b'fairway-tunnels').digest()).decode()


# ------------------------------------------------------------------ sink

def cmd_sink(args):
    """Listens on one port per user; every BIN s records cumulative bytes
    per user. Prints the ports as one JSON line; on stdin EOF/'quit' prints
    the series as one JSON line and exits."""
    sel = selectors.DefaultSelector()
    ports = []
    for u in range(args.users):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(('127.0.0.1', 0))
        ls.listen(128)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, ('L', u))
        ports.append(ls.getsockname()[1])
    sel.register(sys.stdin, selectors.EVENT_READ, ('I', None))
    print(json.dumps({'ports': ports}), flush=True)
    counts = [0] * args.users
    series = []
    nxt = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= nxt:
            series.append([round(now, 4)] + counts)
            nxt += BIN
            if nxt < now:
                nxt = now + BIN
        for key, _ in sel.select(max(0.0, nxt - time.monotonic())):
            kind, u = key.data
            if kind == 'L':
                c, _ = key.fileobj.accept()
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, ('C', u))
            elif kind == 'C':
                try:
                    d = key.fileobj.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    d = b''
                if d:
                    counts[u] += len(d)
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
            else:
                line = sys.stdin.readline()
                if line.strip() == 'peek':
                    print(json.dumps({'t': time.monotonic(), 'counts': counts}), flush=True)
                    continue
                if not line or line.strip() == 'quit':
                    series.append([round(time.monotonic(), 4)] + counts)
                    print(json.dumps({'series': series}), flush=True)
                    return


# ------------------------------------------------------------------ sender

def cmd_send(args):
    """Bulk senders: one socket per tunnel ('U:PORT'), all in this process.
    stdin: 'open' (connect all), 'start' (write as fast as the sockets
    take), 'stop U' (close user U's sockets), 'quit'. Answers each command
    with a JSON line carrying the monotonic time it took effect."""
    targets = [(int(t.split(':')[0]), int(t.split(':')[1])) for t in args.targets]
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    buf = memoryview(b'\x5a' * 65536)
    socks = {}
    sent = {}
    writing = False

    def reply(**kw):
        kw['t'] = time.monotonic()
        print(json.dumps(kw), flush=True)

    while True:
        for key, ev in sel.select(1.0):
            if key.data is None:
                line = sys.stdin.readline().split()
                if not line or line[0] == 'quit':
                    for s in socks:
                        s.close()
                    reply(ok='quit', sent=sent)
                    return
                if line[0] == 'open':
                    for u, port in targets:
                        s = socket.create_connection(('127.0.0.1', port))
                        s.setblocking(False)
                        socks[s] = u
                        sent.setdefault(u, 0)
                    reply(ok='open')
                elif line[0] == 'start':
                    writing = True
                    for s in socks:
                        sel.register(s, selectors.EVENT_WRITE, 'S')
                    reply(ok='start')
                elif line[0] == 'stop':
                    u = int(line[1])
                    for s in [s for s, su in socks.items() if su == u]:
                        if writing:
                            sel.unregister(s)
                        s.close()
                        del socks[s]
                    reply(ok='stop', user=u)
            else:
                s = key.fileobj
                try:
                    while True:
                        n = s.send(buf)
                        sent[socks[s]] += n
                        if n < len(buf):
                            break
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    reply(error=str(e), user=socks[s])
                    sel.unregister(s)
                    s.close()
                    del socks[s]


# ------------------------------------------------------------------ driver

class Proc:
    """A child process whose stdout lines are timestamped by a thread."""
    all = []

    def __init__(self, name, argv, env=None, stdin=False, ns=None):
        if ns:
            argv = ['ip', 'netns', 'exec', ns] + argv   # execs: same pid
        self.name = name
        self.lines = []              # (monotonic time, line)
        self.cv = threading.Condition()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  env={**os.environ, **(env or {})}, text=True, bufsize=1)
        self.pid = self.p.pid
        self.err = []
        Proc.all.append(self)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append((time.monotonic(), line.rstrip('\n')))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)
            del self.err[:-50]

    def wait_line(self, pred, timeout, what, start=0):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, l in self.lines[start:]:
                    if pred(l):
                        return l
                if self.p.poll() is not None and not any(pred(l) for _, l in self.lines[start:]):
                    raise RuntimeError(f'{self.name} exited ({self.p.returncode}) before {what}: '
                                       + ''.join(self.err[-10:]))
                left = end - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f'{self.name}: no {what} within {timeout} s: '
                                       + ''.join(self.err[-10:]))
                self.cv.wait(min(left, 0.2))

    def cmd(self, text, what, timeout=20):
        n = len(self.lines)
        try:
            self.p.stdin.write(text + '\n')
            self.p.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(f'{self.name} is gone before {what}: ' + ''.join(self.err[-10:]))
        return json.loads(self.wait_line(lambda l: l.startswith('{'), timeout, what, n))

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass


def fw(*args):
    return [os.environ.get('FAIRWAY_BIN', os.path.join(ROOT, 'build', 'fairway'))] + list(args)


def run_quiet(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        rest = f.read().rsplit(')', 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf('SC_CLK_TCK')


def rss_mib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0.0


def tc_stats(ns, dev):
    """HTB's leaf class 1:10 on the shaped veth: bytes sent, drops, and the
    FIFO's backlog (this tc has no JSON for classes: parse the text)."""
    out = run_quiet(['ip', 'netns', 'exec', ns, 'tc', '-s', 'class', 'show', 'dev', dev])
    m = re.search(r'class htb 1:10 .*?Sent (\d+) bytes (\d+) pkt \(dropped (\d+).*?backlog (\S+) (\d+)p',
                  out, re.S)
    if not m:
        return None
    return {'bytes': int(m[1]), 'pkts': int(m[2]), 'dropped': int(m[3]), 'backlog_pkts': int(m[5])}


def ss_queues(ns, port):
    """Bytes the kernel holds on the way into the portal: Recv-Q of the
    portal's sockets (it stopped reading them) and Send-Q of the clients'."""
    def q(argv, col, where):
        tot = 0
        for line in run_quiet(argv + ['ss', '-tnH', 'state', 'established', where]).splitlines():
            f = line.split()
            if len(f) >= 4:
                tot += int(f[col])
        return tot
    pre = ['ip', 'netns', 'exec', ns] if ns else []
    return {'portal_recv_q': q(pre, 0, f'( sport = :{port} )'),
            'clients_send_q': q([], 1, f'( dport = :{port} )')}


def cmd_run(a):
    ns = os.environ.get('PORTAL_NS') or None
    ip = os.environ.get('PORTAL_IP', '127.0.0.1')
    rate_mbit = float(os.environ.get('RATE_MBIT', '20'))
    sub = float(os.environ.get('SUB_PERCENT', '5'))
    tc_dev = os.environ.get('TC_DEV')
    kind = a.portal
    IDLE, WARM, WIN, TAIL = a.idle, a.warm, a.win, a.tail
    d = tempfile.mkdtemp(prefix='fair-', dir='/tmp')
    res = {'setting': a.setting, 'portal': kind, 'label': a.label or f'{a.setting}', 'rate_mbit': rate_mbit, 'sub_percent': sub,
           'tunnels': TUNNELS, 'idle_s': IDLE, 'warm_s': WARM, 'win_s': WIN, 'tail_s': TAIL}
    ids = {}
    for n in ['p', 'h', 'u1', 'u2', 'u3', 'u4', 'u5']:
        subprocess.run(fw('keygen', '--secret', f'{d}/{n}'), capture_output=True, check=True)
        ids[n] = run_quiet(fw('id', '--secret', f'{d}/{n}'))
    info_samples = []
    try:
        # ---- portal
        if kind.startswith('fairway'):
            pol = [f'[portal]', f'listen = {ip}:0', 'privacy = open']
            if kind == 'fairway':
                pol += [f'rate-up = {rate_mbit:g}mbit', f'rate-sub-percent = {sub:g}']
                if os.environ.get('PACE'):
                    pol += [f'pace = {os.environ["PACE"]}']
            pol += ['rate-local-percent = 5', 'borrow = yes']
            for u in range(1, 6):
                pol += [f'[user u{u}]', f'id = {ids[f"u{u}"]}']
            with open(f'{d}/policy.ini', 'w') as f:
                f.write('\n'.join(pol) + '\n')
            portal = Proc('portal', fw('portal', '-c', f'{d}/policy.ini', '--secret', f'{d}/p',
                                       '--caps', CAPS), ns=ns)
            paddr = portal.wait_line(lambda l: l.startswith('net:'), 10, 'address')
        else:
            cfg = {'caps': CAPS, 'secret': f'{d}/p.js', 'path': f'{d}/jsp', 'host': ip,
                   'port': free_port(ip) if ns is None else 18008}
            os.makedirs(cfg['path'])
            portal = Proc('js portal', ['node', os.path.join(HERE, 'js-portal.js'), json.dumps(cfg)],
                          env={'NODELAY': '1'}, ns=ns)
            ev = json.loads(portal.wait_line(lambda l: '"listening"' in l, 20, 'listening'))
            paddr = ev['address']
        ppid = portal.pid
        res['portal_addr'] = paddr
        # ---- receiving side
        sink = Proc('sink', [sys.executable, __file__, 'sink', '--users', '4'], stdin=True)
        ports = json.loads(sink.wait_line(lambda l: l.startswith('{'), 5, 'ports'))['ports']
        expose = []
        for u in range(1, 5):
            expose += ['--expose', f'u{u}=127.0.0.1:{ports[u - 1]}']
        host = Proc('host', fw('host', '--portal', paddr, '--secret', f'{d}/h', '--caps', CAPS, *expose))
        tun = host.wait_line(lambda l: l.startswith('tunnel:'), 20, 'tunnel address')
        # ---- the bulk users' tunnels, one connect process each
        targets = []
        conns = []
        for u, k in TUNNELS.items():
            for _ in range(k):
                lp = free_port('127.0.0.1')
                c = Proc(f'connect u{u}', fw('connect', tun, '--portal', paddr, '--secret', f'{d}/u{u}',
                                             '--caps', CAPS, '-L', f'127.0.0.1:{lp}:u{u}'))
                conns.append(c)
                targets.append(f'{u}:{lp}')
        for c in conns:
            c.wait_line(lambda l: l.startswith('forwarding'), 30, 'forwarding')
        sender = Proc('sender', [sys.executable, __file__, 'send', *targets], stdin=True)
        # ---- U5: one interactive tunnel, a round trip every 100 ms
        ping = Proc('ping', fw('ping', tun, '--portal', paddr, '--secret', f'{d}/u5', '--caps', CAPS,
                               '-c', '100000', '-i', '100'))
        ping.wait_line(lambda l: l.startswith('reply'), 20, 'first reply')
        t_idle = time.monotonic()
        time.sleep(IDLE)
        sender.cmd('open', 'open')
        time.sleep(0.3)

        def snap():
            s = {'t': time.monotonic(), 'cpu': cpu_seconds(ppid), 'rss_mib': rss_mib(ppid)}
            if kind.startswith('fairway'):
                t0 = time.monotonic()
                s['info'] = json.loads(run_quiet(fw('info', '--json', '--secret', f'{d}/p')))['scheduler']
                # when the portal counted: between asking and the answer
                s['t_info'] = (t0 + time.monotonic()) / 2
            if tc_dev:
                s['tc'] = tc_stats(ns, tc_dev)
            return s

        stop_sampling = threading.Event()
        peak = [0.0]

        # every 0.5 s; every 50 ms once U4 has stopped (the hand-off is
        # measured on the portal's own per-user byte counts: at the sink a
        # user's bytes arrive in the tunnel's 64 KiB items)
        period = [0.5]

        def sampler():
            while not stop_sampling.wait(period[0]):
                try:
                    s = snap()
                    peak[0] = max(peak[0], s['rss_mib'])
                    info_samples.append(s)
                except Exception as e:   # the portal may be gone at the end
                    info_samples.append({'t': time.monotonic(), 'error': str(e)})
        t_load = sender.cmd('start', 'start')['t']
        s_start = snap()
        if not a.no_sample:
            threading.Thread(target=sampler, daemon=True).start()
        time.sleep(WARM - (time.monotonic() - t_load))
        s0 = snap()
        time.sleep(WIN - (time.monotonic() - s0['t']))
        s1 = snap()
        res['kernel_queues_at_stop'] = ss_queues(ns, int(paddr.split(':')[2].split('~')[0]))
        conn_rss = {}
        for i, c in enumerate(conns):
            u = int(targets[i].split(':')[0])
            conn_rss[u] = max(conn_rss.get(u, 0), rss_mib(c.pid))
        # U4 goes away: its senders close and its clients die (SIGKILL),
        # so what its clients' sockets still held is not counted as U4's
        # demand; what the portal had queued for U4 still drains.
        period[0] = 0.05
        t_stop = sender.cmd('stop 4', 'stop 4')['t'] if TAIL > 0 else s1['t']
        for i, c in enumerate(conns if TAIL > 0 else []):
            if targets[i].startswith('4:'):
                c.kill()
        # Until U4's bytes have stopped arriving for 3 s (what it had
        # queued on the way drains first), at most TAIL s.
        last, last_t = None, time.monotonic()
        while time.monotonic() - t_stop < TAIL:
            if 'kernel_queues_1s' not in res and time.monotonic() - t_stop > 1:
                res['kernel_queues_1s'] = ss_queues(ns, int(paddr.split(':')[2].split('~')[0]))
            time.sleep(0.25)
            c4 = sink.cmd('peek', 'peek')['counts'][3]
            if c4 != last:
                last, last_t = c4, time.monotonic()
            elif time.monotonic() - last_t >= 3:
                break
        stop_sampling.set()
        s_end = snap()
        sent = sender.cmd('quit', 'quit').get('sent')
        n = len(sink.lines)
        sink.p.stdin.write('quit\n')
        sink.p.stdin.flush()
        series = json.loads(sink.wait_line(lambda l: l.startswith('{"series"'), 30, 'series', n))['series']
        res.update({'t_idle': t_idle, 't_load': t_load, 't_w0': s0['t'], 't_w1': s1['t'],
                    't_stop': t_stop, 'snap_start': s_start, 'snap_w0': s0, 'snap_w1': s1,
                    'snap_end': s_end, 'samples': info_samples, 'series': series, 'sent': sent,
                    'pings': [(t, float(l.split('time=')[1].split()[0]))
                              for t, l in ping.lines if l.startswith('reply')],
                    'portal_peak_rss_mib': max(peak[0], s_end['rss_mib']),
                    'connect_max_rss_mib': conn_rss,
                    'portal_stderr_tail': portal.err[-5:]})
    finally:
        for p in reversed(Proc.all):
            p.kill()
        subprocess.run(['rm', '-rf', d])
    with open(a.out, 'w') as f:
        json.dump(res, f)
    print(summary_line(analyse(res)))


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ------------------------------------------------------------------ analysis

def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    if not s:
        return float('nan')
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def at(series, t):
    """The cumulative counts of the last bin at or before t."""
    best = series[0]
    for row in series:
        if row[0] <= t:
            best = row
        else:
            break
    return best


def jain(xs):
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs)) if any(xs) else float('nan')


def analyse(r):
    o = {'setting': r.get('label', r['setting']), 'portal': r['portal']}
    idle = [ms for t, ms in r['pings'] if r['t_idle'] + 1 <= t < r['t_load']]
    load = [ms for t, ms in r['pings'] if r['t_w0'] <= t < r['t_w1']]
    o['idle_n'], o['load_n'] = len(idle), len(load)
    o['idle_p50'], o['idle_p99'] = pct(idle, 50), pct(idle, 99)
    o['load_p50'], o['load_p99'] = pct(load, 50), pct(load, 99)
    o['load_max'] = max(load) if load else float('nan')
    # Pings are sequential (the next one 100 ms after a reply): a round
    # trip still unanswered at the end of the window is at least this long.
    before = [t for t, _ in r['pings'] if t < r['t_w1']]
    o['pending_ms'] = (r['t_w1'] - max(before)) * 1000 - 100 if before else None
    if not load and o['pending_ms'] is not None:
        o['load_max'] = o['pending_ms']
    ser = r['series']
    a0, a1 = at(ser, r['t_w0']), at(ser, r['t_w1'])
    secs = a1[0] - a0[0]
    per = [(a1[i] - a0[i]) / secs for i in range(1, 5)]
    o['user_MBps'] = [x / 1e6 for x in per]
    o['jain'] = jain(per)
    o['goodput_mbit'] = sum(per) * 8 / 1e6
    # 1 s windows inside the window: how steady the total is
    ones = []
    t = a0[0]
    while t + 1 <= a1[0] + 1e-9:
        x0, x1 = at(ser, t), at(ser, t + 1)
        ones.append(sum(x1[1:]) - sum(x0[1:]))
        t += 1
    o['goodput_1s_min_max_mbit'] = [min(ones) * 8 / 1e6, max(ones) * 8 / 1e6] if ones else None
    w0, w1 = r['snap_w0'], r['snap_w1']
    wsecs = w1['t'] - w0['t']
    cfg = r['rate_mbit'] * (100 - r['sub_percent']) / 100
    o['configured_mbit'] = cfg if r['portal'] == 'fairway' else None
    if 'info' in w0:
        # the link's bytes: what the tunnels sent plus TCP/IP headers and ACKs (overhead)
        wire = lambda i: i['bytes'] + i.get('overhead', 0)
        o['wire_mbit'] = (wire(w1['info']) - wire(w0['info'])) * 8 / wsecs / 1e6
        o['hdr_mbit'] = (w1['info'].get('overhead', 0) - w0['info'].get('overhead', 0)) * 8 / wsecs / 1e6
        cls = {c['name']: c for c in w0['info']['classes']}
        o['class_wire_mbit'] = {c['name']: (c['bytes'] - cls[c['name']]['bytes']) * 8 / wsecs / 1e6
                                for c in w1['info']['classes'] if c['name'] in cls}
        if r['portal'] == 'fairway':
            o['rate_error_pct'] = (o['wire_mbit'] / cfg - 1) * 100
    if w0.get('tc') and w1.get('tc'):
        o['veth_mbit'] = (w1['tc']['bytes'] - w0['tc']['bytes']) * 8 / wsecs / 1e6
        o['veth_dropped'] = w1['tc']['dropped'] - w0['tc']['dropped']
        bl = [s['tc']['backlog_pkts'] for s in r['samples']
              if s.get('tc') and w0['t'] <= s['t'] <= w1['t']]
        o['fifo_backlog_pkts_median'] = pct(bl, 50) if bl else None
        o['veth_util_pct'] = o['veth_mbit'] / r['rate_mbit'] * 100
    cpu = w1['cpu'] - w0['cpu']
    o['portal_cpu_pct'] = cpu / wsecs * 100
    o['MB_per_cpu_s'] = sum(per) * secs / 1e6 / cpu if cpu > 0 else float('nan')
    o['portal_peak_rss_mib'] = r.get('portal_peak_rss_mib')
    o.update(absorb(r, per))
    o.update(absorb_portal(r))
    return o


def absorb_portal(r):
    """The hand-off on the portal's own per-user byte counts (`fairway info`
    every 50 ms once U4 stops). U4 is idle at the portal from the first
    sample after which its class sends nothing more (its last byte left
    before that sample). `absorb_portal_ms` is the end of the first window
    of >= 100 ms that starts then and in which u1..u3 together send >= 95 %
    of what u1..u4 sent during the measurement window, provided every such
    window in the next 500 ms does too: an upper bound (one window long
    even if the hand-off is instant)."""
    w0, w1 = r['snap_w0'], r['snap_w1']
    if not r.get('tail_s') or 'info' not in w0 or 't_info' not in w0:
        return {}
    users = ['u1', 'u2', 'u3', 'u4']

    def cb(snap):
        return {c['name']: c['bytes'] for c in snap['info']['classes']}
    b0, b1 = cb(w0), cb(w1)
    if any(u not in b0 for u in users):
        return {}
    total = sum(b1[u] - b0[u] for u in users) / (w1['t_info'] - w0['t_info'])
    sm = [(x['t_info'], cb(x)) for x in r['samples']
          if 'info' in x and 't_info' in x and x['t'] >= r['t_stop'] - 0.2]
    if len(sm) < 4 or total <= 0:
        return {}
    last = None
    for i in range(1, len(sm)):
        if sm[i][1]['u4'] > sm[i - 1][1]['u4']:
            last = i
    if last is None or last >= len(sm) - 2:
        return {'u4_drain_portal_ms': None, 'absorb_portal_ms': None}
    t_idle = sm[last][0]
    wins = []
    for j in range(last, len(sm)):
        i = j + 1
        while i < len(sm) and sm[i][0] - sm[j][0] < 0.1:
            i += 1
        if i == len(sm):
            break
        oth = sum(sm[i][1][u] - sm[j][1][u] for u in users[:3]) / (sm[i][0] - sm[j][0])
        wins.append((sm[j][0], sm[i][0], oth >= 0.95 * total, oth / total))
    out = {'u4_drain_portal_ms': (t_idle - r['t_stop']) * 1000, 'absorb_portal_ms': None,
           'absorb_portal_share': [round(w[3], 3) for w in wins[:12]]}
    for k, (tj, ti, good, _) in enumerate(wins):
        later = [w for w in wins[k:] if w[0] <= tj + 0.5]
        if good and all(w[2] for w in later) and wins[-1][0] >= tj + 0.5:
            out['absorb_portal_ms'] = (ti - t_idle) * 1000
            break
    return out


def absorb(r, per):
    """U4 stops at t_stop (its senders close). Bytes it had queued on the
    way (sender socket, its connect processes, the portal's tunnel queues)
    still drain; U4 is idle at the portal once its 50 ms bins at the sink
    fall under 10 % of its earlier rate for good. `absorb` is the time from
    then until U1..U3 together carry >= 95 % of the earlier total (in a
    moving window) and keep doing so for 500 ms. The window is 100 ms, or
    longer at low rates: the sink sees each user's bytes in bursts of up
    to 64 KiB (one read), so it spans at least 8 such bursts of the
    others' earlier total (250 ms at 20 mbit, 500 ms at 10)."""
    if not r.get('tail_s'):
        return {'u4_drain_ms': None, 'absorb_ms': None}
    ser = [row for row in r['series'] if row[0] >= r['t_stop'] - 0.5]
    total = sum(per)
    u4 = per[3]
    rates = []
    for i in range(1, len(ser)):
        dt = ser[i][0] - ser[i - 1][0]
        if dt <= 0:
            continue
        rates.append((ser[i][0], [(ser[i][k] - ser[i - 1][k]) / dt for k in range(1, 5)]))
    out = {'u4_drain_ms': None, 'absorb_ms': None}
    if not rates or total <= 0:
        return out
    # U4 idle: last bin with U4 above 10 % of its share, then idle.
    last_busy = None
    for t, x in rates:
        if t >= r['t_stop'] and x[3] > 0.1 * u4:
            last_busy = t
    t_idle = last_busy if last_busy is not None else r['t_stop']
    out['u4_drain_ms'] = (t_idle - r['t_stop']) * 1000
    if t_idle > rates[-1][0] - 0.6:
        out['absorb_ms'] = None      # U4 still draining when the run ended
        out['u4_drained'] = False
        return out
    out['u4_drained'] = True
    # others' rate in a moving window of `w` bins
    hold = int(round(0.5 / BIN))
    w = max(2, int(round(max(0.1, 8 * 65536 / total) / BIN)))
    out['absorb_window_ms'] = w * BIN * 1000
    ok = []
    for i in range(w - 1, len(rates)):
        oth = sum(sum(rates[j][1][:3]) for j in range(i - w + 1, i + 1)) / w
        ok.append((rates[i][0], oth >= 0.95 * total))
    for i, (t, good) in enumerate(ok):
        if t < t_idle - 0.5:
            continue
        if all(g for _, g in ok[i:i + hold]) and len(ok[i:i + hold]) == hold:
            out['absorb_ms'] = max(0.0, (t - t_idle) * 1000)
            break
    return out


def fmt(x, f='{:.1f}'):
    return '—' if x is None or x != x else f.format(x)


def summary_line(o):
    return (f"setting {o['setting']} portal {o['portal']:15s} ping idle {fmt(o['idle_p50'], '{:.2f}')}/"
            f"{fmt(o['idle_p99'], '{:.2f}')} load {fmt(o['load_p50'], '{:.2f}')}/{fmt(o['load_p99'], '{:.2f}')} ms "
            f"(n={o['load_n']}); users MB/s {' '.join(f'{x:.3f}' for x in o['user_MBps'])} "
            f"Jain {o['jain']:.3f}; goodput {o['goodput_mbit']:.2f} mbit wire {fmt(o.get('wire_mbit'), '{:.2f}')} (headers {fmt(o.get('hdr_mbit'), '{:.2f}')}) "
            f"veth {fmt(o.get('veth_mbit'), '{:.2f}')}; U4 drain {fmt(o['u4_drain_ms'], '{:.0f}')} ms absorb "
            f"{fmt(o['absorb_ms'], '{:.0f}')} ms (at the portal: drain {fmt(o.get('u4_drain_portal_ms'), '{:.0f}')} "
            f"absorb {fmt(o.get('absorb_portal_ms'), '{:.0f}')} ms); CPU {o['portal_cpu_pct']:.0f}% {o['MB_per_cpu_s']:.1f} MB/CPU-s; "
            f"RSS peak {fmt(o['portal_peak_rss_mib'], '{:.0f}')} MiB")


def cmd_report(a):
    rows = []
    for fn in a.files:
        with open(fn) as f:
            r = json.load(f)
        o = analyse(r)
        rows.append(o)
        print(summary_line(o), file=sys.stderr)
    if a.json:
        json.dump(rows, sys.stdout, indent=1)
        return
    print('| setting | portal | U5 ping idle p50/p99 ms | U5 ping loaded p50/p99 (max) ms | U1/U2/U3/U4 MB/s '
          '| Jain | goodput mbit (1 s min–max) | wire rate vs configured | veth util | U4 drain → absorb ms '
          '| portal CPU | MB per CPU-s | portal RSS peak |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for o in rows:
        rate = '—'
        if o.get('configured_mbit'):
            rate = f"{o['wire_mbit']:.2f} / {o['configured_mbit']:.2f} mbit ({o['rate_error_pct']:+.1f} %)"
        elif o.get('wire_mbit'):
            rate = f"{o['wire_mbit']:.2f} mbit (unshaped)"
        mm = o['goodput_1s_min_max_mbit']
        print(f"| {o['setting']} | {o['portal']} | {fmt(o['idle_p50'], '{:.2f}')} / {fmt(o['idle_p99'], '{:.2f}')} "
              f"| {fmt(o['load_p50'], '{:.1f}')} / {fmt(o['load_p99'], '{:.1f}')} ({'≥ ' if not o['load_n'] else ''}{fmt(o['load_max'], '{:.0f}')}; n={o['load_n']}) "
              f"| {' / '.join(f'{x:.3f}' for x in o['user_MBps'])} | {o['jain']:.3f} "
              f"| {o['goodput_mbit']:.2f} ({mm[0]:.2f}–{mm[1]:.2f}) | {rate} "
              f"| {fmt(o.get('veth_util_pct'), '{:.1f} %')} "
              f"| {fmt(o['u4_drain_ms'], '{:.0f}')} → {fmt(o['absorb_ms'], '{:.0f}')} "
              f"(portal {fmt(o.get('u4_drain_portal_ms'), '{:.0f}')} → {fmt(o.get('absorb_portal_ms'), '{:.0f}')}) "
              f"| {o['portal_cpu_pct']:.0f} % | {o['MB_per_cpu_s']:.1f} | {fmt(o['portal_peak_rss_mib'], '{:.0f}')} MiB |")


def main():
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest='cmd', required=True)
    s = sp.add_parser('sink')
    s.add_argument('--users', type=int, default=4)
    s = sp.add_parser('send')
    s.add_argument('targets', nargs='+')
    s = sp.add_parser('run')
    s.add_argument('--setting', required=True)
    s.add_argument('--portal', required=True, choices=['fairway', 'fairway-noshape', 'js'])
    s.add_argument('--out', required=True)
    s.add_argument('--label')
    s.add_argument('--no-sample', action='store_true', help='no fairway info during the run (CPU figures)')
    s.add_argument('--idle', type=float, default=8)
    s.add_argument('--warm', type=float, default=3)
    s.add_argument('--win', type=float, default=10)
    s.add_argument('--tail', type=float, default=45)
    s = sp.add_parser('report')
    s.add_argument('--json', action='store_true')
    s.add_argument('files', nargs='+')
    a = ap.parse_args()
    {'sink': cmd_sink, 'send': cmd_send, 'run': cmd_run, 'report': cmd_report}[a.cmd](a)


if __name__ == '__main__':
    main()
