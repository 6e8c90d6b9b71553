#!/usr/bin/env python3
"""The churn soak of issue 11 (run through soak.sh, which builds the scene).

   soak.py FAIRWAY SECONDS DIR

A portal, one host exposing an echo service and a reply-after-EOF service
(both in this process), and WORKERS client slots that each, over and
over: start `fairway connect -L` (a connect), run a few transfers through
it (random bytes, half-close, read to EOF), sometimes kill the client
mid-transfer, and end it with SIGKILL or SIGTERM. Beside them: junk
connections to the portal, host restarts (SIGTERM / SIGKILL, by turns),
and the portal's RSS sampled every 10 s.

Every transfer is checked exactly. One that no kill or restart touched
must come back whole: echo returns the bytes sent, reply returns
sha256(bytes sent). One that a kill of its client or a host restart
touched may be cut, but what arrived must be a byte-exact prefix of what
was expected. Anything else is a mismatch, printed with its details.
Exit status 1 when there was a mismatch, a hang, an uncut transfer that
failed, or the portal died.
"""
import asyncio
import hashlib
import json
import os
import random
import signal
import socket
import sys
import time

FAIRWAY, SECONDS, DIR = sys.argv[1], float(sys.argv[2]), sys.argv[3]
WORKERS = int(os.environ.get('SOAK_WORKERS', '4'))
HOST_EVERY = float(os.environ.get('SOAK_HOST_EVERY', '30'))   # s between host restarts
JUNK_EVERY = float(os.environ.get('SOAK_JUNK_EVERY', '0.15'))  # s between junk connections
XFER_TIMEOUT = 120.0
ENV = dict(os.environ, HOME=DIR, FAIRWAY_HOME=os.path.join(DIR, '.fairway'))

n = dict(connects=0, connect_failed=0, transfers=0, whole=0, cut=0, bytes=0,
         sigkill=0, sigterm=0, kill_mid=0, junk=0, host_restarts=0,
         refused_cut=0, mismatch=0, hang=0, failed_uncut=0)
problems = []      # one dict per mismatch / hang / failed uncut transfer
rss = []           # (t, kB)
host_epoch = 0     # bumped when a host restart begins and when it ends
t0 = time.monotonic()


def log(*a):
    print('%7.1f' % (time.monotonic() - t0), *a, file=LOG, flush=True)


def problem(kind, **d):
    n[kind] += 1
    d['kind'] = kind
    d['t'] = round(time.monotonic() - t0, 1)
    problems.append(d)
    log('PROBLEM', json.dumps(d))


def free_port():
    """A port free now (another process may take it before the client's
    -L binds it: that client fails to start and counts as connect_failed)."""
    with socket.create_server(('127.0.0.1', 0)) as srv:
        return srv.getsockname()[1]


async def spawn(name, *args):
    err = open(os.path.join(DIR, 'logs', name + '.err'), 'ab')
    return await asyncio.create_subprocess_exec(FAIRWAY, *args, env=ENV, cwd=DIR,
                                                stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=err)


async def line_starting(proc, prefix, timeout):
    """The first stdout line starting with prefix, or None (exit / timeout)."""
    async def rd():
        while True:
            ln = await proc.stdout.readline()
            if not ln:
                return None
            ln = ln.decode().strip()
            if ln.startswith(prefix):
                return ln
    try:
        return await asyncio.wait_for(rd(), timeout)
    except asyncio.TimeoutError:
        return None


async def drain_stdout(proc):
    while await proc.stdout.read(65536):
        pass


def kill(proc, sig):
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass


# ---- the services the host exposes ----------------------------------------

def service(echo):
    """A service for the host to expose: echo (bytes back as they come, EOF
    after the app's EOF) or reply (sha256 hex of all it got, after EOF)."""
    async def serve(r, w):
        h = hashlib.sha256()
        try:
            while True:
                d = await r.read(65536)
                if not d:
                    break
                if echo:
                    w.write(d)
                    await w.drain()
                else:
                    h.update(d)
            if not echo:
                w.write(h.hexdigest().encode())
            w.write_eof()
            await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()
    return serve


# ---- portal and host ------------------------------------------------------

class Scene:
    portal = None
    portal_addr = None
    host = None
    tunnel = None
    up = None   # asyncio.Event: set while the host is announced


async def start_host(sc, echo_port, reply_port):
    sc.host = await spawn('host', 'host', '--portal', sc.portal_addr, '--secret', 'host.secret',
                          '--expose', 'echo=127.0.0.1:%d' % echo_port,
                          '--expose', 'reply=127.0.0.1:%d' % reply_port)
    tun = await line_starting(sc.host, 'tunnel:', 30)
    if tun is None:
        raise SystemExit('soak: the host did not announce itself')
    sc.tunnel = tun
    asyncio.ensure_future(drain_stdout(sc.host))


