#!/usr/bin/env python3
"""Reliability cases of issue 6, one per meson test (suite 'stress'): the target never suffers from
the monitor or the preload, and the monitor never crashes, hangs or believes a bad segment.
Each case runs real processes and exits 0 (pass), 1 (fail, with the reason on stderr) or 77 (skip).
Never leaves a process or a segment of its own behind.

usage: reliability.py --memtop M --preload L --target T --segtool S [--plugin P] CASE
Environment: MEMTOP_REL_STORM_S (storm seconds, default 20; 60 for the full minute of the issue)."""
import argparse
import glob
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

A = None  # parsed arguments
FAILURES = []
FIGURES = []


def fail(msg):
    FAILURES.append(msg)
    print('FAIL: ' + msg, file=sys.stderr, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def figure(msg):
    FIGURES.append(msg)
    print('FIGURE: ' + msg, flush=True)


def info(msg):
    print(msg, flush=True)


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def base_env(**extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith('MEMTOP_') or k == 'LD_PRELOAD':
            del env[k]
    env['MALLOC_PERTURB_'] = '0'
    env['DEBUGINFOD_URLS'] = ''
    env.update({k: str(v) for k, v in extra.items()})
    return env


def preload_env(**extra):
    return base_env(LD_PRELOAD=A.preload, **extra)


def run(cmd, env, timeout=60, preexec=None):
    """Runs to the end; returns (status, stdout, stderr, seconds). status < 0: killed by a signal."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=preexec or no_core)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail('timed out after %ds: %s' % (timeout, ' '.join(map(str, cmd))))
        return None, out.decode(errors='replace'), err.decode(errors='replace'), timeout
    return p.returncode, out.decode(errors='replace'), err.decode(errors='replace'), \
        time.monotonic() - t0


def seg_path(pid):
    return '/dev/shm/memtop.%d' % pid


def segments():
    return set(glob.glob('/dev/shm/memtop.*'))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def wait_for(pred, timeout, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def seg_exe(path):
    """The exe recorded in a segment header (other engineers' tests share /dev/shm)."""
    try:
        with open(path, 'rb') as f:
            f.seek(56)  # magic, abi, header_size, segment_size, pid, uid, 3 x u64 times
            return f.read(256).split(b'\0', 1)[0].decode(errors='replace')
    except OSError:
        return ''


def left_behind(before):
    """Segments of our target created during the case whose process is gone (nobody will remove
    them)."""
    out = []
    mine = os.path.realpath(A.target)
    for s in segments() - before:
        m = re.match(r'/dev/shm/memtop\.(\d+)$', s)
        if m and not pid_alive(int(m.group(1))) and seg_exe(s) == mine:
            out.append(s)
    return out


def start_target(args, env):
    return subprocess.Popen([A.target] + args, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=no_core)


def finish(p, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail('process %d still running after %ds' % (p.pid, timeout))
        return None, out.decode(errors='replace'), err.decode(errors='replace')
    return p.returncode, out.decode(errors='replace'), err.decode(errors='replace')


def monitor(args, **kw):
    return subprocess.Popen([A.memtop] + args, env=base_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=no_core, **kw)


def died_of_signal(status):
    return status is not None and status < 0


# ---------------------------------------------------------------- monitor faults

# memtop report's exit status when its report is approximate and the target exited 0 (memtop(1))
REPORT_APPROXIMATE = 120
WORK_ROUNDS = '12000'  # about 1.5-2 s bare
WORK_EXIT = 7
BLOCK_MS = 200
# The bound a single malloc/free of the target may take with a faulty monitor: the configured
# MEMTOP_BLOCK_MS plus scheduling slack on a loaded 2-core machine.
CALL_BOUND_US = (BLOCK_MS + 300) * 1000


def bare_work():
    st, out, err, secs = run([A.target, 'work', WORK_ROUNDS, str(WORK_EXIT)], base_env())
    check(st == WORK_EXIT, 'bare work run exited %s' % st)
    return out, secs


def max_call_us(err):
    m = re.search(r'max_call_us=(\d+)', err)
    return int(m.group(1)) if m else None


def check_target(name, st, out, err, secs, bare_out, bare_secs):
    check(st == WORK_EXIT, '%s: target exit status %s, bare %d' % (name, st, WORK_EXIT))
    check(out == bare_out, '%s: target stdout differs from the bare run:\n%s\nvs\n%s' %
          (name, out, bare_out))
    mc = max_call_us(err)
    check(mc is not None and mc <= CALL_BOUND_US,
          '%s: slowest allocation call took %s us (bound %d us)' % (name, mc, CALL_BOUND_US))
    # Whole run: bare time plus at most a few block episodes and the tracing cost.
    check(secs <= bare_secs * 4 + 3, '%s: target took %.2fs, bare %.2fs' % (name, secs, bare_secs))
    others = [l for l in err.splitlines() if not l.startswith('max_call_us=')]
    check(not others, '%s: unexpected stderr from the target: %r' % (name, others))
    return mc


def traced_work(extra_env=None):
    env = preload_env(MEMTOP_RING=64, MEMTOP_BLOCK_MS=BLOCK_MS, **(extra_env or {}))
    t0 = time.monotonic()
    p = start_target(['work', WORK_ROUNDS, str(WORK_EXIT)], env)
    if not wait_for(lambda: os.path.exists(seg_path(p.pid)), 5):
        fail('segment of %d never appeared' % p.pid)
    return p, t0


def case_fault_kill():
    """(a) the monitor is SIGKILLed at a random moment; (a') SIGKILLed and left a zombie."""
    bare_out, bare_secs = bare_work()
    rnd = random.Random(int(os.environ.get('MEMTOP_REL_SEED', '0')) or None)
    worst = 0
    for i in range(6):
        before = segments()
        p, t0 = traced_work()
        mon = monitor(['-b', '-d', '0.1', str(p.pid)])
        delay = rnd.uniform(0.0, 1.2)
        time.sleep(delay)
        mon.kill()
        if i % 2 == 0:
            mon.wait()  # reaped: the claimant pid is gone
        # odd rounds: stays a zombie until the target ends (kill(pid, 0) still succeeds)
        st, out, err = finish(p, 60)
        secs = time.monotonic() - t0
        mon.wait()
        mc = check_target('kill #%d at %.2fs' % (i, delay), st, out, err, secs, bare_out, bare_secs)
        worst = max(worst, mc or 0)
        # the dead monitor never unlinks: the target must do it at exit (claimant dead)
        # (a zombie claimant counts as dead: shm_consumer_alive reads its /proc state)
        left = left_behind(before)
        check(not left, 'kill #%d: segment left behind: %s' % (i, left))
    figure('fault-kill: 6 SIGKILLs of an attached monitor survived; slowest target call %d us '
           '(MEMTOP_BLOCK_MS=%d)' % (worst, BLOCK_MS))


def case_fault_stop():
    """(b) the monitor is SIGSTOPped: the target never blocks longer than MEMTOP_BLOCK_MS."""
    bare_out, bare_secs = bare_work()
    worst = 0
    for i, (stop_at, cont) in enumerate([(0.3, False), (0.2, True)]):
        before = segments()
        p, t0 = traced_work()
        mon = monitor(['-b', '-d', '0.2', str(p.pid)])
        time.sleep(stop_at)
        mon.send_signal(signal.SIGSTOP)
        if cont:
            time.sleep(1.0)
            mon.send_signal(signal.SIGCONT)
        st, out, err = finish(p, 60)
        secs = time.monotonic() - t0
        if not cont:
            mon.send_signal(signal.SIGCONT)
        # the monitor, resumed, sees the target gone and ends by itself
        try:
            mst = mon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            mon.kill()
            mst = mon.wait()
            fail('stop #%d: monitor did not end after its target exited' % i)
        mout = mon.stdout.read().decode(errors='replace')
        merr = mon.stderr.read().decode(errors='replace')
        check(not died_of_signal(mst), 'stop #%d: monitor died of signal %s: %s' % (i, -mst, merr))
        mc = check_target('stop #%d' % i, st, out, err, secs, bare_out, bare_secs)
        worst = max(worst, mc or 0)
        lost = [int(x) for x in re.findall(r'lost_events: (\d+)', mout)]
        if lost:
            info('stop #%d: monitor reported lost_events %d at the end' % (i, lost[-1]))
        check(not left_behind(before), 'stop #%d: segment left behind' % i)
    figure('fault-stop: 2 SIGSTOPs of an attached monitor; slowest target call %d us '
           '(MEMTOP_BLOCK_MS=%d)' % (worst, BLOCK_MS))


def case_fault_none():
    """(c) preloaded, no monitor ever: same output, no segment left, little cost."""
    bare_out, bare_secs = bare_work()
    before = segments()
    p, t0 = traced_work()
    st, out, err = finish(p, 60)
    check_target('no monitor', st, out, err, time.monotonic() - t0, bare_out, bare_secs)
    check(not left_behind(before), 'no monitor: segment left behind')
    # also with MEMTOP_WAIT=1 and no monitor: a bounded wait, then the same output
    st, out, err, secs = run([A.target, 'work', '800', str(WORK_EXIT)], preload_env(MEMTOP_WAIT=2))
    check(st == WORK_EXIT, 'MEMTOP_WAIT=2 without monitor: exit %s' % st)
    check(secs < 2 + 10, 'MEMTOP_WAIT=2 without monitor took %.1fs' % secs)
    check('MEMTOP_WAIT' in err and len([l for l in err.splitlines() if l.startswith('memtop:')]) == 1,
          'MEMTOP_WAIT=2 without monitor: expected one memtop line on stderr, got %r' % err)


def case_fault_attach_loop():
    """(d) monitors attach and detach over and over (snapshot and -b -n 1) while the target runs."""
    rounds = str(int(WORK_ROUNDS) * 2)
    bst, bare_out, _, _ = run([A.target, 'work', rounds, str(WORK_EXIT)], base_env())
    before = segments()
    env = preload_env(MEMTOP_RING=64, MEMTOP_BLOCK_MS=BLOCK_MS)
    t0 = time.monotonic()
    p = start_target(['work', rounds, str(WORK_EXIT)], env)
    wait_for(lambda: os.path.exists(seg_path(p.pid)), 5)
    attaches, refusals, n = 0, 0, 0
    while p.poll() is None:
        n += 1
        args = ['snapshot', str(p.pid), '-o', '/dev/null'] if n % 2 else ['-b', '-n', '1', str(p.pid)]
        st, out, err, _ = run([A.memtop] + args, base_env(), timeout=20)
        if st == 0:
            attaches += 1
        else:
            refusals += 1
            # only acceptable while the target is exiting: a clear one-line error
            check(st is not None and st > 0 and err.count('\n') == 1 and err.startswith('memtop: '),
                  'attach #%d failed with status %s and stderr %r' % (n, st, err))
            check(p.poll() is not None or wait_for(lambda: p.poll() is not None, 2),
                  'attach #%d refused while the target was running: %r' % (n, err))
    st, out, err = finish(p, 60)
    secs = time.monotonic() - t0
    check(st == WORK_EXIT == bst, 'attach loop: target exit %s, bare %s' % (st, bst))
    check(out == bare_out, 'attach loop: stdout differs from the bare run: %r vs %r' % (out, bare_out))
    mc = max_call_us(err)
    check(mc is not None and mc <= CALL_BOUND_US, 'attach loop: slowest call %s us' % mc)
    check(attaches >= 5, 'attach loop: only %d successful attaches' % attaches)
    check(not left_behind(before), 'attach loop: segment left behind')
    figure('fault-attach-loop: %d attach/detach cycles (%d refused at exit), target unharmed, '
           'slowest call %s us, %.1fs' % (attaches, refusals, mc, secs))
    # A healthy monitor that attaches and detaches must not make the target sit out the whole
    # MEMTOP_BLOCK_MS (1 s here) on its full 64-cell ring: the claim goes with the draining.
    # (It did, at every 'memtop -b -n 1', until session_destroy released the claim first.)
    p = start_target(['work', WORK_ROUNDS, str(WORK_EXIT)],
                     preload_env(MEMTOP_RING=64, MEMTOP_BLOCK_MS=1000))
    wait_for(lambda: os.path.exists(seg_path(p.pid)), 5)
    k = 0
    while p.poll() is None and k < 20:
        run([A.memtop, '-b', '-n', '1', str(p.pid)], base_env(), timeout=20)
        k += 1
    st, out, err = finish(p, 60)
    mc = max_call_us(err)
    # The monitor drains from the moment it holds the claim (the symbolizer, slow to set up, joins
    # later; before, the claimed ring sat undrained for up to 359 ms): an attach costs a few ms.
    check(st == WORK_EXIT and mc is not None and mc < 150000,
          'attach loop, MEMTOP_BLOCK_MS=1000: %d attaches, slowest call %s us (status %s)' %
          (k, mc, st))
    info('attach loop with MEMTOP_BLOCK_MS=1000: %d attaches, slowest call %s us' % (k, mc))


# ---------------------------------------------------------------- storms

def snapshot_fields(text):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+): (-?\d+)$', text, re.M)}


def case_storm():
    """2 threads at full speed, minimum ring, monitor attached: no deadlock, drops counted and
    reported, counters exact (the program's own count = memtop_get_stats = the snapshot)."""
    secs = int(os.environ.get('MEMTOP_REL_STORM_S', '20'))
    with tempfile.TemporaryDirectory() as d:
        snap = os.path.join(d, 'snap.txt')
        # MEMTOP_BLOCK_MS=1: producers give up quickly, so the small ring overflows and drops.
        env = base_env(MEMTOP_RING=64, MEMTOP_BLOCK_MS=1)
        st, out, err, wall = run([A.memtop, 'report', '--preload', A.preload, '-o', snap, '--',
                                  A.target, 'storm', '2', str(secs * 1000)], env, timeout=secs + 120)
        # events were dropped: the report is approximate, and says so with its own status
        check(st == REPORT_APPROXIMATE, 'storm: memtop report exited %s, expected %d (approximate); '
              'stderr %r; stdout %r' % (st, REPORT_APPROXIMATE, err, out))
        info(out.strip())
        m = re.search(r'own_allocs=(\d+) own_frees=(\d+) memtop_allocs=(\d+) memtop_frees=(\d+) '
                      r'dropped=(\d+) exact=(\d)', out)
        if not check(m, 'storm: no counters line from the target: %r' % out):
            return
        own_a, own_f, mt_a, mt_f, dropped, exact = map(int, m.groups())
        check(exact == 1 and own_a == mt_a and own_f == mt_f,
              'storm: memtop_get_stats %d/%d != own count %d/%d' % (mt_a, mt_f, own_a, own_f))
        check(dropped > 0, 'storm: no event dropped with a 64-cell ring (test is not testing)')
        with open(snap) as f:
            fields = snapshot_fields(f.read())
        lost = fields.get('lost_events', -1)
        check(lost >= dropped > 0, 'storm: monitor lost_events %d, target dropped %d' % (lost, dropped))
        check(fields.get('approximate') == 1, 'storm: snapshot not marked approximate')
        # Every event is either applied or counted lost: nothing vanishes silently.
        ta, tf = fields.get('target_allocs', -1), fields.get('target_frees', -1)
        check(ta >= own_a and tf >= own_f and ta - own_a < 100 and tf - own_f < 100,
              'storm: snapshot target_allocs/frees %d/%d vs program %d/%d' % (ta, tf, own_a, own_f))
        # ('events' counts every record applied, frees of blocks whose alloc was lost included)
        applied = fields.get('events', 0)
        check(ta + tf <= applied + lost < ta + tf + 100,
              'storm: applied %d + lost %d != target calls %d (+ a few non-allocation events)' %
              (applied, lost, ta + tf))
        rate = re.search(r'calls_per_s=(\d+)', out)
        figure('storm: 2 threads x %ds, MEMTOP_RING=64 MEMTOP_BLOCK_MS=1, monitor attached: '
               '%d calls (%s/s), %d dropped and reported (lost_events %d), counters exact' %
               (secs, own_a + own_f, rate.group(1) if rate else '?', dropped, lost))


def case_load():
    """Figure only (not a pass/fail bound on speed): events/s held with no loss, with a monitor
    (default ring and wait) and without one. Seconds from MEMTOP_REL_LOAD_S (default 5)."""
    secs = int(os.environ.get('MEMTOP_REL_LOAD_S', '5'))
    with tempfile.TemporaryDirectory() as d:
        snap = os.path.join(d, 'snap.txt')
        for depth in ('16', '0'):
            st, out, err, _ = run([A.memtop, 'report', '--preload', A.preload, '-o', snap, '--',
                                   A.target, 'storm', '2', str(secs * 1000)],
                                  base_env(MEMTOP_DEPTH=depth), timeout=secs + 120)
            check(st == 0, 'load: report exited %s' % st)
            with open(snap) as f:
                fields = snapshot_fields(f.read())
            rate = re.search(r'calls_per_s=(\d+)', out)
            exact = 'exact=1' in out
            check(exact, 'load: counters not exact: %s' % out)
            figure('load with monitor, depth %s, 2 threads x %ds: %s events/s, lost_events %d' %
                   (depth, secs, rate.group(1) if rate else '?', fields.get('lost_events', -1)))
        st, out, err, _ = run([A.target, 'storm', '2', str(secs * 1000)], preload_env(),
                              timeout=secs + 60)
        rate = re.search(r'calls_per_s=(\d+)', out)
        check(st == 0 and 'exact=1' in out, 'load without monitor: %s %s' % (st, out))
        figure('load without monitor (preloaded, counters only), 2 threads x %ds: %s calls/s, exact' %
               (secs, rate.group(1) if rate else '?'))
        st, out, err, _ = run([A.target, 'storm', '2', str(secs * 1000)], base_env(),
                              timeout=secs + 60)
        rate = re.search(r'calls_per_s=(\d+)', out)
        figure('bare, 2 threads x %ds: %s calls/s' % (secs, rate.group(1) if rate else '?'))


# ---------------------------------------------------------------- behaviour: bare vs preloaded

def compare_modes(name, args, timeout=120, stderr_exact=True, report=True):
    """Runs TARGET ARGS bare, preloaded without a monitor, and under 'memtop report'; the target's
    stdout and exit status (and stderr without a monitor) must be identical."""
    cmd = [A.target] + args
    before = segments()
    bst, bout, berr, bsecs = run(cmd, base_env(), timeout)
    pst, pout, perr, psecs = run(cmd, preload_env(), timeout)
    check(pst == bst, '%s: preloaded exit %s, bare %s' % (name, pst, bst))
    check(pout == bout, '%s: preloaded stdout differs:\n--- bare\n%s\n--- preloaded\n%s' %
          (name, bout[-2000:], pout[-2000:]))
    if stderr_exact:
        check(perr == berr, '%s: preloaded stderr differs: %r vs %r' % (name, perr, berr))
    info('%s: bare %.2fs exit %s, preloaded %.2fs' % (name, bsecs, bst, psecs))
    if report:
        with tempfile.TemporaryDirectory() as d:
            snap = os.path.join(d, 'snap.txt')
            rst, rout, rerr, rsecs = run([A.memtop, 'report', '--preload', A.preload, '-o', snap,
                                          '--'] + cmd, base_env(), timeout)
            want = bst if bst >= 0 else 128 - bst
            check(rst == want, '%s: under memtop report exit %s, bare %s (expected %s)' %
                  (name, rst, bst, want))
            check(rout == bout, '%s: stdout under memtop report differs:\n%s\nvs\n%s' %
                  (name, rout[-2000:], bout[-2000:]))
            check(os.path.exists(snap) and os.path.getsize(snap) > 0,
                  '%s: memtop report wrote no snapshot (stderr %r)' % (name, rerr))
            info('%s: under memtop report %.2fs' % (name, rsecs))
    return bst, bout


def case_requests():
    compare_modes('requests', ['requests'])


def case_churn():
    compare_modes('churn', ['churn', '10000'], timeout=200)


def case_forkstorm():
    before = segments()
    compare_modes('forkstorm', ['forkstorm', '3', '3'], timeout=200)
    check(not left_behind(before), 'forkstorm: segments left behind: %s' % left_behind(before))


def case_execchain():
    compare_modes('execchain', ['execchain', '8'])
    # past any fixed table of images (there was one of 64: the 65th exec crashed the monitor)
    compare_modes('execchain-deep', ['execchain', '70'])
    # The monitor must follow the process through exec: 'memtop report -- env X=1 PROG' is PROG's
    # heap, not env's. (The new image replaces the segment under the same name.)
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, 'a.txt'), os.path.join(d, 'b.txt')
        run([A.memtop, 'report', '--preload', A.preload, '-o', a, '--', A.target, 'work', '200'],
            base_env())
        run([A.memtop, 'report', '--preload', A.preload, '-o', b, '--', 'env', 'X=1', A.target,
             'work', '200'], base_env())
        with open(a) as f:
            fa = snapshot_fields(f.read())
        with open(b) as f:
            tb = f.read()
        fb = snapshot_fields(tb)
        exe = re.search(r'^exe: (.*)$', tb, re.M)
        # the monitor follows the process through exec: the report is the final image's alone
        # (peak_bytes depends on how the work threads interleave: it varies between direct runs)
        for k in ('allocs', 'frees', 'live_bytes', 'live_blocks', 'lost_events'):
            check(fb.get(k) == fa.get(k),
                  'exec: memtop report -- env X=1 rel_target reports exe %s with %s %s; the '
                  'direct run has %s' % (exe.group(1) if exe else '?', k, fb.get(k), fa.get(k)))
        check(exe is not None and exe.group(1) == os.path.realpath(A.target),
              'exec: the report names exe %s, not %s' % (exe.group(1) if exe else None,
                                                          os.path.realpath(A.target)))
        info('exec: report -- env X=1 rel_target work 200: allocs %s live_bytes %s (direct run: '
             '%s, %s)' % (fb.get('allocs'), fb.get('live_bytes'), fa.get('allocs'),
                          fa.get('live_bytes')))


def case_dlopen():
    compare_modes('dlopen', ['dlopen', '300', A.plugin or 'libm.so.6'])


def case_signals():
    compare_modes('signals', ['signals', '400'])


def case_threadexit():
    for _ in range(3):
        compare_modes('threadexit', ['threadexit'])


def case_abort():
    before = segments()
    bst, _ = compare_modes('abort', ['abort'], report=True)
    check(bst == -signal.SIGABRT, 'abort: bare status %s' % bst)
    stale = left_behind(before)
    # the preloaded abort leaves its segment (no destructor ran): gc must remove it
    if stale:
        st, out, err, _ = run([A.memtop, 'gc'], base_env())
        check(st == 0, 'gc after abort exited %s' % st)
        check(not left_behind(before), 'gc left the aborted target\'s segment: %s' % out)


# ---------------------------------------------------------------- /dev/shm unusable

def in_namespace(script):
    """Runs a shell script in a private mount namespace (root only); None when impossible."""
    if os.geteuid() != 0 or not shutil.which('unshare'):
        return None
    probe = subprocess.run(['unshare', '-m', 'true'], capture_output=True)
    if probe.returncode != 0:
        return None
    return subprocess.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script],
                          capture_output=True, timeout=120, env=base_env())


