#!/usr/bin/env python3
"""e2e: `memtop serve` on 127.0.0.1 with a free port (--listen 127.0.0.1:0, the port read from its
first line), started and stopped here: `go tool pprof URL` reads a traced program's heap exactly,
curl lists it at /, bad and slow requests get their status and harm nobody (a fuzz run of raw
requests, an idle connection held open, 24 concurrent clients), a non-loopback address needs
--allow-remote, SIGTERM ends it.   usage: check_serve.py MEMTOP LIBMEMTOP PROG   Prints TAP."""
import os, random, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time

MEMTOP, LIB, PROG = sys.argv[1:4]
tmp = tempfile.mkdtemp()
ENV = dict(os.environ, HOME=tmp, PPROF_TMPDIR=tmp, MALLOC_PERTURB_='0', DEBUGINFOD_URLS='')
GO, CURL = shutil.which('go'), shutil.which('curl')
n = failed = 0


def ok(name, cond, detail=''):
    global n, failed
    n += 1
    failed += 0 if cond else 1
    print(('ok' if cond else 'not ok') + ' %d - %s' % (n, name))
    if not cond and detail:
        for line in str(detail).splitlines()[:20]:
            print('#   ' + line)


def skip(name, why):
    global n
    n += 1
    print('ok %d - %s # SKIP %s' % (n, name, why))


def raw(port, data, timeout=10):
    """sends data, returns what came back until the server closed (bounded)"""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b''
        while len(out) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out
    except OSError:
        return b''
    finally:
        s.close()


def status(resp):
    m = re.match(rb'HTTP/1\.1 (\d+) ', resp)
    return int(m.group(1)) if m else None


