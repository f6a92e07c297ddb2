"""The fault matrix: one MX under a steady stream of mail, one fault at a time, counted.

The path: a private Postfix (scripts/postfix-instance) with pampero-milter (the shipped
rules, libclamav with a signature folder this test writes) and pampero-policyd at RCPT and
END-OF-MESSAGE (the shipped snippets), routing through pampero-store's socketmap and
delivering over LMTP to that pampero-store (the storage node), which files into Maildirs
on a tmpfs of its own (so its disk can be filled). The directory and the state are the
backends named in BACKENDS below.

For each fault, a stream of MESSAGES messages goes through SESSIONS concurrent SMTP
sessions (threads of this process, each keeping its connection and sending one message
after the other). Every message has a unique Message-ID and one recipient among USERS;
one in EICAR_EVERY carries the EICAR test string and must be refused 554 (refused on
purpose: it shows virus scanning still works through the fault). A message that gets a
4xx (or a dropped connection) is sent again after RETRY_PAUSE seconds, as a sending MTA
would, at most RETRY_FOR seconds in all. When a third of the stream is done the fault is
injected, held FAULT_HOLD seconds, and removed; the stream then completes. Postfix's
queue (LMTP deferrals) is flushed with `postqueue -f` until it is empty, bounded.

Then every Message-ID is looked for in the Maildirs: each one accepted (2xx) must be
there exactly once, each one refused must be an EICAR message (a 5xx for anything else
is one caused by the fault: a failure), and none may be given up. The daemons must be
the same processes as before the fault (recovery without restarting pampero), except
the storage node of the kill -9 row, whose restart is the end of that fault.

The matrix is printed as a table (and the test fails after printing it when a row is
bad). Runs in the release build only (tests/CMakeLists.txt: not registered under
PAMPERO_SANITIZE; its stream is too slow under ASan to be useful there).
"""
import atexit
import collections
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
import unittest

import harness as h

# Development only: a smaller stream to try the machinery (ctest never sets it; the
# matrix the issue asks for is at least 5,000 messages a fault).
MESSAGES = int(os.environ.get("PAMPERO_FAULT_MESSAGES", "5000"))
SESSIONS = 20
USERS = [f"user{i}@farm.test" for i in range(4)]
EICAR_EVERY = 100
FAULT_AT = 1 / 3          # share of the stream done when the fault is injected
FAULT_HOLD = 6.0          # seconds the fault lasts
RETRY_PAUSE = 0.5         # seconds before a 4xx'd message is sent again
RETRY_FOR = 240.0         # seconds a message is retried at most (then given up: lost)
STREAM_LIMIT = 420.0      # seconds one row's stream may take at most
QUEUE_LIMIT = 180.0       # seconds Postfix's queue has to drain after the stream

# Assembled at run time so this file is no EICAR carrier itself (as test_antivirus.py).
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = f"Pampero.Test.EICAR:0:*:{EICAR.encode().hex()}\n"

MID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.M | re.I)


def log(text):
    print(text, file=sys.stderr, flush=True)