def case_shm_unusable():
    """/dev/shm full, read-only, or the name taken by a directory: the target runs untraced with
    exactly one line on stderr, and its output and exit status are the bare ones."""
    cmd = '%s work 800 %d' % (A.target, WORK_EXIT)
    bst, bout, _, _ = run(cmd.split(), base_env())
    cases = {
        'full': 'mount -t tmpfs -o size=4k tmpfs /dev/shm && head -c 4096 /dev/zero > /dev/shm/fill 2>/dev/null;',
        'tiny': 'mount -t tmpfs -o size=64k tmpfs /dev/shm &&',
        'readonly': 'mount -t tmpfs -o ro tmpfs /dev/shm &&',
        'absent': 'mount -t tmpfs tmpfs /dev/shm && chmod 000 /dev/shm && rmdir /dev/shm 2>/dev/null; '
                  'mount --bind /proc/self/fdinfo /dev/shm 2>/dev/null;',
    }
    ran = 0
    for name, prep in cases.items():
        script = '%s LD_PRELOAD=%s %s 2>/tmp/.rel_err_$$; rc=$?; cat /tmp/.rel_err_$$ >&2; ' \
                 'rm -f /tmp/.rel_err_$$; exit $rc' % (prep, A.preload, cmd)
        r = in_namespace(script)
        if r is None:
            print('SKIP: no mount namespace (needs root and unshare)', file=sys.stderr)
            sys.exit(77)
        ran += 1
        err = r.stderr.decode(errors='replace')
        lines = [l for l in err.splitlines() if not l.startswith('max_call_us=')]
        check(r.returncode == WORK_EXIT, 'shm %s: exit %d (stderr %r)' % (name, r.returncode, err))
        check(r.stdout.decode() == bout, 'shm %s: stdout differs' % name)
        check(len(lines) == 1 and lines[0].startswith('memtop: ') and 'untraced' in lines[0],
              'shm %s: expected one "memtop: ... untraced" line on stderr, got %r' % (name, lines))
        info('shm %s: %s' % (name, lines))
    # the segment name is taken by a directory (no namespace needed: the pid is known before exec)
    def squat_dir():
        no_core()
        os.mkdir(seg_path(os.getpid()))
    def squat_fifo():
        no_core()
        os.mkfifo(seg_path(os.getpid()))
    for name, squat in (('directory', squat_dir), ('fifo', squat_fifo)):
        p = subprocess.Popen(cmd.split(), env=preload_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, preexec_fn=squat)
        st, out, err = finish(p, 30)
        path = seg_path(p.pid)
        if os.path.isdir(path):
            os.rmdir(path)
        elif os.path.exists(path) or os.path.islink(path):
            os.unlink(path)
        lines = [l for l in err.splitlines() if not l.startswith('max_call_us=')]
        check(st == WORK_EXIT and out == bout, 'shm %s squat: exit %s' % (name, st))
        check(len(lines) <= 1 and all(l.startswith('memtop: ') for l in lines),
              'shm %s squat: stderr %r' % (name, lines))
        info('shm %s squat: %s' % (name, lines or 'traced (the stale name was replaced)'))


