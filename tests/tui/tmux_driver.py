"""tmux_driver: runs a command in a private tmux server, sends keys, captures the screen, and waits
for what should appear with a deadline (never a fixed sleep). Used by the dashboard tests in
tests/tui/; it must never touch a tmux server it did not start."""
import os
import re
import shlex
import subprocess
import time

_counter = 0


class Tmux:
    def __init__(self, cols, rows):
        global _counter
        _counter += 1
        self.sock = "memtop-test-%d-%d" % (os.getpid(), _counter)
        self.cols, self.rows = cols, rows
        self.started = False

    def _tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-u", "-L", self.sock, "-f", "/dev/null"] + list(args),
                              check=check, capture_output=True, text=True)

    def start(self, argv, env=None):
        """Starts argv in a window of cols x rows; the pane stays after the command ends."""
        envs = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in (env or {}).items())
        cmd = "env %s %s; echo MEMTOP-EXIT=$?; sleep 600" % (envs, " ".join(shlex.quote(a) for a in argv))
        self._tmux("new-session", "-d", "-x", str(self.cols), "-y", str(self.rows), "sh", "-c", cmd)
        self.started = True
        self._tmux("set-option", "-g", "status", "off")
        self._tmux("resize-window", "-x", str(self.cols), "-y", str(self.rows), check=False)

    def keys(self, *keys):
        self._tmux("send-keys", *keys)

    def literal(self, text):
        self._tmux("send-keys", "-l", text)

    def resize(self, cols, rows):
        self.cols, self.rows = cols, rows
        self._tmux("resize-window", "-x", str(cols), "-y", str(rows))

    def screen(self):
        return self._tmux("capture-pane", "-p").stdout

    def wait_for(self, what, timeout=15.0, describe=None):
        """Polls the screen until `what` (regex string or predicate on the screen) holds.
        Returns the regex match (or the screen); raises with the last screen on timeout."""
        deadline = time.monotonic() + timeout
        screen = ""
        while True:
            screen = self.screen()
            if callable(what):
                if what(screen):
                    return screen
            else:
                m = re.search(what, screen, re.M)
                if m:
                    return m
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.0fs waiting for %s\n--- screen (%dx%d) ---\n%s"
                                     % (timeout, describe or repr(what), self.cols, self.rows, screen))
            time.sleep(0.1)

    def close(self):
        if self.started:
            self._tmux("kill-server", check=False)
            self.started = False


def wait_file(path, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % path)
        time.sleep(0.05)
    with open(path) as f:
        return int(f.read().strip())


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not running: look at its state.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