class Stream:
    """MESSAGES messages over SESSIONS SMTP sessions to 127.0.0.1:port, each retried on
    4xx as a sending MTA would (bounded). Counts every reply the client heard."""

    def __init__(self, port, tag):
        self.port, self.tag = port, tag
        self.lock = threading.Lock()
        self.next = 0
        self.done = 0
        self.heard = collections.Counter()   # "2xx", "4xx", "5xx" (every attempt)
        self.codes = collections.Counter()   # every non-2xx reply by its code (or "drop")
        self.accepted = set()                # Message-IDs that got 250
        self.refused = {}                    # Message-ID -> (code, text)
        self.given_up = set()
        self.stop_at = time.monotonic() + STREAM_LIMIT

    def mid(self, i):
        return f"{self.tag}.{i}@fault.test"

    def is_virus(self, i):
        return i % EICAR_EVERY == EICAR_EVERY - 1

    def message(self, i):
        rcpt = USERS[i % len(USERS)]
        body = (f"Hello {rcpt},\r\n\r\nmessage {i} of the {self.tag} stream.\r\n"
                "Nothing to see here, just a steady stream of ordinary mail.\r\n")
        if self.is_virus(i):
            body += EICAR + "\r\n"
        data = (f"From: sender{i % 7}@remote.example\r\nTo: {rcpt}\r\n"
                f"Subject: stream {self.tag} {i}\r\nDate: Tue, 01 Dec 2026 21:00:00 +0000\r\n"
                f"Message-ID: <{self.mid(i)}>\r\n\r\n{body}")
        return f"sender{i % 7}@remote.example", rcpt, data.encode()

    def start(self):
        self.threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(SESSIONS)]
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(max(1.0, self.stop_at - time.monotonic() + RETRY_FOR + 60))
        return not any(t.is_alive() for t in self.threads)

    def worker(self):
        conn = None
        while time.monotonic() < self.stop_at:
            with self.lock:
                i = self.next
                if i >= MESSAGES:
                    break
                self.next += 1
            conn = self.deliver(conn, i)
            with self.lock:
                self.done += 1
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def hear(self, code):
        with self.lock:
            if isinstance(code, int) and 200 <= code < 300:
                self.heard["2xx"] += 1
            elif isinstance(code, int) and code >= 500:
                self.heard["5xx"] += 1
                self.codes[code] += 1
            else:
                self.heard["4xx"] += 1
                self.codes[code] += 1

    def transaction(self, conn, sender, rcpt, data):
        """(code, text) of the first reply that was not a 250 (or DATA's final one)."""
        code, text = conn.mail(sender)
        if code != 250:
            return code, text
        code, text = conn.rcpt(rcpt)
        if code != 250:
            return code, text
        return conn.data(data)

    def deliver(self, conn, i):
        sender, rcpt, data = self.message(i)
        mid = self.mid(i)
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", self.port, local_hostname="sender.example",
                                        timeout=120)
                    conn.ehlo_or_helo_if_needed()
                code, text = self.transaction(conn, sender, rcpt, data)
            except smtplib.SMTPConnectError as e:  # a greeting other than 220
                code, text, conn = e.smtp_code, e.smtp_error, None
            except (OSError, smtplib.SMTPException):
                code, text = "drop", b""
                conn = None
            self.hear(code)
            if isinstance(code, int) and 200 <= code < 300:
                with self.lock:
                    self.accepted.add(mid)
                return conn
            if isinstance(code, int) and code >= 500:
                with self.lock:
                    self.refused[mid] = (code, text.decode("utf-8", "replace"))
                self.reset(conn)
                return conn
            # Tried again in a new session, as a sending MTA does. Not only politeness:
            # Postfix's smtpd caches an address it could not resolve (a socketmap that
            # was down) for the life of the process, so a session that keeps asking the
            # same smtpd would hear 451 4.3.0 long after the fault is gone.
            if conn is not None:
                self.quit(conn)
                conn = None
            if time.monotonic() + RETRY_PAUSE > deadline:
                with self.lock:
                    self.given_up.add(mid)
                return conn
            time.sleep(RETRY_PAUSE)

    @staticmethod
    def reset(conn):
        if conn is not None:
            try:
                conn.rset()
            except (OSError, smtplib.SMTPException):
                pass

    @staticmethod
    def quit(conn):
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
        try:
            conn.close()
        except OSError:
            pass