def case_shm_no_room_for_ring():
    """/dev/shm holds the segment's header and thread table (backed when the target starts) but not
    its stacks and ring (backed by the first monitor to attach): attaching fails with one line
    naming the cause and a non-zero exit, and the target goes on untraced, output and exit bare."""
    cmd = '%s work 8000 %d' % (A.target, WORK_EXIT)
    bst, bout, _, _ = run(cmd.split(), base_env())
    script = ('mount -t tmpfs -o size=1m tmpfs /dev/shm || exit 99; '
              'LD_PRELOAD=%s %s >/tmp/.rel_out_$$ 2>/dev/null & pid=$!; i=0; '
              'while [ ! -e /dev/shm/memtop.$pid ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; '
              '%s -b -n 1 $pid >/dev/null; echo "attach_rc=$?" >&2; '
              'wait $pid; echo "target_rc=$?" >&2; cat /tmp/.rel_out_$$; rm -f /tmp/.rel_out_$$; '
              '%s report --preload %s -- /bin/true >/dev/null; echo "report_rc=$?" >&2'
              % (A.preload, cmd, A.memtop, A.memtop, A.preload))
    r = in_namespace(script)
    if r is None:
        print('SKIP: no mount namespace (needs root and unshare)', file=sys.stderr)
        sys.exit(77)
    err = r.stderr.decode(errors='replace').splitlines()
    info('no room for the ring: %r' % err)
    rcs = dict(l.split('=') for l in err if l.endswith(tuple('0123456789')) and '_rc=' in l)
    # the traced program itself says at most once that its live table did not fit (counters only):
    # where the kernel backs pages on request, its stack entries and frames are backed as they
    # fill (MEMTOP_FLAG_STACKS_LAZY), and the table's start fits in 1 MiB
    table = [l for l in err if 'no room in /dev/shm for the live table' in l]
    check(len(table) <= 1, 'no room: the target said more than once that its table did not fit: %r'
          % err)
    said = [l for l in err if '_rc=' not in l and l not in table]
    check(rcs.get('attach_rc') not in (None, '0') and rcs.get('report_rc') not in (None, '0'),
          'no room: monitor exit codes %r' % rcs)
    check(len(said) == 2 and all(l.startswith('memtop: ') and 'No space left' in l for l in said),
          'no room: expected one "No space left" line per monitor, got %r' % said)
    check(rcs.get('target_rc') == str(WORK_EXIT) == str(bst), 'no room: target exit %r' % rcs)
    check(r.stdout.decode() == bout, 'no room: target stdout differs from the bare run')


