"""pampero-store (and the milter's socket) against an adversary, each bounded in
connections, bytes and time:

- a client that pipelines commands and never reads its replies is closed after
  store.write_timeout, and SIGTERM stops the store cleanly (not "forced") while such a
  client is still pinning a session;
- unix sockets (LMTP, socketmap, milter) get the configured owner/group/mode, 0660 and
  group postfix by default, never 0666;
- a TCP client outside store.lmtp_clients / store.socketmap_clients is refused (LMTP:
  421 4.7.0), the allowed ones are served;
- a ".Spam" folder or a user's maildir symlinked outside mail_root receives nothing: the
  recipient gets a 4xx and the log names the link;
- big messages are spooled to an unnamed file, not held in memory: 4 sessions holding
  8 MB each at once raise the store's peak RSS by far less than 32 MB, the copies are
  exact (dot-unstuffing, CRLF), the size limit still applies, and nothing is left in tmp/.
"""
import grp
import os
import signal
import socket
import stat
import threading
import time
import unittest

import harness as h


maildir = h.maildir


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key}")


class PeakAnon:
    """The highest RssAnon of a process, sampled every 10 ms while in a `with` block.
    Anonymous memory is what a message held in a string costs; the spool's mapped file
    pages are page cache, which the kernel reclaims under pressure."""

    def __init__(self, pid):
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def _run(self):
        while not self.done.wait(0.01):
            try:
                self.peak = max(self.peak, status_kb(self.pid, "RssAnon"))
            except (OSError, AssertionError):
                return

    def __enter__(self):
        self.base = status_kb(self.pid, "RssAnon")
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(10)


