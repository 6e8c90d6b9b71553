#!/usr/bin/env python3
"""Every relative link and file reference in the repository's Markdown
exists (issue 16 item 17). TAP output.

Checked: [text](target) links that are not URLs or in-page anchors
(resolved against the file's folder), and `code spans` that name a
repository path: they contain a '/' or end in a file extension, and start
with a folder or file the repository has (so `/etc/fairway/portal.conf`,
`~/.fairway/secret` or `run/portal.log` made at run time are not files of
the repository and are skipped unless their first part is tracked).
Shell globs such as `src/relay/fwd.[ch]` must match at least one file.
Usage: tests/docs/links.py [REPO]"""
import glob
import os
import re
import subprocess
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..', '..'))
tracked = subprocess.run(['git', '-C', root, 'ls-files'], capture_output=True, text=True,
                         check=True).stdout.split()
tracked_set = set(tracked)
top = {p.split('/')[0] for p in tracked}
dirs = {os.path.dirname(p) for p in tracked}
dirs |= {d2 for d in list(dirs) for d2 in
         ['/'.join(d.split('/')[:i]) for i in range(1, d.count('/') + 2)]}
mds = [p for p in tracked if p.endswith('.md') and 'node_modules/' not in p]

LINK = re.compile(r'(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)|!\[[^\]]*\]\(([^)\s]+)\)')
CODE = re.compile(r'`([^`\n]+)`')
EXT = re.compile(r'\.(md|c|h|sh|py|js|json|conf|config|build|txt|service|socket|1|5|8)$')
RUNTIME = ('build', 'build-test', 'build-asan', 'build-fuzz', 'build-logs', 'run', 'node_modules')


def exists(rel, base):
    """rel from a file in base (a folder of the repo, '' for the top)."""
    for b in ([base, ''] if base else ['']):
        p = os.path.normpath(os.path.join(b, rel))
        if p.startswith('..'):
            continue
        if p in tracked_set or p in dirs or p == '.':
            return True
        if any(c in p for c in '[*?{'):
            pats = [p]
            m = re.search(r'\{([^}]*)\}', p)
            if m:
                pats = [p[:m.start()] + alt + p[m.end():] for alt in m.group(1).split(',')]
            for pat in pats:
                if any(t for t in tracked if glob.fnmatch.fnmatch(t, pat)):
                    return True
    return False


n = fails = 0
for md in mds:
    base = os.path.dirname(md)
    text = open(os.path.join(root, md), encoding='utf-8').read()
    # fenced code blocks hold commands, not references
    text_nofence = re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)
    bad = []
    for ln, line in enumerate(text_nofence.split('\n'), 1):
        for m in LINK.finditer(line):
            t = m.group(1) or m.group(2)
            if re.match(r'^[a-z][a-z0-9+.-]*:', t) or t.startswith('#'):
                continue
            path = t.split('#')[0]
            if path and not exists(path, base):
                bad.append(f'link ({t})')
        for m in CODE.finditer(line):
            c = m.group(1).strip()
            if ' ' in c or c.startswith(('/', '~', '-', '$', '.')) or '…' in c or '<' in c or \
               '=' in c or ':' in c or '@' in c:
                continue
            if '/' not in c and not EXT.search(c):
                continue
            first = c.split('/')[0]
            if first in RUNTIME:
                continue
            if '/' in c and first not in top and not os.path.exists(os.path.join(root, base, first)):
                # a path that does not start in the repository (a URL path,
                # a unit name, "nft/iptables") — not a file reference
                continue
            if '/' not in c:
                # a bare name: a file of the repository by its name
                # (`store.c`), a document (`interop.md` must exist), or a
                # name from elsewhere (`fairnat.config`, `uml-run.sh`)
                if any(os.path.basename(t) == c for t in tracked):
                    continue
                if not c.endswith('.md'):
                    continue
            if not exists(c.rstrip('/'), base):
                bad.append(f'file `{c}`')
    n += 1
    if bad:
        fails += 1
        print(f'not ok {n} - {md}: {len(bad)} dangling references')
        for b in sorted(set(bad)):
            print(f'#   {b}')
    else:
        print(f'ok {n} - {md}: every relative link and file reference exists')
print(f'1..{n}')
print(f'# pass {n - fails}')
print(f'# fail {fails}')
sys.exit(1 if fails else 0)