def case_shm_no_room_for_frames():
    """/dev/shm fills up after the claim, while the target sleeps: the stack frames it interns
    later have no room (the frame arena is backed as stacks fill it, MADV_POPULATE_WRITE), so
    those stacks overflow. No SIGBUS: the target's output and exit status are the bare ones, and
    the report is complete and exact, the stacks that did not fit shown as the table's overflow."""
    cmd = [A.target, 'late', '1500', '3000', str(WORK_EXIT)]
    bst, bout, _, _ = run(cmd, base_env())
    rep = tempfile.NamedTemporaryFile(prefix='rel-frames-', suffix='.rep', delete=False)
    rep.close()
    try:
        script = ('mount -t tmpfs -o size=64m tmpfs /dev/shm || exit 99; '
                  'MEMTOP_DEPTH=64 %s report -o %s -- %s >/tmp/.rel_out_$$ 2>/tmp/.rel_err_$$ & r=$!; '
                  'i=0; while ! ls /dev/shm/memtop.* >/dev/null 2>&1 && [ $i -lt 500 ]; do '
                  'sleep 0.01; i=$((i+1)); done; sleep 0.5; '
                  'cat /dev/zero > /dev/shm/fill 2>/dev/null; '
                  'wait $r; echo "report_rc=$?" >&2; cat /tmp/.rel_err_$$ >&2; cat /tmp/.rel_out_$$; '
                  'rm -f /tmp/.rel_out_$$ /tmp/.rel_err_$$'
                  % (A.memtop, rep.name, ' '.join(cmd)))
        r = in_namespace(script)
        if r is None:
            print('SKIP: no mount namespace (needs root and unshare)', file=sys.stderr)
            sys.exit(77)
        err = r.stderr.decode(errors='replace').splitlines()
        with open(rep.name, errors='replace') as f:
            report = f.read()
    finally:
        os.unlink(rep.name)
    info('no room for frames: %r' % err)
    rc = [l.split('=')[1] for l in err if l.startswith('report_rc=')]
    check(rc == [str(WORK_EXIT)] and bst == WORK_EXIT, 'no room for frames: exit %r, bare %d' % (rc, bst))
    check(r.stdout.decode() == bout, 'no room for frames: target stdout differs from the bare run')
    field = dict(l.split(': ', 1) for l in report.splitlines()
                 if ': ' in l and not l.startswith((' ', '#')))
    check(field.get('state') == 'exited', 'no room for frames: report state %r' % field.get('state'))
    check(field.get('allocs') == field.get('target_allocs') and int(field.get('allocs', 0)) >= 3000,
          'no room for frames: allocs %r against the target\'s %r'
          % (field.get('allocs'), field.get('target_allocs')))
    check(field.get('lost_events') == '0' and field.get('dropped_events') == '0',
          'no room for frames: lost %r, dropped %r' % (field.get('lost_events'), field.get('dropped_events')))
    check('stack table full' in report,
          'no room for frames: no stack shown as the table\'s overflow (the arena had room after all?)')


