#!/usr/bin/env python3
"""The portal's metrics with real tools (issue 14):

  a portal shaped to 20 mbit; users alice and bob (policy [user] sections)
  and carol (a member with no section, --member) each send bulk through a
  `fairway connect -L` tunnel to one `fairway host` (a guest) exposing a
  sink; then

  - `fairway info --prometheus` twice, 2 s apart: `promtool check metrics`
    reports nothing on either, every user's up-byte counter rose, the
    per-band histogram counted bulk chunks, process and portal series are
    there, carol has her own short-id series and guest excludes her;
  - `fairway info --dot | dot -Tsvg`: no warnings, every class drawn, a
    borrowing edge for a class above its guarantee;
  - a reload with metrics-max-users = 3 folds the users past the cap into
    user="other" (fairway_metrics_users_folded), still promtool-clean;
  - bad input: --prometheus with --dot is a usage error (exit 2),
    --metrics-max-users 0 too, and metrics-max-users = 0 in the file.

Prints TAP lines and "# pass N" / "# fail N" (scripts/test counts them).
Usage: metrics_test.py BUILD_DIR [ARTIFACT_DIR]"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import json as jsonlib
import urllib.error
import urllib.request
import urllib.parse

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else 'build-test')
ART = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
FW = os.path.join(BUILD, 'fairway')
results = []
procs = []


def tap(ok, what, detail=''):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {what}", flush=True)
    if not ok and detail:
        for line in str(detail).rstrip().split('\n')[:60]:
            print('#   ' + line, flush=True)


def fw(*args, timeout=15):
    return subprocess.run([FW, *args], capture_output=True, text=True, timeout=timeout)


class Proc:
    """A child whose stdout lines are collected by a thread."""

    def __init__(self, name, argv):
        self.name = name
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines, self.err = [], []
        procs.append(self)
        threading.Thread(target=self._read, args=(self.p.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stderr, self.err), daemon=True).start()

    @staticmethod
    def _read(f, out):
        for line in f:
            out.append(line.rstrip('\n'))

    def wait_line(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                if pred(line):
                    return line
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f'{self.name}: no {what} within {timeout} s; stderr:\n' + '\n'.join(self.err[-20:]))

    def kill(self):
        if self.p.poll() is None:
            self.p.terminate()   # by pid: only what we started
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def sink():
    """A TCP sink that reads and drops; returns its port."""
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(16)

    def serve(c):
        with c:
            while c.recv(1 << 16):
                pass

    def accept():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return ls.getsockname()[1]


stop_sending = threading.Event()


def sender(port):
    """Bulk into a local port for as long as the test runs."""
    s = socket.create_connection(('127.0.0.1', port))
    buf = b'\x5a' * 65536

    def run():
        try:
            while not stop_sending.is_set():
                s.sendall(buf)
        except OSError:
            pass
    threading.Thread(target=run, daemon=True).start()


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def parse(text):
    """{(name, frozenset(labels)): value} of the sample lines."""
    out = {}
    for line in text.split('\n'):
        if not line or line.startswith('#'):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ''))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def promtool(text):
    r = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    d = tempfile.mkdtemp(prefix='fairway-metrics-')
    ids = {}
    for n in ['p', 'h', 'alice', 'bob', 'carol']:
        subprocess.run([FW, 'keygen', '--secret', f'{d}/{n}'], capture_output=True, check=True)
        ids[n] = fw('id', '--secret', f'{d}/{n}').stdout.strip()
    policy = f'{d}/policy.ini'
    base = ['[portal]', 'listen = 127.0.0.1:0', 'privacy = open', 'rate-up = 20mbit', 'rate-sub-percent = 5',
            'rate-local-percent = 5', 'borrow = yes']
    users = ['[user alice]', f'id = {ids["alice"]}', '[user bob]', f'id = {ids["bob"]}']
    with open(policy, 'w') as f:
        f.write('\n'.join(base + users) + '\n')
    ctl = ['--secret', f'{d}/p']
    try:
        portal = Proc('portal', [FW, 'portal', '-c', policy, '--secret', f'{d}/p',
                                 '--member', ids['carol'], '--metrics', '127.0.0.1:0'])
        paddr = portal.wait_line(lambda l: l.startswith('net:'), 10, 'address')
        murl = portal.wait_line(lambda l: l.startswith('metrics: '), 10, 'metrics URL')[len('metrics: '):]
        host = Proc('host', [FW, 'host', '--portal', paddr, '--secret', f'{d}/h',
                             '--expose', f'sink=127.0.0.1:{sink()}'])
        tun = host.wait_line(lambda l: l.startswith('tunnel:'), 20, 'tunnel address')
        lports, conns = {}, {}
        for u in ['alice', 'bob', 'carol']:
            lports[u] = free_port()
            c = Proc(f'connect {u}', [FW, 'connect', tun, '--portal', paddr, '--secret', f'{d}/{u}',
                                      '-L', f'127.0.0.1:{lports[u]}:sink'] + (['--verbose'] if u == 'alice' else []))
            conns[u] = c
            c.wait_line(lambda l: l.startswith('forwarding'), 30, 'forwarding')
        for u in lports:
            sender(lports[u])
        time.sleep(2)

        # ---- two scrapes
        r1 = fw('info', '--prometheus', *ctl)
        time.sleep(2)
        r2 = fw('info', '--prometheus', *ctl)
        tap(r1.returncode == 0 and r2.returncode == 0, 'fairway info --prometheus exits 0',
            r1.stderr + r2.stderr)
        if ART:
            with open(os.path.join(ART, 'metrics.txt'), 'w') as f:
                f.write(r2.stdout)
        for i, r in enumerate([r1, r2]):
            rc, out = promtool(r.stdout)
            tap(rc == 0 and out == '', f'promtool check metrics: zero problems (scrape {i + 1})',
                out or f'exit {rc}')
        s1, s2 = parse(r1.stdout), parse(r2.stdout)

        # ---- the same over HTTP (--metrics: a listener of its own)
        with urllib.request.urlopen(murl, timeout=10) as resp:
            ctype, body = resp.headers.get('Content-Type', ''), resp.read().decode()
        rc, out = promtool(body)
        tap(ctype.startswith('text/plain; version=0.0.4') and rc == 0 and out == '' and
            'fairway_user_bytes_total' in body, f'GET {murl}: 0.0.4 text, promtool clean', ctype + out)
        try:
            urllib.request.urlopen(urllib.request.Request(murl, data=b'x', method='POST'), timeout=10)
            tap(False, 'POST /metrics is refused')
        except urllib.error.HTTPError as e:
            tap(e.code == 405, f'POST /metrics is refused ({e.code})')

        # ---- a real Prometheus scrapes it for 10 s
        pport = free_port()
        u = urllib.parse.urlsplit(murl)
        with open(f'{d}/prom.yml', 'w') as f:
            f.write('global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fairway\n'
                    f'    metrics_path: {u.path}\n    static_configs:\n      - targets: ["{u.netloc}"]\n')
        prom = subprocess.Popen(['prometheus', f'--config.file={d}/prom.yml', f'--storage.tsdb.path={d}/tsdb',
                                 f'--web.listen-address=127.0.0.1:{pport}'],
                                stdout=subprocess.DEVNULL, stderr=open(f'{d}/prometheus.log', 'w'))
        try:
            time.sleep(10)
            def q(expr):
                url = f'http://127.0.0.1:{pport}/api/v1/query?' + urllib.parse.urlencode({'query': expr})
                with urllib.request.urlopen(url, timeout=10) as r:
                    return jsonlib.load(r)['data']['result']
            up = q('up{job="fairway"}')
            tap(len(up) == 1 and up[0]['value'][1] == '1', f'Prometheus: the portal is up ({up})')
            rising = q('increase(fairway_user_bytes_total{dir="up"}[8s]) > 0')
            seen = sorted({r['metric'].get('user') for r in rising})
            tap({'alice', 'bob'} <= set(seen), f'Prometheus: alice\'s and bob\'s byte counters rise ({seen})')
        except Exception as e:
            tap(False, 'Prometheus answered its queries', repr(e) + open(f'{d}/prometheus.log').read()[-2000:])
        finally:
            prom.kill()
            prom.wait()
        carol = '@' + ids['carol'][1:9]
        for u in ['alice', 'bob', carol]:
            a = val(s1, 'fairway_user_bytes_total', user=u, dir='up')
            b = val(s2, 'fairway_user_bytes_total', user=u, dir='up')
            tap(a is not None and b is not None and b > a + 100000,
                f'{u}: fairway_user_bytes_total{{dir="up"}} rose between the scrapes ({a} -> {b})')
        down1 = val(s1, 'fairway_user_bytes_total', user='guest', dir='down')
        down2 = val(s2, 'fairway_user_bytes_total', user='guest', dir='down')
        tap(down1 is not None and down2 > down1 + 300000,
            f'guest (the host) down bytes rose ({down1} -> {down2})')
        # 20 mbit less 5 %: 2.375 MB/s on the wire for everyone together
        rates = [val(s2, 'fairway_user_rate_bytes_per_second', user=u) or 0 for u in ['alice', 'bob', carol]]
        total = sum(rates)
        tap(1.2e6 < total < 2.6e6 and min(rates) > 0.1e6,
            f'current rates near the shaped link (alice, bob, carol: {rates})')
        g_up = val(s2, 'fairway_user_bytes_total', user='guest', dir='up')
        tap(g_up is not None and g_up < val(s2, 'fairway_user_bytes_total', user=carol, dir='up') / 4,
            f'guest excludes carol, counted on her own (guest up {g_up})')
        tap(val(s2, 'fairway_user_guarantee_bytes_per_second', user='alice') > 0 and
            val(s2, 'fairway_user_ceiling_bytes_per_second', user='alice', dir='up') >= 2.3e6 and
            val(s2, 'fairway_user_guarantee_bytes_per_second', user=carol) is None,
            'guarantee and ceiling for classes, not for members on their own')
        c1 = val(s1, 'fairway_user_queue_delay_seconds_count', user='alice', band='bulk') or 0
        c2 = val(s2, 'fairway_user_queue_delay_seconds_count', user='alice', band='bulk') or 0
        inf2 = val(s2, 'fairway_user_queue_delay_seconds_bucket', user='alice', band='bulk', le='+Inf')
        tap(c2 > c1 > 0 and inf2 == c2, f'bulk queue-delay histogram counts chunks ({c1} -> {c2})')
        tap(val(s2, 'fairway_tunnels_open') == 3 and val(s2, 'fairway_tunnels_opened_total') >= 3,
            'fairway_tunnels_open 3')
        tap(val(s2, 'fairway_connections', state='open', transport='tcp') == 4 and
            val(s2, 'fairway_handshakes_total', result='ok') == 4 and
            val(s2, 'fairway_attendants') == 1 and val(s2, 'fairway_members') == 3,
            'connections, handshakes, attendants, members',
            [(k, v) for k, v in s2.items() if k[0] in ('fairway_connections', 'fairway_handshakes_total',
                                                       'fairway_attendants', 'fairway_members')])
        tap((val(s2, 'process_resident_memory_bytes') or 0) > 1e6 and
            (val(s2, 'process_cpu_seconds_total') or 0) > 0 and
            (val(s2, 'process_start_time_seconds') or 0) > 1.7e9,
            'process RSS, CPU and start time')

        # ---- fairway.share: a member's own share, once a second (C client)
        sh = Proc('share', [FW, 'call', paddr, 'fairway.share', '--source', '--secret', f'{d}/bob',
                            '--timeout', '20s'])
        try:
            sh.wait_line(lambda l: False, 3.4, 'nothing')
        except RuntimeError:
            pass
        sh.kill()
        import json
        samples = [json.loads(l) for l in sh.lines if l.startswith('{')]
        keys = {'user', 'guarantee', 'ceiling', 'rate', 'borrowed_rate', 'delay_ms', 'delay_p99_ms', 'link'}
        tap(3 <= len(samples) <= 5 and all(set(x) == keys for x in samples),
            f'fairway.share: a sample a second with the documented fields ({len(samples)} in 3.4 s)',
            '\n'.join(sh.lines + sh.err))
        last = samples[-1] if samples else {}
        tap(last.get('user') == 'bob' and last.get('link') == 2375000 and
            0 < last.get('guarantee', 0) <= last.get('ceiling', 0) and
            0.3e6 < last.get('rate', 0) < 1.2e6 and
            all(0 <= x['borrowed_rate'] <= x['rate'] + 1e5 for x in samples[1:]) and
            last.get('delay_ms', 0) > 0 and last.get('delay_p99_ms', 0) >= last.get('delay_ms', 1),
            f'fairway.share: bob\'s guarantee, ceiling, rate, borrowing and delay ({last})')
        nm = fw('call', paddr, 'fairway.share', '--source', '--secret', f'{d}/h', '--timeout', '5s')
        tap(nm.returncode == 1 and 'for members' in nm.stderr, 'fairway.share refuses a non-member', nm.stderr)
        lines = [l for l in conns['alice'].lines if l.startswith('share: alice ')]
        tap(len(lines) >= 2 and 'guarantee' in lines[-1] and 'borrowed' in lines[-1],
            'fairway connect --verbose prints its share when it changes', '\n'.join(conns['alice'].lines))

        # ---- the class tree
        r = fw('info', '--dot', *ctl)
        svg = f'{ART or d}/classes.svg'
        dr = subprocess.run(['dot', '-Tsvg', '-o', svg], input=r.stdout, capture_output=True, text=True)
        tap(r.returncode == 0 and dr.returncode == 0 and dr.stderr == '',
            'fairway info --dot | dot -Tsvg: no warnings', r.stderr + dr.stderr)
        tap(all(f'class {c}' in r.stdout for c in ['alice', 'bob', 'guest', 'local']) and
            'borrowing' in r.stdout and '#d95f02' in r.stdout,
            'the tree shows every class and who borrows', r.stdout)
        if ART:
            with open(os.path.join(ART, 'classes.dot'), 'w') as f:
                f.write(r.stdout)

        # ---- the cap: local, guest, alice; bob and carol into other
        with open(policy, 'w') as f:
            f.write('\n'.join(base + ['metrics-max-users = 3'] + users) + '\n')
        rr = fw('reload', *ctl)
        r3 = fw('info', '--prometheus', *ctl)
        s3 = parse(r3.stdout)
        rc, out = promtool(r3.stdout)
        tap(rr.returncode == 0 and rc == 0 and out == '', 'after a reload with metrics-max-users = 3: promtool clean',
            rr.stderr + out)
        users3 = {dict(k[1]).get('user') for k in s3 if k[0] == 'fairway_user_bytes_total'}
        tap(users3 == {'local', 'guest', 'alice', 'other'} and val(s3, 'fairway_metrics_users_folded') == 2,
            f'users past the cap are summed into "other" ({sorted(users3)})')
        other = val(s3, 'fairway_user_bytes_total', user='other', dir='up')
        bob_c = val(s2, 'fairway_user_bytes_total', user='bob', dir='up') + \
            val(s2, 'fairway_user_bytes_total', user=carol, dir='up')
        tap(other is not None and other >= bob_c, f'"other" holds bob and carol ({other} >= {bob_c})')

        # ---- fairway host prints its share too (bob, a member, as a second host)
        h2 = Proc('host bob', [FW, 'host', '--portal', paddr, '--secret', f'{d}/bob',
                               '--expose', f'sink=127.0.0.1:{sink()}'])
        try:
            line = h2.wait_line(lambda l: l.startswith('share: bob guarantee '), 10, 'share line')
            tap('rate' in line and 'ceiling' in line, f'fairway host prints its share ({line})')
        except RuntimeError as e:
            tap(False, 'fairway host prints its share', str(e))
        h2.kill()

        # ---- bad input
        b = fw('info', '--prometheus', '--dot', *ctl)
        tap(b.returncode == 2 and 'exclude' in b.stderr, '--prometheus with --dot: exit 2', b.stderr)
        b = fw('portal', '--metrics-max-users', '0', '--listen', '127.0.0.1:0', '--secret', f'{d}/p',
               '--ctl', 'none')
        tap(b.returncode == 2 and 'metrics-max-users' in b.stderr, '--metrics-max-users 0: exit 2', b.stderr)
        with open(f'{d}/bad.ini', 'w') as f:
            f.write('[portal]\nmetrics-max-users = 0\n')
        b = fw('check', f'{d}/bad.ini')
        tap(b.returncode == 2 and 'metrics-max-users' in b.stdout + b.stderr,
            'metrics-max-users = 0 in a policy: refused with its line', b.stdout + b.stderr)
    except Exception as e:   # a step that could not run is a failure, with its reason
        tap(False, 'the test ran to its end', repr(e))
    finally:
        stop_sending.set()
        for p in reversed(procs):
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
    npass = sum(results)
    print(f'# pass {npass}\n# fail {len(results) - npass}')
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
