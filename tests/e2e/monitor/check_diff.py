#!/usr/bin/env python3
"""e2e: `memtop diff A B` of two runs of diffprog (2 then 5): grow_site +300 B +3 blocks,
shrink_site -150 B -3 blocks, stable_site unchanged (not listed), in text, folded (negative
values) and pprof read by `go tool pprof -top` (negative flat) and -raw (mappings with build ids).
usage: check_diff.py MEMTOP PROG   Prints TAP."""
import os, re, shutil, subprocess, sys, tempfile

MEMTOP, PROG = sys.argv[1:3]
tmp = tempfile.mkdtemp()
ENV = dict(os.environ, HOME=tmp, PPROF_TMPDIR=tmp, MALLOC_PERTURB_='0', DEBUGINFOD_URLS='')
GO = shutil.which('go')
n = failed = 0


def ok(name, cond, detail=''):
    global n, failed
    n += 1
    failed += 0 if cond else 1
    print(('ok' if cond else 'not ok') + ' %d - %s' % (n, name))
    if not cond and detail:
        for line in str(detail).splitlines()[:30]:
            print('#   ' + line)


def run(args):
    return subprocess.run(args, capture_output=True, env=ENV, timeout=120)


a, b = os.path.join(tmp, 'a.txt'), os.path.join(tmp, 'b.txt')
for path, arg in ((a, '2'), (b, '5')):
    r = run([MEMTOP, 'report', '--all-sites', '-o', path, '--', PROG, arg])
    ok('report of diffprog %s exits 0' % arg, r.returncode == 0, r.stderr)

r = run([MEMTOP, 'diff', a, b])
text = r.stdout.decode()
ok('diff exits 0', r.returncode == 0, r.stderr)
sites = re.findall(r'^site ([+-]\d+) bytes ([+-]\d+) blocks .*\n  #0 (\w+) ', text, re.M)
ok('grow_site +300 B +3 blocks first, shrink_site -150 B -3 blocks last, stable_site not listed',
   sites[:1] == [('+300', '+3', 'grow_site')] and sites[-1:] == [('-150', '-3', 'shrink_site')]
   and 'stable_site' not in text, text)
ok('the totals line: live_bytes +150', re.search(r'^live_bytes: \+150 \(\d+ -> \d+\)$', text, re.M)
   is not None, text)

r = run([MEMTOP, 'diff', '--format', 'folded', a, b])
folded = {}
for line in r.stdout.decode().splitlines():
    stack, value = line.rsplit(' ', 1)
    folded[stack.split(';')[-1]] = folded.get(stack.split(';')[-1], 0) + int(value)
ok('folded diff: grow_site 300, shrink_site -150, no stable_site',
   folded.get('grow_site') == 300 and folded.get('shrink_site') == -150 and
   'stable_site' not in folded, r.stdout.decode() + r.stderr.decode())
r = run([MEMTOP, 'diff', '--format', 'folded', '--value', 'allocs', a, b])
ok('folded diff --value allocs: grow_site 3, shrink_site -3',
   re.search(r';grow_site 3$', r.stdout.decode(), re.M) is not None and
   re.search(r';shrink_site -3$', r.stdout.decode(), re.M) is not None, r.stdout)

pb = os.path.join(tmp, 'diff.pb.gz')
r = run([MEMTOP, 'diff', '--format', 'pprof', '-o', pb, a, b])
ok('pprof diff exits 0', r.returncode == 0, r.stderr)
if GO:
    r = run([GO, 'tool', 'pprof', '-top', '-nodefraction=0', '-unit=B', '-sample_index=inuse_space',
             pb])
    out = r.stdout.decode()
    flat = {m.group(2): int(m.group(1)) for m in
            re.finditer(r'^\s*(-?\d+)B?\s+-?[\d.]+%\s+-?[\d.]+%\s+-?\d+B?\s+-?[\d.]+%\s+(\S+)', out,
                        re.M)}
    ok('go tool pprof reads the diff: grow_site 300, shrink_site -150',
       flat.get('grow_site') == 300 and flat.get('shrink_site') == -150, out + r.stderr.decode())
    r = run([GO, 'tool', 'pprof', '-raw', pb])
    raw = r.stdout.decode()
    bid = re.search(r'Build ID: ([0-9a-f]+)', run(['readelf', '-n', PROG]).stdout.decode())
    ok('pprof diff -raw: the mapping of the program carries its build id',
       r.returncode == 0 and bid is not None and
       re.search(r'^\d+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ %s %s \[FN\]\[FL\]\[LN\]\[IN\]$'
                 % (re.escape(os.path.realpath(PROG)), bid.group(1)), raw, re.M) is not None,
       raw + r.stderr.decode())
else:
    print('ok %d - go tool pprof reads the diff # SKIP go not installed' % (n + 1))
    n += 1

for args, what in [(['diff', a], 'one snapshot'), (['diff', '--format', 'massif', a, b], 'massif'),
                   (['diff', a, os.path.join(tmp, 'missing')], 'a missing file')]:
    r = run([MEMTOP] + args)
    err = r.stderr.decode()
    ok('%s: non-zero, one line (%s)' % (what, err.strip()[:90]),
       r.returncode != 0 and err.count('\n') == 1 and err.startswith('memtop: '), err)

shutil.rmtree(tmp)
print('1..%d' % n)
sys.exit(1 if failed else 0)