class FaultMatrix(unittest.TestCase):
    ROWS = []  # (name, dict) as measured, printed at the end

    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir("pampero-faults-")
        w = cls.work.path
        # The storage node's disk: a tmpfs of its own, filled by the disk-full fault.
        cls.mail_root = cls.work.join("mail")
        os.makedirs(cls.mail_root)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "pampero-faults",
                        cls.mail_root], check=True, timeout=30)
        # Unmounted at exit whatever happens (setUpClass failing skips tearDownClass).
        atexit.register(cls.unmount)
        cls.sigs = cls.work.join("signatures")
        os.makedirs(cls.sigs)
        with open(os.path.join(cls.sigs, "eicar.ndb"), "w") as f:
            f.write(SIGNATURE)
        # The farm's backends: a private Redis (the state) and MariaDB (the directory).
        cls.redis = h.RedisServer().start(cls.work.join("redis"))
        cls.mariadb = h.MariaDBServer().start(cls.work.join("mariadb"))
        cls.milter_port, cls.policyd_port = h.free_port(), h.free_port()
        cls.lmtp_port, cls.socketmap_port = h.free_port(), h.free_port()
        cls.write_config()
        h.pamperoctl(cls.config, "domain", "add", "farm.test")
        for u in USERS:
            h.pamperoctl(cls.config, "user", "add", u, "--node", "n1")
        cls.store = h.start_store(cls.config, cls.lmtp_port, w)
        cls.start_filters()
        h.wait_for_port(cls.socketmap_port)
        sm = f"socketmap:inet:127.0.0.1:{cls.socketmap_port}"
        policyd = h.shipped_snippet("main.cf.policyd", {
            "inet:127.0.0.1:10031": f"inet:127.0.0.1:{cls.policyd_port}",
            "mynetworks_style = host\n": ""})  # the instance's mynetworks: no 127.x client
        cls.postfix = h.Postfix(w, main_cf=(
            h.shipped_milter_snippet(f"inet:127.0.0.1:{cls.milter_port}") + policyd +
            f"virtual_mailbox_domains = {sm}:domain\n"
            f"virtual_mailbox_maps = {sm}:mailbox\n"
            f"virtual_alias_maps = {sm}:alias\n"
            f"transport_maps = {sm}:transport\n"
            f"virtual_transport = lmtp:inet:127.0.0.1:{cls.lmtp_port}\n"
            "smtpd_reject_unlisted_recipient = yes\n"
            # SESSIONS smtpd processes plus the queue's own (cleanup, lmtp ...).
            "default_process_limit = 60\n"
            # A deferred message is tried again soon (postqueue -f forces it anyway).
            "minimal_backoff_time = 2s\nmaximal_backoff_time = 4s\nqueue_run_delay = 2s\n"))

    @classmethod
    def write_config(cls, on_state_error=None):
        extra = (f"antivirus:\n  signatures: {cls.sigs}\n  reload_check: 1\n"
                 f"policyd:\n  socket: inet:{cls.policyd_port}@127.0.0.1\n"
                 f"store:\n  lmtp: inet:{cls.lmtp_port}@127.0.0.1\n"
                 f"  socketmap: inet:{cls.socketmap_port}@127.0.0.1\n"
                 f"  node: n1\n  mail_root: {cls.mail_root}\n"
                 f"  nodes:\n    n1: inet:{cls.lmtp_port}@127.0.0.1\n")
        if on_state_error:
            extra += f"on_state_error: {on_state_error}\n"
        cls.config = h.write_config(cls.work.path, cls.milter_port, extra=extra,
                                    state=cls.redis.url)
        # harness.write_config writes an SQLite directory: this one is MariaDB's.
        with open(cls.config) as f:
            text = re.sub(r"(?m)^directory: sqlite:.*$", f"directory: {cls.mariadb.url}", f.read())
        with open(cls.config, "w") as f:
            f.write(text)

    @classmethod
    def start_filters(cls):
        w = cls.work.path
        cls.milter = h.start_milter(cls.config, cls.milter_port, w)
        cls.policyd = h.Daemon([os.path.join(h.BIN, "pampero-policyd"), "-f", "-c", cls.config],
                               os.path.join(w, "policyd.log"))
        h.wait_for_port(cls.policyd_port, proc=cls.policyd.proc, logs=[cls.policyd.log_path])

    @classmethod
    def unmount(cls):
        """The storage node stopped (it holds files there), then the tmpfs unmounted."""
        if getattr(cls, "store", None) is not None:
            cls.store.stop()
        if os.path.ismount(cls.mail_root):
            subprocess.run(["umount", cls.mail_root], timeout=60)

    @classmethod
    def tearDownClass(cls):
        for s in (getattr(cls, "postfix", None), getattr(cls, "policyd", None),
                  getattr(cls, "milter", None), getattr(cls, "store", None),
                  getattr(cls, "redis", None), getattr(cls, "mariadb", None)):
            if s is not None:
                s.stop()
        cls.unmount()
        print_matrix(cls.ROWS)
        cls.work.close()

    # --- the measurement -----------------------------------------------------------------

    def postqueue(self, *args):
        return subprocess.run(["postqueue", "-c", os.path.join(self.postfix.dir, "etc"), *args],
                              capture_output=True, text=True, timeout=60)

    def drain_queue(self):
        """Flushes Postfix's queue until it is empty; True when it emptied in time."""
        deadline = time.monotonic() + QUEUE_LIMIT
        while time.monotonic() < deadline:
            if "Mail queue is empty" in self.postqueue("-p").stdout:
                return True
            self.postqueue("-f")
            time.sleep(2)
        return False

    def delivered(self):
        """Message-ID -> how many times it is in the Maildirs (any folder)."""
        seen = collections.Counter()
        for dirpath, _, files in os.walk(self.mail_root):
            if os.path.basename(dirpath) not in ("new", "cur"):
                continue
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    m = MID.search(f.read(4096))
                if m:
                    seen[m.group(1).decode()] += 1
        return seen

    def maillog_offset(self):
        return os.path.getsize(os.path.join(self.postfix.dir, "log", "maillog"))

    def deferrals_since(self, offset):
        with open(os.path.join(self.postfix.dir, "log", "maillog"), "rb") as f:
            f.seek(offset)
            return f.read().count(b"status=deferred")

    def run_fault(self, name, tag, inject, remove, restarted=()):
        """One row: the stream, the fault in its middle, the queue drained, the count."""
        pids = {d: d.pid for d in (self.milter, self.policyd, self.store)}
        offset = self.maillog_offset()
        stream = Stream(self.postfix.port, tag)
        t0 = time.monotonic()
        stream.start()
        h.wait_until(lambda: stream.done >= MESSAGES * FAULT_AT, STREAM_LIMIT,
                     f"{name}: a third of the stream")
        before = dict(stream.heard)
        log(f"{name}: fault injected after {stream.done} messages, {time.monotonic() - t0:.0f}s")
        inject()
        time.sleep(FAULT_HOLD)
        remove()
        during = {k: stream.heard[k] - before.get(k, 0) for k in stream.heard}
        log(f"{name}: fault removed; heard during it {during}")
        finished = stream.join()
        sent_for = time.monotonic() - t0
        drained = self.drain_queue()
        seen = self.delivered()
        sent = [stream.mid(i) for i in range(MESSAGES)]
        virus = {stream.mid(i) for i in range(MESSAGES) if stream.is_virus(i)}
        once = sum(1 for m in stream.accepted if seen[m] == 1)
        dups = sum(1 for m in sent if seen[m] > 1)
        lost = sum(1 for m in stream.accepted if seen[m] == 0) + len(stream.given_up)
        on_purpose = sum(1 for m in stream.refused if m in virus)
        fault_5xx = {m: r for m, r in stream.refused.items() if m not in virus}
        leaked = sum(1 for m in virus if seen[m])  # a virus delivered
        same = all(d.pid == pid and d.alive() for d, pid in pids.items() if d not in restarted)
        alive = all(d.alive() for d in (self.milter, self.policyd, self.store))
        recovered = finished and drained and same and alive and not stream.given_up
        row = dict(sent=MESSAGES, heard=dict(stream.heard), codes=dict(stream.codes),
                   during=during, accepted=len(stream.accepted), once=once, dups=dups, lost=lost,
                   on_purpose=on_purpose, fault_5xx=len(fault_5xx), leaked=leaked,
                   deferred=self.deferrals_since(offset), recovered=recovered,
                   seconds=sent_for, rate=MESSAGES / sent_for)
        self.ROWS.append((name, row))
        log(f"{name}: {row}")
        # Rows are independent: Postfix's smtpd processes cache an address they could not
        # resolve (a socketmap that was down) for as long as they live (max_use sessions),
        # and would answer 451 for it into the next row. `postfix reload` makes them exit.
        subprocess.run(["postfix", "-c", os.path.join(self.postfix.dir, "etc"), "reload"],
                       capture_output=True, timeout=60)
        self.postfix.wait_for_greeting(60)
        self.assertTrue(finished, f"{name}: the stream did not finish in time")
        self.assertTrue(drained, f"{name}: Postfix's queue did not drain:\n{self.postqueue('-p').stdout[-3000:]}")
        self.assertEqual(fault_5xx, {}, f"{name}: 5xx caused by the fault")
        self.assertEqual(stream.given_up, set(), f"{name}: messages given up")
        self.assertEqual(lost, 0, f"{name}: messages lost")
        self.assertEqual(dups, 0, f"{name}: messages delivered more than once")
        self.assertEqual(leaked, 0, f"{name}: viruses delivered")
        self.assertEqual(on_purpose, len(virus), f"{name}: not every EICAR message was refused")
        self.assertEqual(once + on_purpose, MESSAGES)
        self.assertTrue(same and alive, f"{name}: a pampero daemon restarted or died")
        return row

    # --- the faults ----------------------------------------------------------------------

    def test_1_storage_node_killed(self):
        holder = {}

        def inject():
            os.kill(self.store.pid, signal.SIGKILL)
            self.store.proc.wait(10)
            self.store.stop()

        def remove():
            type(self).store = h.start_store(self.config, self.lmtp_port, self.work.path)
            holder["new"] = self.store

        row = self.run_fault("storage node kill -9", "kill", inject, remove,
                             restarted=(self.store,))
        self.assertGreater(row["deferred"] + row["heard"].get("4xx", 0), 0,
                           "the storage node's death was not seen at all")

    def test_2_clamav_signatures(self):
        aside = self.work.join("signatures.aside")

        def inject():
            os.rename(self.sigs, aside)                       # missing ...
            time.sleep(FAULT_HOLD / 2)
            os.makedirs(self.sigs)                            # ... then corrupt
            with open(os.path.join(self.sigs, "eicar.ndb"), "w") as f:
                f.write("this is not a signature:::\n\x00\x01garbage\n")

        def remove():
            shutil.rmtree(self.sigs)
            os.rename(aside, self.sigs)
            os.utime(os.path.join(self.sigs, "eicar.ndb"))   # seen as changed: reloaded

        self.run_fault("ClamAV signatures missing, then corrupt", "clamav", inject, remove)

    def test_3_disk_full(self):
        ballast = os.path.join(self.mail_root, "ballast")

        def inject():
            # Most of it at once (the stream goes on writing meanwhile) ...
            st = os.statvfs(self.mail_root)
            subprocess.run(["fallocate", "-l", str(st.f_bavail * st.f_frsize - (8 << 20)),
                            ballast], check=True, timeout=60)
            # ... and the rest written until the kernel says ENOSPC.
            try:
                with open(ballast + "2", "wb") as f:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            except OSError:  # ENOSPC: full (the open itself may find it so)
                pass

        def remove():
            for p in (ballast, ballast + "2"):
                if os.path.exists(p):
                    os.unlink(p)

        row = self.run_fault("storage node disk full", "diskfull", inject, remove)
        self.assertGreater(row["deferred"], 0, "the full disk never deferred a delivery")

    def test_4_mariadb_stopped(self):
        row = self.run_fault("MariaDB (directory) stopped, restarted", "mariadb",
                             self.mariadb.stop, self.mariadb.restart)
        self.assertGreater(row["during"].get("4xx", 0), 0, "the directory's absence was not heard")

    def test_5_redis_stopped(self):
        row = self.run_fault("Redis (state) stopped, restarted; on_state_error: tempfail",
                             "redis", self.redis.stop, self.redis.restart)
        self.assertGreater(row["during"].get("4xx", 0), 0, "the state's absence was not heard")

    def test_6_redis_stopped_continue(self):
        # Between rows, not during one: the filters restarted on a configuration that says
        # continue (on_state_error is read at start).
        self.policyd.stop()
        self.milter.stop()
        self.write_config(on_state_error="continue")
        self.start_filters()
        offsets = (os.path.getsize(self.milter.log_path), os.path.getsize(self.policyd.log_path))
        row = self.run_fault("Redis (state) stopped, restarted; on_state_error: continue",
                             "continue", self.redis.stop, self.redis.restart)
        # Mail for local users went on without the state: no 4xx from it, and each
        # daemon said it went on without the guard.
        self.assertEqual(row["during"].get("4xx", 0), 0, row)
        for daemon, offset in zip((self.milter, self.policyd), offsets):
            self.assertIn("on_state_error: continue", daemon.output()[offset:])