def pin_with_pipelined_noops(port, max_bytes=64 << 20, max_seconds=30.0):
    """Connects with a small receive window and sends LHLO + NOOPs without ever reading,
    until the server has stopped reading too (our sends block for 2 s) or the bounds are
    reached. Returns the socket (still open) and the bytes sent."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    chunk = b"LHLO pin.example\r\n" + b"NOOP\r\n" * 10000
    sent = 0
    blocked_since = None
    deadline = time.monotonic() + max_seconds
    while sent < max_bytes and time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
            blocked_since = None
        except (ConnectionResetError, BrokenPipeError):
            break  # the server gave up on us already
        except BlockingIOError:
            now = time.monotonic()
            blocked_since = blocked_since or now
            if now - blocked_since > 2.0:
                break
            time.sleep(0.05)
    return s, sent


class StoreHardening(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.mail = self.work.join("mail")
        self.stores = []

    def tearDown(self):
        for d in self.stores:
            d.stop()
        self.work.close()

    def start(self, extra_store="", lmtp=None, socketmap=None, wait_port=True):
        self.lmtp_port, self.map_port = h.free_port(), h.free_port()
        self.config = h.store_config(self.work.path, self.lmtp_port, self.map_port, self.mail,
                                     extra_store=extra_store)
        if lmtp or socketmap:
            with open(self.config) as f:
                text = f.read()
            if lmtp:
                text = text.replace(f"lmtp: inet:{self.lmtp_port}@127.0.0.1", f"lmtp: {lmtp}")
            if socketmap:
                text = text.replace(f"socketmap: inet:{self.map_port}@127.0.0.1",
                                    f"socketmap: {socketmap}")
            with open(self.config, "w") as f:
                f.write(text)
        if not os.path.exists(self.work.join("directory.db")):
            h.pamperoctl(self.config, "domain", "add", "example.com")
            h.pamperoctl(self.config, "user", "add", "alice@example.com")
            h.pamperoctl(self.config, "user", "add", "bob@example.com", "--level", "5")
        if wait_port:
            d = h.start_store(self.config, self.lmtp_port, self.work.path)
        else:
            d = h.Daemon([os.path.join(h.BIN, "pampero-store"), "-f", "-c", self.config],
                         self.work.join("store.log"))
        self.stores.append(d)
        return d

    # --- write timeout -------------------------------------------------------------

    def test_client_that_never_reads_is_closed_after_the_write_timeout(self):
        store = self.start("  write_timeout: 2\n")
        s, sent = pin_with_pipelined_noops(self.lmtp_port)
        try:
            self.assertGreater(sent, 0)
            h.wait_until(lambda: "did not read its replies" in store.output(), timeout=30,
                         what="the store closing the session of a client that does not read")
            # The session is gone: once we read, the stream ends (EOF or reset) within
            # what the kernel had buffered, instead of replies going on forever.
            s.setblocking(True)
            s.settimeout(10)
            got = 0
            try:
                while got < (256 << 20):
                    b = s.recv(1 << 20)
                    if not b:
                        break
                    got += len(b)
            except ConnectionResetError:
                pass
            self.assertLess(got, sent // 6 * 14 + 4096)  # fewer replies than commands
        finally:
            s.close()
        # Still serving others.
        c = h.Lmtp(self.lmtp_port)
        _, data = c.deliver("a@other.org", ["alice@example.com"], "Subject: after\n\nok\n")
        self.assertEqual(data[0][0], 250)
        c.close()

    def test_sigterm_stops_cleanly_while_a_client_pins_a_session(self):
        store = self.start()  # write_timeout at its default (300 s), longer than the grace
        s, _ = pin_with_pipelined_noops(self.lmtp_port)
        try:
            store.signal(signal.SIGTERM)
            store.proc.wait(90)  # bounded; the grace is 30 s
        finally:
            s.close()
        out = store.output()
        self.assertIn("stopped", out)
        self.assertNotIn("stopped (forced)", out)
        self.assertNotIn("still busy", out)
        self.assertEqual(store.proc.returncode, 0)

    # --- unix socket access -----------------------------------------------------------

    def wait_socket(self, path, daemon):
        h.wait_until(lambda: os.path.exists(path) or not daemon.alive(), timeout=20,
                     what=f"{path} to appear")
        self.assertTrue(daemon.alive(), daemon.output())
        h.wait_until(lambda: "starting" in daemon.output(), timeout=20, what="start")

    def test_unix_sockets_get_the_configured_owner_group_and_mode(self):
        lmtp, smap = self.work.join("lmtp.sock"), self.work.join("map.sock")
        nogroup = grp.getgrnam("nogroup").gr_gid
        store = self.start("  socket_group: nogroup\n  socket_mode: '0640'\n",
                           lmtp=f"unix:{lmtp}", socketmap=f"unix:{smap}", wait_port=False)
        self.wait_socket(smap, store)
        for p in (lmtp, smap):
            st = os.stat(p)
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(oct(st.st_mode & 0o777), oct(0o640), p)
            self.assertEqual(st.st_gid, nogroup, p)
        # Still reachable by its owner.
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(10)
        c.connect(lmtp)
        self.assertTrue(c.recv(100).startswith(b"220 "))
        c.close()

    def test_unix_socket_defaults_are_0660_group_postfix(self):
        lmtp, smap = self.work.join("lmtp.sock"), self.work.join("map.sock")
        store = self.start(lmtp=f"unix:{lmtp}", socketmap=f"unix:{smap}", wait_port=False)
        self.wait_socket(smap, store)
        postfix = grp.getgrnam("postfix").gr_gid
        for p in (lmtp, smap):
            st = os.stat(p)
            self.assertEqual(oct(st.st_mode & 0o777), oct(0o660), p)  # not 0666
            self.assertEqual(st.st_gid, postfix, p)

    def test_milter_unix_socket_gets_the_configured_group_and_mode(self):
        sock = self.work.join("milter.sock")
        port = h.free_port()
        config = h.write_config(self.work.path, port)
        with open(config) as f:
            text = f.read()
        text = text.replace(f"socket: inet:{port}@127.0.0.1",
                            f"socket: unix:{sock}\n  socket_group: nogroup\n  socket_mode: 0660")
        with open(config, "w") as f:
            f.write(text)
        d = h.Daemon([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", config],
                     self.work.join("milter.log"))
        try:
            # Ready, not merely bound: the socket file exists from bind() on, its group
            # and mode are set just after, and a SIGTERM before the daemon's signal
            # handling is in place would kill it instead of stopping it.
            h.wait_until(lambda: "starting on" in d.output() or not d.alive(), timeout=30,
                         what="the milter to start")
            self.assertTrue(d.alive(), d.output())
            st = os.stat(sock)
            self.assertEqual(oct(st.st_mode & 0o777), oct(0o660))
            self.assertEqual(st.st_gid, grp.getgrnam("nogroup").gr_gid)
        finally:
            self.assertEqual(d.stop(30), 0)

    # --- TCP client lists -------------------------------------------------------------

    def test_tcp_clients_outside_the_allowed_list_are_refused(self):
        store = self.start("  lmtp_clients: [127.0.0.1/32]\n  socketmap_clients: [127.0.0.1/32]\n")

        def from_(addr, port):
            s = socket.socket()
            s.settimeout(10)
            s.bind((addr, 0))
            s.connect(("127.0.0.1", port))
            return s

        s = from_("127.0.0.2", self.lmtp_port)
        data = b""
        while True:
            b = s.recv(1000)
            if not b:
                break
            data += b
        s.close()
        self.assertTrue(data.startswith(b"421 4.7.0 "), data)
        self.assertIn(b"not allowed", data)

        s = from_("127.0.0.2", self.map_port)
        try:
            s.sendall(b"18:domain example.com,")
            self.assertEqual(s.recv(100), b"")  # closed without an answer
        except (ConnectionResetError, BrokenPipeError):
            pass
        s.close()

        s = from_("127.0.0.1", self.map_port)
        s.sendall(b"18:domain example.com,")
        self.assertEqual(s.recv(100), b"14:OK example.com,")
        s.close()
        c = h.Lmtp(self.lmtp_port)
        self.assertEqual(c.greeting[0], 220)
        c.close()
        h.wait_until(lambda: "connection from 127.0.0.2 refused" in store.output(), timeout=10,
                     what="the refusal's log line")

    # --- socketmap cap -------------------------------------------------------------------

    def test_socketmap_cap_is_configurable_and_logged(self):
        store = self.start("  socketmap_sessions: 3\n")
        held = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.map_port), timeout=10)
            s.sendall(b"18:domain example.com,")
            self.assertEqual(s.recv(100), b"14:OK example.com,")
            held.append(s)
        extra = socket.create_connection(("127.0.0.1", self.map_port), timeout=10)
        try:
            extra.sendall(b"18:domain example.com,")
            self.assertEqual(extra.recv(100), b"")  # over the cap: closed
        except (ConnectionResetError, BrokenPipeError):
            pass
        extra.close()
        h.wait_until(lambda: "socketmap: connection limit of 3 reached" in store.output(),
                     timeout=10, what="the cap's log line")
        held.pop().close()
        # A place is free again (the session notices the close within its poll slice).
        def served():
            s = socket.create_connection(("127.0.0.1", self.map_port), timeout=10)
            try:
                s.sendall(b"18:domain example.com,")
                return s.recv(100) == b"14:OK example.com,"
            except OSError:
                return False
            finally:
                s.close()
        h.wait_until(served, timeout=10, what="a freed socketmap place")
        for s in held:
            s.close()

    # --- symlinks out of mail_root ------------------------------------------------------

    def test_spam_folder_symlinked_outside_mail_root_receives_nothing(self):
        store = self.start()
        outside = self.work.join("outside")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(outside, sub))
        bob = maildir(self.mail, "bob@example.com")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(bob, sub))
        os.symlink(outside, os.path.join(bob, ".Spam"))
        alice = maildir(self.mail, "alice@example.com")
        os.makedirs(os.path.dirname(alice), exist_ok=True)
        os.symlink(outside, alice)  # the whole maildir

        c = h.Lmtp(self.lmtp_port)
        # bob's level 5 files a (signed) score of 4.0 into Spam.
        rcpt, data = c.deliver("a@other.org", ["bob@example.com", "alice@example.com"],
                               h.signed_message("spam", "4.0", "buy\n"))
        c.close()
        self.assertEqual([r[0] for r in rcpt], [250, 250])
        self.assertEqual(len(data), 2)
        for code, lines in data:
            self.assertEqual(code // 100, 4, lines)
        # A big message (spooled: store.spool_threshold is 1M) for the linked maildir and
        # a good one: the spool goes elsewhere, the good recipient still gets it.
        c = h.Lmtp(self.lmtp_port)
        rcpt, data = c.deliver("a@other.org", ["alice@example.com", "bob@example.com"],
                               "Subject: big\n\n" + ("y" * 998 + "\n") * 2048)
        c.close()
        self.assertEqual([d[0] // 100 for d in data], [4, 2], data)
        self.assertEqual(len(h.maildir_messages(bob)), 1)
        self.assertEqual(os.listdir(os.path.join(bob, "tmp")), [])
        for sub in ("cur", "new", "tmp"):
            self.assertEqual(os.listdir(os.path.join(outside, sub)), [], sub)
        out = store.output()
        self.assertIn(".Spam: symbolic link below mail_root, refused", out)
        self.assertIn("alice: symbolic link below mail_root, refused", out)

    # --- spooling big messages ----------------------------------------------------------

    def test_big_messages_are_spooled_not_held_in_memory(self):
        store = self.start("  spool_threshold: 64K\n  message_size_limit: 12M\n")
        size, sessions = 8 << 20, 4
        line = "." + "x" * 98 + "\n"  # every line dot-stuffed on the wire
        body = "Subject: big\n\n" + line * (size // len(line))
        wire = body.replace("\n", "\r\n").replace("\r\n.", "\r\n..").encode()

        warm = h.Lmtp(self.lmtp_port)
        self.assertEqual(warm.deliver("a@other.org", ["alice@example.com"], "Subject: w\n\nw\n")[1][0][0], 250)
        warm.close()
        sampler = PeakAnon(store.pid).__enter__()
        clients = [h.Lmtp(self.lmtp_port) for _ in range(sessions)]
        for c in clients:
            self.assertEqual(c.cmd("LHLO x")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@other.org>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@example.com>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
        errors = []

        def send(c):
            try:
                c.send(wire)
            except OSError as e:
                errors.append(e)

        threads = [threading.Thread(target=send, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        # Every session now holds its whole message, undelivered: then end them all.
        for c in clients:
            c.send(".\r\n")
        for c in clients:
            self.assertEqual(c.reply()[0], 250)
            c.close()
        sampler.__exit__()
        grew_mb = (sampler.peak - sampler.base) / 1024
        print(f"peak anonymous RSS growth with {sessions} x {size >> 20} MB in DATA at once: "
              f"{grew_mb:.1f} MB")
        self.assertLess(grew_mb, 16, "the messages were held in memory")

        inbox = h.maildir_messages(maildir(self.mail, "alice@example.com"))
        big = [m for m in inbox if "Subject: big" in m]
        self.assertEqual(len(big), sessions)
        for m in big:
            self.assertTrue(m.endswith(body), len(m))  # unstuffed, LF: as sent
        # Over the limit while spooling: still 552, nothing left behind.
        c = h.Lmtp(self.lmtp_port)
        c.cmd("LHLO x")
        c.cmd("MAIL FROM:<a@other.org>")
        c.cmd("RCPT TO:<alice@example.com>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: huge\r\n\r\n" + b"y" * 998 + b"\r\n" * 1 + (b"z" * 998 + b"\r\n") * (13 << 10))
        c.send(".\r\n")
        self.assertEqual(c.reply()[0], 552)
        # A client that vanishes in the middle of a spooled DATA leaves nothing either.
        self.assertEqual(c.cmd("MAIL FROM:<a@other.org>")[0], 250)
        c.cmd("RCPT TO:<alice@example.com>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: cut\r\n\r\n" + (b"z" * 998 + b"\r\n") * 1024)
        c.close()
        h.wait_until(lambda: "connection lost during DATA" in store.output(), timeout=20,
                     what="the store noticing the disconnect")
        self.assertEqual(len(h.maildir_messages(maildir(self.mail, "alice@example.com"))),
                         sessions + 1)
        self.assertEqual(os.listdir(os.path.join(maildir(self.mail, "alice@example.com"), "tmp")), [])
        spool = os.path.join(self.mail, ".spool")
        self.assertEqual(os.listdir(spool) if os.path.isdir(spool) else [], [])


if __name__ == "__main__":
    unittest.main()