# ---------------------------------------------------------------- monitor safety

def long_target(rounds='40000', **env):
    p = start_target(['work', rounds, str(WORK_EXIT)],
                     preload_env(MEMTOP_RING=64, MEMTOP_BLOCK_MS=BLOCK_MS, **env))
    if not wait_for(lambda: os.path.exists(seg_path(p.pid)), 5):
        fail('segment of %d never appeared' % p.pid)
    return p


def end_monitor(mon, name, timeout=20):
    """The monitor must end by itself (error) or keep running sanely; never a signal death."""
    try:
        st = mon.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        st = None
    out = err = ''
    if st is None:
        mon.terminate()
        try:
            mon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            mon.kill()
            fail('%s: monitor hung (ignored SIGTERM)' % name)
            mon.wait()
    out = mon.stdout.read().decode(errors='replace')
    err = mon.stderr.read().decode(errors='replace')
    if st is not None:
        check(not died_of_signal(st), '%s: monitor died of signal %d; stderr %r' % (name, -st, err))
    return st, out, err


def kill_target(p):
    if p.poll() is None:
        p.kill()
    p.communicate()


def known(msg):
    """A bug the suite exposed and the report names: fails only with MEMTOP_REL_STRICT=1."""
    if os.environ.get('MEMTOP_REL_STRICT'):
        fail(msg)
    else:
        print('KNOWN BUG: ' + msg, flush=True)


