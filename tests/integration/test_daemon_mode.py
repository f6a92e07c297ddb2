"""pampero-milter as a real daemon (no -f): it goes to the background (the command returns
0, the daemon is a session leader whose cwd is / and whose stdio is /dev/null), logs to
syslog (mail facility, ident and PID on each line), writes its pid file (-p: the daemon's id,
locked: a second instance is refused; removed at exit), and stops on SIGTERM with a last line.

This machine has no syslog daemon, so the milter runs in a private mount namespace whose
/dev is a folder of ours: the real null/zero/urandom devices bound into it, and /dev/log a
datagram socket this test reads. Nothing outside the namespace sees the change.
"""
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness as h


class SyslogSink:
    """A datagram socket at `path` that keeps every line it is sent."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            with self.lock:
                self.lines.append(data.decode("utf-8", "replace"))

    def text(self):
        with self.lock:
            return "\n".join(self.lines)

    def close(self):
        self.sock.close()


def find_daemon(config):
    """PIDs of pampero-milter processes started with `config`."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"pampero-milter") and config.encode() in argv:
            out.append(int(pid))
    return out


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    return None


class MilterAsDaemon(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.port = h.free_port()
        self.config = h.write_config(self.work.path, self.port)
        self.dev = self.work.join("dev")
        os.makedirs(self.dev)
        for name in ("null", "zero", "urandom", "random"):
            open(os.path.join(self.dev, name), "w").close()
        self.syslog = SyslogSink(os.path.join(self.dev, "log"))
        self.pids = []

    def tearDown(self):
        for pid in self.pids:  # only the daemon this test started, by its PID
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.syslog.close()
        self.work.close()

    def test_background_syslog_and_sigterm(self):
        binds = "".join(f"mount --bind /dev/{n} {self.dev}/{n} && " for n in ("null", "zero", "urandom", "random"))
        script = f"{binds}mount --rbind {self.dev} /dev && exec \"$0\" -c \"$1\" -p \"$2\""
        pid_file = self.work.join("milter.pid")
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                            os.path.join(h.BIN, "pampero-milter"), self.config, pid_file],
                           capture_output=True, text=True, timeout=60)
        # The command returns once the daemon is in the background, and says nothing.
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        pids = h.wait_until(lambda: find_daemon(self.config), 20, "the daemon's process")
        self.pids = pids
        self.assertEqual(len(pids), 1, pids)
        pid = pids[0]
        h.wait_for_port(self.port)
        # The pid file names the daemon (not the parent that exited), and holds it: a
        # second instance with the same file refuses at once, on the terminal, and leaves
        # the file alone.
        with open(pid_file) as f:
            self.assertEqual(f.read(), f"{pid}\n")
        second = subprocess.run([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", self.config,
                                 "-p", pid_file], capture_output=True, text=True, timeout=60)
        self.assertEqual(second.returncode, 78, second.stderr)
        self.assertIn(f"already running (pid {pid})", second.stderr)
        with open(pid_file) as f:
            self.assertEqual(f.read(), f"{pid}\n")
        # Detached: its own session (the command that started it has exited).
        self.assertEqual(os.getsid(pid), pid)
        # Its working folder is its root (chdir("/")), compared by inode: inside a chroot
        # whose / is a mount of its own (scripts/pristine-check), readlink shows the path
        # from outside the chroot.
        cwd, top = os.stat(f"/proc/{pid}/cwd"), os.stat(f"/proc/{pid}/root")
        self.assertEqual((cwd.st_dev, cwd.st_ino), (top.st_dev, top.st_ino))
        for fd in (0, 1, 2):
            # The null device itself, by device number (readlink, as above, may name it
            # from outside a chroot).
            self.assertEqual(os.stat(f"/proc/{pid}/fd/{fd}").st_rdev, os.stat("/dev/null").st_rdev, fd)
        # Syslog: mail facility (2 << 3) at notice (5) = <21>, ident and PID on the line.
        h.wait_until(lambda: "starting on" in self.syslog.text(), 20, "the start-up line in syslog")
        line = next(l for l in self.syslog.lines if "starting on" in l)
        self.assertTrue(line.startswith("<21>"), line)
        self.assertIn(f"pampero-milter[{pid}]: ", line)
        self.assertIn(f"inet:{self.port}@127.0.0.1", line)
        # It serves: a milter negotiation on its port gets an answer.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"\x00\x00\x00\x0dO\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff")
            self.assertEqual(s.recv(5)[4:5], b"O")
        # SIGTERM: a last line, and the process is gone.
        os.kill(pid, signal.SIGTERM)
        h.wait_until(lambda: not os.path.exists(f"/proc/{pid}") or proc_status(pid, "State").startswith("Z"),
                     30, "the daemon to stop")
        self.pids = []
        h.wait_until(lambda: "stopping on signal 15" in self.syslog.text(), 10, "the stop line in syslog")
        self.assertFalse(os.path.exists(pid_file))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