async def host_restarts(sc, echo_port, reply_port, stop):
    global host_epoch
    k = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), HOST_EVERY)
            return
        except asyncio.TimeoutError:
            pass
        k += 1
        sig = signal.SIGTERM if k % 2 else signal.SIGKILL
        sc.up.clear()
        host_epoch += 1
        kill(sc.host, sig)
        await sc.host.wait()
        await start_host(sc, echo_port, reply_port)
        host_epoch += 1
        n['host_restarts'] += 1
        log('host restarted after', sig.name)
        sc.up.set()


# ---- transfers --------------------------------------------------------------

def pick_size():
    r = random.random()
    if r < 0.1:
        return 0
    if r < 0.5:
        return random.randint(1, 4096)
    if r < 0.9:
        return random.randint(4097, 1 << 20)
    return random.randint(1 << 20, 4 << 20)


async def transfer(port, service, data):
    """Send data, half-close, read to EOF. Returns (bytes got, error or None)."""
    got = bytearray()
    try:
        r, w = await asyncio.open_connection('127.0.0.1', port)
    except OSError as e:
        return got, 'connect: %s' % e

    async def send():
        try:
            for i in range(0, len(data), 65536):
                w.write(data[i:i + 65536])
                await w.drain()
            w.write_eof()
        except (ConnectionError, OSError):
            pass   # the reader sees what matters
    sender = asyncio.ensure_future(send())
    err = None
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            got += d
    except (ConnectionError, OSError) as e:
        err = str(e) or type(e).__name__
    await sender
    w.close()
    return got, err


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


async def worker(sc, wid, stop):
    secret = 'c%d.secret' % wid
    while not stop.is_set():
        await sc.up.wait()
        pe, pr = free_port(), free_port()
        epoch0 = host_epoch
        cli = await spawn('client%d' % wid, 'connect', sc.tunnel, '--portal', sc.portal_addr,
                          '--secret', secret, '-L', '127.0.0.1:%d:echo' % pe,
                          '-L', '127.0.0.1:%d:reply' % pr)
        fw = await line_starting(cli, 'forwarding', 30)
        if fw is None:
            n['connect_failed'] += 1
            if epoch0 == host_epoch and cli.returncode is None:
                log('client %d: no forwarding line within 30 s' % wid)
            kill(cli, signal.SIGKILL)
            await cli.wait()
            await asyncio.sleep(0.2)
            continue
        await line_starting(cli, 'forwarding', 5)   # the second -L
        asyncio.ensure_future(drain_stdout(cli))
        n['connects'] += 1
        killed = [False]
        mid = random.random() < 0.3
        for _ in range(random.randint(1, 4)):
            if stop.is_set() or cli.returncode is not None:
                break
            service = 'echo' if random.random() < 0.7 else 'reply'
            data = os.urandom(pick_size())
            want = data if service == 'echo' else hashlib.sha256(data).hexdigest().encode()
            killer = None
            if mid and not killed[0]:
                async def kill_later():
                    await asyncio.sleep(random.uniform(0, 0.3))
                    killed[0] = True
                    sig = random.choice([signal.SIGKILL, signal.SIGTERM])
                    n['kill_mid'] += 1
                    n['sigkill' if sig == signal.SIGKILL else 'sigterm'] += 1
                    kill(cli, sig)
                killer = asyncio.ensure_future(kill_later())
            try:
                got, err = await asyncio.wait_for(
                    transfer(pe if service == 'echo' else pr, service, data), XFER_TIMEOUT)
            except asyncio.TimeoutError:
                got, err = None, 'timeout'
            if killer is not None:
                await killer
            n['transfers'] += 1
            # a host restart since this client started ends its session
            restarted = host_epoch != epoch0 or epoch0 % 2 == 1
            touched = killed[0] or restarted
            d = dict(worker=wid, client=cli.pid, service=service, size=len(data),
                     killed=killed[0], host_restart=restarted)
            if got is None:
                problem('hang', **d)
                continue
            n['bytes'] += len(got)
            if bytes(got) == want and err is None:
                n['whole'] += 1
            elif touched and want[:len(got)] == got:
                n['cut'] += 1
                if len(got) == 0 and err and err.startswith('connect'):
                    n['refused_cut'] += 1
            elif want[:len(got)] != got:
                d.update(got=len(got), want=len(want), first_difference=first_difference(want, got),
                         error=err)
                problem('mismatch', **d)
            else:
                d.update(got=len(got), want=len(want), error=err)
                problem('failed_uncut', **d)
        if cli.returncode is None:
            sig = random.choice([signal.SIGKILL, signal.SIGTERM])
            n['sigkill' if sig == signal.SIGKILL else 'sigterm'] += 1
            kill(cli, sig)
        await cli.wait()


async def one_junk(port):
    """Random bytes at the portal, closed at once or up to 1 s later."""
    n['junk'] += 1
    try:
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(os.urandom(random.randint(0, 300)))
        await w.drain()
        if random.random() < 0.5:
            await asyncio.sleep(random.uniform(0, 1))
        w.close()
    except OSError:
        pass