def case_truncate():
    """ftruncate of the segment under an attached monitor (SIGBUS path): no crash, no hang, and no
    lie. The target idles (no allocation call) so that only the monitor touches the damage."""
    for size in ('0', '4096', '65536'):
        p = start_target(['idle', '6000', 'quick'], preload_env())
        if not wait_for(lambda: os.path.exists(seg_path(p.pid)), 5):
            fail('segment of %d never appeared' % p.pid)
        mon = monitor(['-b', '-d', '0.1', '-n', '15', str(p.pid)])
        time.sleep(0.4)
        st0, _, e0, _ = run([A.segtool, 'truncate', str(p.pid), size], base_env())
        check(st0 == 0, 'segtool truncate failed: %s' % e0)
        st, out, err = end_monitor(mon, 'truncate %s' % size)
        check(p.poll() is None, 'truncate %s: the idle target died (%s)' % (size, p.poll()))
        states = re.findall(r'state (\S+)', out)
        info('truncate to %s: monitor status %s, last state %s, stderr %r' %
             (size, st, states[-1] if states else None, err.strip()[-300:]))
        check(st is not None, 'truncate %s: monitor hung' % size)
        # the target lives on: the monitor must say the segment was truncated (state and one
        # line on stderr), never call it a crash, and exit non-zero after its last good figures
        check(states and 'truncated' in states[-1] and not states[-1].startswith('crashed'),
              'truncate %s: last state %s, expected segment-truncated' %
              (size, states[-1] if states else None))
        check('truncated' in err and err.count('\n') == 1 and err.startswith('memtop: '),
              'truncate %s: expected one stderr line about the truncation, got %r' % (size, err))
        check(st != 0, 'truncate %s: the monitor exited 0 on a truncated segment' % size)
        check(re.search(r'live_bytes: \d+', out) is not None,
              'truncate %s: no figures printed before the truncation' % size)
        # a second monitor must refuse the damaged segment with one clear line
        rst, rout, rerr, _ = run([A.memtop, 'snapshot', str(p.pid), '-o', '/dev/null'],
                                 base_env(), timeout=20)
        check(rst is not None and rst > 0 and rerr.startswith('memtop: ') and rerr.count('\n') == 1,
              'truncate %s: snapshot after truncation: status %s stderr %r' % (size, rst, rerr))
        info('truncate to %s: a new monitor says %r' % (size, rerr.strip()))
        kill_target(p)
        try:
            os.unlink(seg_path(p.pid))
        except OSError:
            pass