server = subprocess.Popen([MEMTOP, 'serve', '--listen', '127.0.0.1:0'], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=ENV)
target = None
try:
    first = server.stdout.readline().decode()
    m = re.search(r'http://127\.0\.0\.1:(\d+)/', first)
    ok('serve says where it listens: ' + first.strip(), m is not None, server.stderr.read1(4096)
       if m is None else '')
    if m is None:
        raise SystemExit('Bail out! memtop serve did not start')
    port = int(m.group(1))
    # the target waits for its first monitor (MEMTOP_WAIT): the first profile sees every site
    target = subprocess.Popen([PROG, 'hold'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=dict(ENV, LD_PRELOAD=LIB, MEMTOP_WAIT='1'))
    for _ in range(100):
        if os.path.exists('/dev/shm/memtop.%d' % target.pid):
            break
        time.sleep(0.05)
    url = 'http://127.0.0.1:%d/debug/pprof/heap?pid=%d' % (port, target.pid)
    if GO:
        r = subprocess.run([GO, 'tool', 'pprof', '-top', '-nodecount=1000', '-nodefraction=0',
                            '-edgefraction=0', '-unit=B', '-sample_index=inuse_space', url],
                           capture_output=True, env=ENV, timeout=120)
        out = r.stdout.decode()
        flat = {mm.group(2): int(mm.group(1)) for mm in
                re.finditer(r'^\s*(\d+)B?\s+[\d.]+%\s+[\d.]+%\s+\d+B?\s+[\d.]+%\s+(\S+)', out, re.M)}
        ok('go tool pprof URL: inuse_space keep_small 1000 B, inl_alloc 192 B (exact)',
           r.returncode == 0 and flat.get('keep_small') == 1000 and flat.get('inl_alloc') == 192,
           out + r.stderr.decode())
    else:
        skip('go tool pprof URL reads the heap', 'go not installed (Debian golang-go)')
    ok('the target ran on', target.stdout.readline() == b'ready\n')
    resp = raw(port, b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    ok('GET / lists the target: 200', status(resp) == 200 and
       re.search(rb'^%d \d+ \S*%s$' % (target.pid, re.escape(os.path.basename(PROG).encode())), resp,
                 re.M) is not None, resp)
    if CURL:
        r = subprocess.run([CURL, '-sS', '-o', os.path.join(tmp, 'heap.pb.gz'), '-w', '%{http_code} '
                            '%{content_type}', url], capture_output=True, timeout=60)
        with open(os.path.join(tmp, 'heap.pb.gz'), 'rb') as f:
            magic = f.read(2)
        ok('curl URL: 200, application/octet-stream, a gzip body',
           r.stdout == b'200 application/octet-stream' and magic == b'\x1f\x8b', r.stdout + r.stderr)
    else:
        skip('curl fetches the profile', 'curl not installed')

    # bad requests, each with its status
    for data, want, what in [
            (b'garbage\r\n\r\n', 400, 'garbage'),
            (b'POST / HTTP/1.1\r\n\r\n', 405, 'POST'),
            (b'GET /nothing HTTP/1.1\r\n\r\n', 404, 'unknown path'),
            (b'GET /debug/pprof/heap?pid=abc HTTP/1.1\r\n\r\n', 400, 'pid=abc'),
            (b'GET /debug/pprof/heap HTTP/1.1\r\n\r\n', 400, 'no pid'),
            (b'GET /debug/pprof/heap?pid=999999999 HTTP/1.1\r\n\r\n', 404, 'no such process'),
            (b'GET / HTTP/1.1\r\n' + b'X: ' + b'a' * 9000 + b'\r\n\r\n', 431, 'headers over 8 KiB'),
            (b'GET /\x00 HTTP/1.1\r\n\r\n', 400, 'a NUL')]:
        resp = raw(port, data)
        ok('%s: %d' % (what, want), status(resp) == want, resp[:200])
    # an idle client holds a connection open; others are still answered meanwhile
    idle = socket.create_connection(('127.0.0.1', port), timeout=10)
    t0 = time.time()
    resp = raw(port, b'GET / HTTP/1.1\r\n\r\n')
    ok('answered while another client sends nothing (%.2f s)' % (time.time() - t0),
       status(resp) == 200 and time.time() - t0 < 3)
    # fuzz: random bytes and mutated requests; the server must stay up and answer
    rnd = random.Random(16)
    seed = b'GET /debug/pprof/heap?pid=1 HTTP/1.1\r\nHost: a\r\n\r\n'
    answers = 0
    for i in range(150):
        if i % 2:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400))) + b'\r\n\r\n'
        else:
            b = bytearray(seed)
            for _ in range(rnd.randrange(1, 5)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            data = bytes(b)
        answers += status(raw(port, data, timeout=15)) is not None
    resp = raw(port, b'GET / HTTP/1.1\r\n\r\n')
    ok('after 150 fuzzed requests (%d answered with a status) it still serves' % answers,
       server.poll() is None and status(resp) == 200)
    # many clients at once: each gets its list or, past 16 at once, a 503 to retry; none hangs
    # (most are served: under qemu-user children end slowly and 15 of 24 were, not 16)
    codes = []
    def client():
        codes.append(status(raw(port, b'GET / HTTP/1.1\r\n\r\n', timeout=20)))
    threads = [threading.Thread(target=client) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ok('24 concurrent clients: each answered 200 or 503 (%d x 200)' % codes.count(200),
       len(codes) == 24 and all(c in (200, 503) for c in codes) and codes.count(200) >= 12, codes)
    idle.close()
finally:
    if target:
        target.stdin.close()
        target.wait(timeout=30)
    server.send_signal(signal.SIGTERM)
    try:
        rc = server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = None
ok('SIGTERM ends it with status 0', rc == 0, rc)

for args, what in [(['--listen', '0.0.0.0:0'], 'a non-loopback address without --allow-remote'),
                   (['--listen', 'nowhere'], 'an address with no port'),
                   (['--listen', '127.0.0.1:70000'], 'a port out of range'),
                   (['--bogus'], 'an unknown option')]:
    r = subprocess.run([MEMTOP, 'serve'] + args, capture_output=True, env=ENV, timeout=10)
    err = r.stderr.decode()
    ok('%s: status 2, one line (%s)' % (what, err.strip()[:90]),
       r.returncode == 2 and err.count('\n') == 1 and err.startswith('memtop: serve: '), err)

shutil.rmtree(tmp)
print('1..%d' % n)
sys.exit(1 if failed else 0)