async def junk(sc, stop):
    port = int(sc.portal_addr.split(':')[2].split('~')[0])
    live = set()
    while not stop.is_set():
        await asyncio.sleep(JUNK_EVERY)
        t = asyncio.ensure_future(one_junk(port))
        live.add(t)
        t.add_done_callback(live.discard)
    if live:
        await asyncio.wait(live)


def portal_rss(sc):
    with open('/proc/%d/status' % sc.portal.pid) as f:
        for ln in f:
            if ln.startswith('VmRSS:'):
                return int(ln.split()[1])
    return 0


async def sampler(sc, stop):
    while True:
        try:
            rss.append((round(time.monotonic() - t0), portal_rss(sc)))
        except OSError:
            return
        try:
            await asyncio.wait_for(stop.wait(), 10)
            return
        except asyncio.TimeoutError:
            pass


async def main():
    global LOG
    os.makedirs(os.path.join(DIR, 'logs'), exist_ok=True)
    LOG = open(os.path.join(DIR, 'logs', 'soak.log'), 'a')
    echo = await asyncio.start_server(service(True), '127.0.0.1', 0)
    reply = await asyncio.start_server(service(False), '127.0.0.1', 0)
    ep, rp = echo.sockets[0].getsockname()[1], reply.sockets[0].getsockname()[1]
    sc = Scene()
    sc.up = asyncio.Event()
    sc.portal = await spawn('portal', 'portal', '--listen', '127.0.0.1:0', '--secret', 'portal.secret')
    sc.portal_addr = await line_starting(sc.portal, 'net:', 30)
    if sc.portal_addr is None:
        raise SystemExit('soak: the portal did not start')
    asyncio.ensure_future(drain_stdout(sc.portal))
    await start_host(sc, ep, rp)
    sc.up.set()
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(worker(sc, i, stop)) for i in range(WORKERS)]
    tasks += [asyncio.ensure_future(junk(sc, stop)),
              asyncio.ensure_future(host_restarts(sc, ep, rp, stop)),
              asyncio.ensure_future(sampler(sc, stop))]
    await asyncio.sleep(SECONDS)
    stop.set()
    sc.up.set()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), XFER_TIMEOUT + 60)
    except asyncio.TimeoutError:
        print('soak: workers did not stop within %d s' % (XFER_TIMEOUT + 60))
    alive = sc.portal.returncode is None
    info = await asyncio.create_subprocess_exec(FAIRWAY, 'info', '--json', '--secret', 'portal.secret',
                                                env=ENV, cwd=DIR, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    t = time.monotonic()
    out, _ = await info.communicate()
    info_ms = (time.monotonic() - t) * 1000
    answered = info.returncode == 0 and json.loads(out or b'{}').get('ok', False)
    if alive:
        rss.append((round(time.monotonic() - t0), portal_rss(sc)))
    kill(sc.host, signal.SIGTERM)
    await sc.host.wait()
    kill(sc.portal, signal.SIGTERM)
    await sc.portal.wait()

    print('soak: %.0f s, %d client slots, host restart every %.0f s' % (SECONDS, WORKERS, HOST_EVERY))
    print('connects %(connects)d (failed %(connect_failed)d), transfers %(transfers)d '
          '(whole %(whole)d, cut by a kill or restart %(cut)d), %(bytes)d bytes back' % n)
    print('clients killed: SIGKILL %(sigkill)d, SIGTERM %(sigterm)d (mid-transfer %(kill_mid)d); '
          'junk connections %(junk)d; host restarts %(host_restarts)d' % n)
    print('mismatches %(mismatch)d, hangs %(hang)d, uncut transfers that failed %(failed_uncut)d' % n)
    for p in problems[:20]:
        print('  ', json.dumps(p))
    if rss:
        v = [k for _, k in rss]
        late = [k for t, k in rss if t >= 60] or v
        print('portal RSS (kB, every 10 s, %d samples): first %d, last %d, min %d, max %d; '
              'after the first minute min %d max %d (%+.1f %% / %+.1f %% of their mean)'
              % (len(v), v[0], v[-1], min(v), max(v), min(late), max(late),
                 100 * (min(late) / (sum(late) / len(late)) - 1),
                 100 * (max(late) / (sum(late) / len(late)) - 1)))
    print('portal alive at the end: %s; fairway info answered: %s (%.0f ms); exit %s'
          % ('yes' if alive else 'NO', 'yes' if answered else 'NO', info_ms, sc.portal.returncode))
    with open(os.path.join(DIR, 'logs', 'rss.txt'), 'w') as f:
        for t, k in rss:
            f.write('%d %d\n' % (t, k))
    bad = n['mismatch'] + n['hang'] + n['failed_uncut']
    sys.exit(1 if bad or not alive or not answered else 0)


asyncio.run(main())