def case_scribble():
    """Random bytes written into a live segment while a monitor is attached: the monitor neither
    crashes nor hangs (a clear error, or it carries on). The target's fate is recorded: the
    segment is its own memory, so a hostile writer of the same uid can hurt it (reported)."""
    seeds = [1, 2, 3, 4, 5, 6]
    target_fates = []
    damaged_seen = []
    for seed in seeds:
        p = long_target('30000')
        mon = monitor(['-b', '-d', '0.1', '-n', '20', str(p.pid)])
        time.sleep(0.3)
        st0, o0, e0, _ = run([A.segtool, 'scribble', str(p.pid), '1000', str(seed)], base_env(),
                             timeout=30)
        st, out, err = end_monitor(mon, 'scribble seed %d' % seed, timeout=20)
        check(st is not None, 'scribble seed %d: monitor hung' % seed)
        try:
            tst = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            tst = 'hung'
        kill_target(p)
        target_fates.append(tst)
        check(tst == WORK_EXIT, 'scribble seed %d: target status %s (a damaged ring must make it '
              'drop, never hang or crash)' % (seed, tst))
        approx = re.findall(r'lost_events: (\d+)', out)
        # impossible counters read from the scribbled slots are not shown as fact: the monitor
        # keeps the last sane figures, marks the state damaged and says so once on stderr
        check(not approx or int(approx[-1]) <= 10**12,
              'scribble seed %d: the monitor prints lost_events %s' % (seed, approx[-1]))
        damaged = 'segment-damaged' in out
        check(not damaged or (err.count('segment /memtop.%d damaged' % p.pid) == 1 and
                              '(APPROXIMATE)' in out.split('segment-damaged', 1)[1]),
              'scribble seed %d: damaged state without exactly one stderr line and the '
              'APPROXIMATE mark (stderr %r)' % (seed, err[-300:]))
        if damaged:
            damaged_seen.append(seed)
        info('scribble seed %d (%s): monitor status %s, stderr %r, last lost_events %s; '
             'target status %s' % (seed, o0.strip(), st, err.strip()[-200:],
                                   approx[-1] if approx else None, tst))
        try:
            os.unlink(seg_path(p.pid))
        except OSError:
            pass
    check(damaged_seen, 'scribble: no seed made the monitor notice a damaged segment')
    figure('scribble: %d live segments scribbled for 1 s each under an attached monitor: monitor '
           'never crashed or hung; said "segment damaged" for seeds %s; target fates %s' %
           (len(seeds), damaged_seen, target_fates))


def case_forge():
    """Forged pid / start time / magic in the header: refused as stale or mismatched."""
    for op, arg in (('forge-pid', '1'), ('forge-pid', '999999'), ('forge-start', '12345'),
                    ('forge-magic', '0')):
        p = long_target()
        st0, _, e0, _ = run([A.segtool, op, str(p.pid), arg], base_env())
        check(st0 == 0, 'segtool %s failed: %s' % (op, e0))
        for args in (['snapshot', str(p.pid), '-o', '/dev/null'], ['-b', '-n', '1', str(p.pid)]):
            st, out, err, _ = run([A.memtop] + args, base_env(), timeout=20)
            check(st is not None and st > 0, '%s %s: monitor accepted it (status %s)' %
                  (op, arg, st))
            check(err.startswith('memtop: ') and err.count('\n') == 1,
                  '%s %s: expected one clear line, got %r' % (op, arg, err))
            info('%s %s: %s' % (op, arg, err.strip()))
        # gc must not remove the segment of a live process whose header names another pid or
        # no memtop segment at all. A forged start time looks exactly like a reused pid, so gc
        # removing it is by design (noted in the report: /proc/PID/maps would tell them apart).
        run([A.memtop, 'gc'], base_env())
        if op != 'forge-start':
            check(os.path.exists(seg_path(p.pid)), '%s: gc removed the segment of live pid %d' %
                  (op, p.pid))
        else:
            info('forge-start: gc %s the segment of the live target' %
                 ('kept' if os.path.exists(seg_path(p.pid)) else 'removed'))
        kill_target(p)
        try:
            os.unlink(seg_path(p.pid))
        except OSError:
            pass


def target_of(memtop_pid, timeout=10):
    """The pid of the target `memtop run/report` started (its child), or None."""
    path = '/proc/%d/task/%d/children' % (memtop_pid, memtop_pid)

    def child():
        try:
            with open(path) as f:
                pids = f.read().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None
    return child() if wait_for(lambda: child() is not None, timeout) else None


def case_forged_duplicate():
    """Two allocations of one address with no free between (a free the monitor never saw), forged
    into a live target's ring: the report counts duplicate_allocs, calls the live set approximate,
    and says why in one warning line on stderr."""
    with tempfile.TemporaryDirectory() as d:
        snap = os.path.join(d, 'snap.txt')
        p = monitor(['report', '--preload', A.preload, '-o', snap, '--', A.target, 'idle', '2000'])
        target = target_of(p.pid)
        check(target is not None, 'forged-duplicate: no target under memtop report')
        if target and wait_for(lambda: os.path.exists(seg_path(target)), 5):
            st0, out0, e0, _ = run([A.segtool, 'forge-dup', str(target), '0x7f0000001000'],
                                   base_env())
            check(st0 == 0, 'forged-duplicate: segtool failed: %s' % e0)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            fail('forged-duplicate: memtop report did not finish')
        err = err.decode(errors='replace')
        check(p.returncode == REPORT_APPROXIMATE, 'forged-duplicate: memtop report exited %s, '
              'expected %d (approximate): %r' % (p.returncode, REPORT_APPROXIMATE, err))
        fields = snapshot_fields(open(snap).read()) if os.path.exists(snap) else {}
        check(fields.get('duplicate_allocs') == 1, 'forged-duplicate: duplicate_allocs %s, expected 1'
              % fields.get('duplicate_allocs'))
        check(fields.get('approximate') == 1, 'forged-duplicate: approximate %s, expected 1' %
              fields.get('approximate'))
        check(fields.get('lost_events') == 0, 'forged-duplicate: lost_events %s' %
              fields.get('lost_events'))
        warn = [l for l in err.splitlines() if l.startswith('memtop: warning: ')]
        check(len(warn) == 1 and 'the live set is approximate: 1 duplicate allocations' in warn[0],
              'forged-duplicate: expected one warning line naming the duplicate, got %r' % err)
        info('forged-duplicate: %s' % (warn[0] if warn else err.strip()))


