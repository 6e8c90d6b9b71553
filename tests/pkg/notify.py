#!/usr/bin/env python3
"""fairway portal under the service manager's protocols, without systemd:
systemd-socket-activate binds the port (socket activation, FileDescriptorName
ssb) and a datagram socket stands in for NOTIFY_SOCKET. Checks READY=1 once
listening on the passed socket, RELOADING=1 then READY=1 around `fairway
reload`, STOPPING=1 on SIGTERM, and exit 0.  Usage: notify.py FAIRWAY TMPDIR"""
import os, socket, subprocess, sys, time

fw, tmp = sys.argv[1], sys.argv[2]
secret, policy = os.path.join(tmp, 'secret'), os.path.join(tmp, 'p.ini')
subprocess.run([fw, 'keygen', '--secret', secret], check=True, capture_output=True)
open(policy, 'w').write('[portal]\nname = notify test\n')
nsock = os.path.join(tmp, 'notify.sock')
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(nsock)
ns.settimeout(10)
probe = socket.socket(); probe.bind(('127.0.0.1', 0)); port = probe.getsockname()[1]; probe.close()
env = dict(os.environ, NOTIFY_SOCKET=nsock)
p = subprocess.Popen(['systemd-socket-activate', '-l', f'127.0.0.1:{port}', '--fdname=ssb',
                      '-E', 'NOTIFY_SOCKET', fw, 'portal', '-c', policy, '--secret', secret,
                      '--listen', '127.0.0.1:1'], env=env, stdout=subprocess.PIPE,
                     stderr=open(os.path.join(tmp, 'portal.log'), 'w'))
fails = 0
def check(what, cond, detail=''):
    global fails
    print(('ok' if cond else 'not ok'), '-', what, ('' if cond else f'# {detail}'))
    fails += 0 if cond else 1
try:
    for _ in range(50):  # the activator starts the portal on the first connection
        try:
            c = socket.create_connection(('127.0.0.1', port), timeout=1); break
        except OSError:
            time.sleep(0.1)
    msg = ns.recv(256).decode()
    check('READY=1 once listening', msg == 'READY=1', msg)
    line = p.stdout.readline().decode().strip()
    check('listens on the socket systemd passed (not --listen)', line.startswith(f'net:127.0.0.1:{port}~shs:'), line)
    r = subprocess.run([fw, 'reload', '--secret', secret], capture_output=True, text=True, timeout=10)
    m1, m2 = ns.recv(256).decode(), ns.recv(256).decode()
    check('RELOADING=1 (with MONOTONIC_USEC) during fairway reload', m1.startswith('RELOADING=1\nMONOTONIC_USEC='), m1)
    check('READY=1 after the reload', m2 == 'READY=1', m2)
    p.terminate()
    msg = ns.recv(256).decode()
    check('STOPPING=1 on SIGTERM', msg == 'STOPPING=1', msg)
    check('exit 0', p.wait(timeout=10) == 0, p.returncode)
finally:
    if p.poll() is None:
        p.kill()
sys.exit(1 if fails else 0)