def print_matrix(rows):
    if not rows:
        return
    head = ["fault", "sent", "2xx", "4xx (codes)", "5xx (on purpose)", "LMTP deferrals",
            "delivered once", "duplicates", "lost", "recovered", "msg/s"]
    lines = []
    for name, r in rows:
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(r["codes"].items(), key=str)
                          if not (isinstance(c, int) and c >= 500))
        lines.append([name, str(r["sent"]), str(r["heard"].get("2xx", 0)),
                      f"{r['heard'].get('4xx', 0)}" + (f" ({codes})" if codes else ""),
                      f"{r['heard'].get('5xx', 0)} ({r['on_purpose']})", str(r["deferred"]),
                      str(r["once"]), str(r["dups"]), str(r["lost"]),
                      "yes" if r["recovered"] else "NO", f"{r['rate']:.0f}"])
    widths = [max(len(head[i]), *(len(l[i]) for l in lines)) for i in range(len(head))]
    fmt = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt(l) for l in lines]
    print("\nfault matrix (" + f"{MESSAGES} messages a fault over {SESSIONS} SMTP sessions, "
          f"1 in {EICAR_EVERY} carrying EICAR and refused on purpose):\n" + "\n".join(out),
          flush=True)


if __name__ == "__main__":
    # A SIGTERM (ctest's timeout, a person) unwinds like an exception, so tearDownClass
    # and the harness's atexit stop every server this test started and unmount the tmpfs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    unittest.main(verbosity=2)