def case_not_a_segment():
    """A symlink, a fifo, a directory or a short file at /dev/shm/memtop.<pid>: refused, no hang."""
    sleeper = subprocess.Popen(['sleep', '60'])
    victim = long_target()
    path = seg_path(sleeper.pid)
    try:
        for kind in ('symlink', 'fifo', 'directory', 'empty', 'garbage'):
            if kind == 'symlink':
                os.symlink(seg_path(victim.pid), path)
            elif kind == 'fifo':
                os.mkfifo(path, 0o600)
            elif kind == 'directory':
                os.mkdir(path, 0o700)
            elif kind == 'empty':
                open(path, 'w').close()
            else:
                with open(path, 'wb') as f:
                    f.write(os.urandom(1 << 20))
            for args in (['snapshot', str(sleeper.pid), '-o', '/dev/null'],
                         ['-b', '-n', '1', str(sleeper.pid)]):
                st, out, err, _ = run([A.memtop] + args, base_env(), timeout=20)
                check(st is not None and st > 0, '%s: monitor accepted it (status %s)' % (kind, st))
                check(err.startswith('memtop: ') and err.count('\n') == 1,
                      '%s: expected one clear line, got %r' % (kind, err))
                info('%s: %s' % (kind, err.strip()))
            st, out, err, _ = run([A.memtop], base_env(), timeout=20)  # the listing
            check(st == 0, '%s: listing exited %s: %r' % (kind, st, err))
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
    finally:
        for q in (sleeper, victim):
            q.kill()
            q.wait()
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        try:
            os.unlink(seg_path(victim.pid))
        except OSError:
            pass


def as_nobody():
    no_core()
    os.setgid(65534)
    os.setuid(65534)


def case_other_uid():
    """A segment owned by another uid: refused for a normal user; as root, what memtop does is
    recorded (accepted with a notice is the design)."""
    p = long_target()
    try:
        # 1. nobody attaching to root's segment (mode 0600): refused with one clear line
        if os.geteuid() == 0:
            st, out, err, _ = run([A.memtop, 'snapshot', str(p.pid), '-o', '/dev/null'], base_env(),
                                  timeout=20, preexec=as_nobody)
            check(st is not None and st > 0 and err.startswith('memtop: ') and err.count('\n') == 1,
                  'nobody -> root segment: status %s stderr %r' % (st, err))
            info('nobody attaching to a root segment: %s' % err.strip())
        # 2. the segment chowned to another uid, root attaching
        st0, _, e0, _ = run([A.segtool, 'chown', str(p.pid), '65534'], base_env())
        check(st0 == 0, 'segtool chown: %s' % e0)
        st, out, err, _ = run([A.memtop, 'snapshot', str(p.pid), '-o', '/dev/null'], base_env(),
                              timeout=20)
        info('root attaching to a segment owned by uid 65534: status %s stderr %r' % (st, err))
        check(st is not None and st >= 0, 'other uid: monitor status %s' % st)
        if os.geteuid() == 0:
            check(st == 0, 'other uid: root is refused a segment of uid 65534 (%s); the issue asks '
                  'root to be let in with a notice' % err.strip())
            check(err.startswith('memtop: ') and err.count('\n') == 1 and '65534' in err,
                  'other uid: root must get one notice line naming uid 65534, got %r' % err)
        check(st != 0 or 'uid' in err or 'owner' in err or 'user' in err,
              'other uid: root accepted a foreign segment without saying so (stderr %r)' % err)
        check(st == 0 or (err.startswith('memtop: ') and err.count('\n') == 1),
              'other uid: refusal is not one clear line: %r' % err)
    finally:
        kill_target(p)
        try:
            os.unlink(seg_path(p.pid))
        except OSError:
            pass


def case_gc():
    """gc removes segments of dead pids and of reused pids (start time differs), never a live one."""
    live = long_target()
    sleeper = subprocess.Popen(['sleep', '60'])
    made = []
    try:
        # a dead pid: the segment left by an aborted target
        st, _, _, _ = run([A.target, 'abort'], preload_env())
        check(st == -signal.SIGABRT, 'gc: abort target status %s' % st)
        dead = [s for s in segments() if not pid_alive(int(s.rsplit('.', 1)[1]))]
        check(dead, 'gc: the aborted target left no segment (test not testing)')
        dead_seg = dead[0]
        # a reused pid: a copy of that dead segment named and stamped for a live process (sleep)
        reused = seg_path(sleeper.pid)
        shutil.copyfile(dead_seg, reused)
        os.chmod(reused, 0o600)
        made.append(reused)
        st0, _, e0, _ = run([A.segtool, 'forge-pid', str(sleeper.pid), str(sleeper.pid)], base_env())
        check(st0 == 0, 'gc: forge-pid: %s' % e0)
        # both may have started in the same clock tick: make the recorded start time the one
        # of an older process, as a reused pid would have
        st0, _, e0, _ = run([A.segtool, 'forge-start', str(sleeper.pid), str(2**63)], base_env())
        check(st0 == 0, 'gc: forge-start: %s' % e0)
        st, out, err, _ = run([A.memtop], base_env())
        info('listing before gc:\n' + out)
        st, out, err, _ = run([A.memtop, 'gc'], base_env())
        info('gc: ' + out.strip())
        check(st == 0, 'gc exited %s: %r' % (st, err))
        check(not os.path.exists(dead_seg), 'gc kept the dead pid\'s segment %s' % dead_seg)
        check(not os.path.exists(reused), 'gc kept the reused pid\'s segment %s' % reused)
        check(os.path.exists(seg_path(live.pid)), 'gc removed the live segment of %d' % live.pid)
        st, out, err, _ = run([A.memtop, 'snapshot', str(live.pid), '-o', '/dev/null'], base_env(),
                              timeout=20)
        check(st == 0, 'gc: the live target is no longer attachable: %r' % err)
        kill_target(live)
        lst = live.returncode
        check(lst == -signal.SIGKILL, 'gc: live target status %s' % lst)
    finally:
        for q in (live, sleeper):
            if q.poll() is None:
                q.kill()
            q.wait()
        for path in made + [seg_path(live.pid)]:
            try:
                os.unlink(path)
            except OSError:
                pass


CASES = {name[5:].replace('_', '-'): fn for name, fn in globals().items()
         if name.startswith('case_')}


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument('--memtop', required=True)
    ap.add_argument('--preload', required=True)
    ap.add_argument('--target', required=True)
    ap.add_argument('--segtool', required=True)
    ap.add_argument('--plugin')
    ap.add_argument('case', choices=sorted(CASES))
    A = ap.parse_args()
    t0 = time.monotonic()
    CASES[A.case]()
    print('%s: %.1fs, %d failure(s)' % (A.case, time.monotonic() - t0, len(FAILURES)), flush=True)
    sys.exit(1 if FAILURES else 0)


if __name__ == '__main__':
    main()
