"""pampero-store speaking LMTP and socketmap as Postfix does: deliveries with one reply per
recipient after DATA, pipelined sessions, garbage and over-long input answered with the
protocol's codes while the server keeps serving, size limits, the unix socket, SIGHUP
reload, SIGTERM stop, and the socketmap's netstrings including malformed ones."""
import os
import signal
import socket
import subprocess
import unittest

import harness as h


maildir = h.maildir


class StoreLmtp(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.lmtp_port, self.map_port = h.free_port(), h.free_port()
        self.mail = self.work.join("mail")
        self.config = h.store_config(self.work.path, self.lmtp_port, self.map_port, self.mail,
                                     extra_store="  message_size_limit: 20000\n")
        h.pamperoctl(self.config, "domain", "add", "example.com")
        h.pamperoctl(self.config, "user", "add", "alice@example.com")
        h.pamperoctl(self.config, "user", "add", "bob@example.com", "--level", "5")
        h.pamperoctl(self.config, "alias", "add", "team@example.com", "alice@example.com")
        self.store = h.start_store(self.config, self.lmtp_port, self.work.path)

    def tearDown(self):
        self.store.stop()
        self.work.close()

    def test_delivery_one_reply_per_recipient_and_folders(self):
        c = h.Lmtp(self.lmtp_port)
        self.assertEqual(c.greeting[0], 220)
        code, ext = c.cmd("LHLO mx.example")
        self.assertEqual(code, 250)
        for e in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 20000"):
            self.assertIn(e, ext)
        msg = h.signed_message("hello", "4.0", ".a line with a leading dot\nbody\n")
        rcpt, data = c.deliver("sender@other.org",
                               ["alice@example.com", "ghost@example.com", "bob@example.com",
                                "x@not-ours.org", "team@example.com"], msg, lhlo=False)
        self.assertEqual([r[0] for r in rcpt], [250, 550, 250, 550, 250])
        self.assertTrue(rcpt[1][1][0].startswith("5.1.1"), rcpt[1])
        self.assertEqual(len(data), 3)  # one reply per accepted recipient, in order
        self.assertTrue(all(d[0] == 250 for d in data), data)
        self.assertIn("INBOX", data[0][1][0])
        self.assertIn("Spam", data[1][1][0])  # bob's level 5 has tag 3.0
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        inbox = h.maildir_messages(maildir(self.mail, "alice@example.com"))
        self.assertEqual(len(inbox), 2)  # direct and through the alias
        self.assertTrue(inbox[0].startswith("Return-Path: <sender@other.org>\nDelivered-To: "))
        self.assertIn("\n.a line with a leading dot\n", inbox[0])
        self.assertEqual(h.maildir_messages(maildir(self.mail, "bob@example.com")), [])
        self.assertEqual(len(h.maildir_messages(maildir(self.mail, "bob@example.com", "Spam"))), 1)
        with open(os.path.join(maildir(self.mail, "bob@example.com"), "subscriptions")) as f:
            self.assertEqual(f.read(), "Spam\n")
        for who in ("alice@example.com", "bob@example.com"):
            self.assertEqual(os.listdir(os.path.join(maildir(self.mail, who), "tmp")), [])

    def test_pipelined_session(self):
        c = h.Lmtp(self.lmtp_port)
        # Everything in one write, as a pipelining client may send it.
        c.send("LHLO mx.example\r\nMAIL FROM:<a@other.org>\r\nRCPT TO:<alice@example.com>\r\n"
               "RCPT TO:<nobody@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
               "Subject: piped\r\n\r\none\r\n.\r\n"
               "MAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSubject: second\r\n\r\ntwo\r\n.\r\n"
               "RSET\r\nNOOP\r\nQUIT\r\n")
        codes = [c.reply()[0] for _ in range(14)]
        self.assertEqual(codes, [250, 250, 250, 550, 250, 354, 250, 250,
                                 250, 250, 354, 250, 250, 250])
        self.assertEqual(c.reply()[0], 221)
        c.close()
        inbox = h.maildir_messages(maildir(self.mail, "alice@example.com"))
        self.assertEqual(len(inbox), 2)
        self.assertTrue(any("Return-Path: <>\n" in m and "two\n" in m for m in inbox))

    def test_garbage_gets_protocol_errors_and_the_server_keeps_serving(self):
        c = h.Lmtp(self.lmtp_port)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.org>")[0], 503)  # LHLO first
        self.assertEqual(c.cmd("HELO x")[0], 500)
        self.assertEqual(c.cmd("EHLO x")[0], 500)
        self.assertEqual(c.cmd("LHLO")[0], 501)
        self.assertEqual(c.cmd("LHLO x")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.com>")[0], 503)  # no MAIL
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:bare@address")[0], 501)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.org> FROB=1")[0], 555)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.org>")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.org>")[0], 503)  # nested
        self.assertEqual(c.cmd("RCPT TO:<>")[0], 501)
        self.assertEqual(c.cmd("RCPT TO:<a/../../b@example.com>")[0], 501)
        self.assertEqual(c.cmd("DATA")[0], 503)  # no valid recipient (RFC 2033 4.2)
        code, lines = c.cmd("X" * 5000)
        self.assertEqual((code, lines[0][:5]), (500, "5.5.2"))
        c.send(b"\x00\x01\x02\xff\xfe binary junk\r\n")
        self.assertEqual(c.reply()[0], 500)
        self.assertEqual(c.cmd("GET / HTTP/1.1")[0], 500)
        # Still in the same transaction, still serving.
        self.assertEqual(c.cmd("RCPT TO:<alice@example.com>")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        # A client that sends junk and vanishes does not hurt anyone.
        s = socket.create_connection(("127.0.0.1", self.lmtp_port))
        s.sendall(os.urandom(70000))
        s.close()
        c = h.Lmtp(self.lmtp_port)
        rcpt, data = c.deliver("a@other.org", ["alice@example.com"], "Subject: after junk\n\nok\n")
        self.assertEqual(data[0][0], 250)
        c.close()
        self.assertTrue(self.store.alive())

    def test_concurrent_first_deliveries_to_a_new_mailbox(self):
        # 20 sessions racing to create the same maildir (and its maildirsize) all succeed.
        import threading
        h.pamperoctl(self.config, "user", "add", "fresh@example.com")
        results, lock = [], threading.Lock()

        def one(i):
            c = h.Lmtp(self.lmtp_port)
            try:
                _, data = c.deliver("a@other.org", ["fresh@example.com"], f"Subject: race {i}\n\nx\n")
                with lock:
                    results.append(data[0][0])
            finally:
                c.close()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(results, [250] * 20)
        self.assertEqual(len(h.maildir_messages(maildir(self.mail, "fresh@example.com"))), 20)

    def test_too_many_errors_closes_with_421(self):
        c = h.Lmtp(self.lmtp_port)
        c.send("BAD\r\n" * 150)
        codes = []
        try:
            while True:
                codes.append(c.reply()[0])
        except (EOFError, ConnectionResetError):
            pass
        self.assertEqual(codes[-1], 421)
        self.assertTrue(all(code == 500 for code in codes[:-1]))
        self.assertLess(len(codes), 150)
        c.close()

    def test_size_limits(self):
        c = h.Lmtp(self.lmtp_port)
        self.assertEqual(c.cmd("LHLO x")[0], 250)
        code, lines = c.cmd("MAIL FROM:<a@other.org> SIZE=20001")
        self.assertEqual((code, lines[0][:5]), (552, "5.3.4"))
        # A message larger than announced (or announced nothing) is read to its end and
        # refused for each recipient; the session goes on.
        rcpt, data = c.deliver("a@other.org", ["alice@example.com", "bob@example.com"],
                               "Subject: big\n\n" + ("x" * 99 + "\n") * 300, lhlo=False)
        self.assertEqual([d[0] for d in data], [552, 552])
        self.assertTrue(data[0][1][0].startswith("5.3.4"))
        rcpt, data = c.deliver("a@other.org", ["alice@example.com"], "Subject: small\n\nok\n", lhlo=False)
        self.assertEqual(data[0][0], 250)
        c.close()
        inbox = h.maildir_messages(maildir(self.mail, "alice@example.com"))
        self.assertEqual(len(inbox), 1)
        self.assertIn("Subject: small", inbox[0])

    def test_quota_refusal_codes(self):
        h.pamperoctl(self.config, "user", "add", "tiny@example.com", "--quota", "300")
        c = h.Lmtp(self.lmtp_port)
        # MAIL's SIZE= already tells at RCPT that the message cannot fit.
        self.assertEqual(c.cmd("LHLO x")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@other.org> SIZE=301")[0], 250)
        code, lines = c.cmd("RCPT TO:<tiny@example.com>")
        self.assertEqual((code, lines[0][:5]), (552, "5.2.2"))
        self.assertEqual(c.cmd("RSET")[0], 250)
        rcpt, data = c.deliver("a@other.org", ["tiny@example.com"], "Subject: 1\n\n" + "x" * 100 + "\n",
                               lhlo=False)
        self.assertEqual(data[0][0], 250)
        rcpt, data = c.deliver("a@other.org", ["tiny@example.com"], "Subject: 2\n\n" + "y" * 200 + "\n",
                               lhlo=False)
        self.assertEqual(data[0][0], 552)
        self.assertTrue(data[0][1][0].startswith("5.2.2"))
        c.close()
        root = maildir(self.mail, "tiny@example.com")
        with open(os.path.join(root, "maildirsize")) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "300S")
        self.assertEqual(sum(int(l.split()[0]) for l in lines[1:]),
                         sum(os.path.getsize(os.path.join(root, "new", n)) for n in os.listdir(os.path.join(root, "new"))))

    def test_unix_socket_reload_and_stop(self):
        self.store.stop()
        sock = self.work.join("lmtp.sock")
        with open(self.config) as f:
            text = f.read()
        text = text.replace(f"lmtp: inet:{self.lmtp_port}@127.0.0.1", f"lmtp: unix:{sock}")
        with open(self.config, "w") as f:
            f.write(text)
        self.store = h.Daemon([os.path.join(h.BIN, "pampero-store"), "-f", "-c", self.config],
                              self.work.join("store2.log"))
        h.wait_until(lambda: os.path.exists(sock), what="the LMTP socket")
        h.wait_for_port(self.map_port, proc=self.store.proc)

        def deliver_unix(subject):
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            c = h.Lmtp.__new__(h.Lmtp)
            c.sock, c.buf = s, b""
            c.greeting = c.reply()
            rcpt, data = c.deliver("a@other.org", ["bob@example.com"],
                                   h.signed_message(subject, "4.0", "x\n"))
            c.close()
            return data[0]

        self.assertEqual(deliver_unix("before")[0], 250)
        self.assertEqual(len(h.maildir_messages(maildir(self.mail, "bob@example.com", "Spam"))), 1)
        # SIGHUP: a new spam folder name applies to the next message.
        with open(self.config, "a") as f:
            f.write("  spam_folder: Junk\n")
        self.store.signal(signal.SIGHUP)
        h.wait_until(lambda: "reloaded" in self.store.output(), what="the reload")
        self.assertEqual(deliver_unix("after")[0], 250)
        self.assertEqual(len(h.maildir_messages(maildir(self.mail, "bob@example.com", "Junk"))), 1)
        # A broken file is refused and the running configuration keeps serving.
        with open(self.config, "a") as f:
            f.write("  bogus_key: 1\n")
        self.store.signal(signal.SIGHUP)
        h.wait_until(lambda: "reload refused" in self.store.output(), what="the refused reload")
        self.assertIn("bogus_key", self.store.output())
        self.assertEqual(deliver_unix("still")[0], 250)
        self.assertEqual(len(h.maildir_messages(maildir(self.mail, "bob@example.com", "Junk"))), 2)
        self.assertEqual(self.store.stop(), 0)  # SIGTERM: graceful, exit 0

    def test_sigterm_lets_a_transaction_finish_and_tells_idle_sessions_421(self):
        idle = h.Lmtp(self.lmtp_port)
        self.assertEqual(idle.cmd("LHLO idle")[0], 250)
        busy = h.Lmtp(self.lmtp_port)
        self.assertEqual(busy.cmd("LHLO busy")[0], 250)
        self.assertEqual(busy.cmd("MAIL FROM:<a@other.org>")[0], 250)
        self.assertEqual(busy.cmd("RCPT TO:<alice@example.com>")[0], 250)
        self.store.signal(signal.SIGTERM)
        code, lines = idle.reply()  # the idle session is told, unasked
        self.assertEqual((code, lines[0][:5]), (421, "4.3.2"))
        h.wait_until(lambda: "stopping on signal" in self.store.output(), what="the stop")
        self.assertTrue(self.store.alive())  # still finishing the transaction
        self.assertEqual(busy.cmd("DATA")[0], 354)
        busy.send("Subject: in flight\r\n\r\nx\r\n.\r\n")
        self.assertEqual(busy.reply()[0], 250)
        self.assertEqual(busy.reply()[0], 421)  # transaction done: now it is closed too
        idle.close()
        busy.close()
        self.assertEqual(self.store.proc.wait(30), 0)
        inbox = h.maildir_messages(maildir(self.mail, "alice@example.com"))
        self.assertEqual(len(inbox), 1)
        self.assertIn("Subject: in flight", inbox[0])

    def test_bad_configuration_and_version(self):
        bad = self.work.join("bad.yaml")
        with open(bad, "w") as f:
            f.write("levels: levels.yaml\nstore:\n  lmtp: tcp:24\n")
        p = subprocess.run([os.path.join(h.BIN, "pampero-store"), "-f", "-c", bad],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 78)
        self.assertIn("bad.yaml", p.stderr)
        self.assertIn("tcp:24", p.stderr)
        p = subprocess.run([os.path.join(h.BIN, "pampero-store"), "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"pampero-store \d+\.\d+")


class StoreSocketmap(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.lmtp_port, self.map_port, self.n2 = h.free_port(), h.free_port(), h.free_port()
        self.config = h.store_config(self.work.path, self.lmtp_port, self.map_port, self.work.join("mail"),
                                     nodes={"n2": self.n2})
        h.pamperoctl(self.config, "domain", "add", "example.com")
        h.pamperoctl(self.config, "user", "add", "alice@example.com")
        h.pamperoctl(self.config, "user", "add", "bob@example.com", "--node", "n2")
        h.pamperoctl(self.config, "alias", "add", "team@example.com", "alice@example.com")
        self.store = h.start_store(self.config, self.lmtp_port, self.work.path)

    def tearDown(self):
        self.store.stop()
        self.work.close()

    @staticmethod
    def ns(s):
        b = s.encode()
        return str(len(b)).encode() + b":" + b + b","

    def read_ns(self, sock, buf=b""):
        while b":" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise EOFError
            buf += chunk
        n, rest = buf.split(b":", 1)
        while len(rest) < int(n) + 1:
            chunk = sock.recv(4096)
            if not chunk:
                raise EOFError
            rest += chunk
        self.assertEqual(rest[int(n):int(n) + 1], b",")
        return rest[:int(n)].decode(), rest[int(n) + 1:]

    def test_maps_pipelined_on_one_connection(self):
        s = socket.create_connection(("127.0.0.1", self.map_port), timeout=10)
        reqs = [("domain example.com", "OK example.com"), ("domain other.org", "NOTFOUND "),
                ("mailbox alice@example.com", "OK example.com/alice/"),
                ("mailbox ghost@example.com", "NOTFOUND "), ("mailbox @example.com", "NOTFOUND "),
                ("alias team@example.com", "OK alice@example.com"),
                ("transport alice@example.com", f"OK lmtp:inet:127.0.0.1:{self.lmtp_port}"),
                ("transport bob@example.com", f"OK lmtp:inet:127.0.0.1:{self.n2}"),
                ("nosuchmap key", "PERM unknown map 'nosuchmap'"),
                ("garbage", "PERM malformed request: expected 'NAME KEY'")]
        s.sendall(b"".join(self.ns(q) for q, _ in reqs))
        buf = b""
        for q, want in reqs:
            got, buf = self.read_ns(s, buf)
            self.assertEqual(got, want, q)
        s.close()

    def test_malformed_netstrings_get_perm_and_the_server_keeps_serving(self):
        for junk in (b"abc:def,", b"5:hello;", b"99999999999:", b"200000:" + b"x" * 10, b"05:hello,"):
            s = socket.create_connection(("127.0.0.1", self.map_port), timeout=10)
            s.sendall(junk)
            got, _ = self.read_ns(s)
            self.assertTrue(got.startswith("PERM "), (junk, got))
            self.assertEqual(s.recv(100), b"")  # closed: the stream cannot be resynchronized
            s.close()
        s = socket.create_connection(("127.0.0.1", self.map_port), timeout=10)
        s.sendall(self.ns("mailbox alice@example.com"))
        self.assertEqual(self.read_ns(s)[0], "OK example.com/alice/")
        s.close()

    def test_postmap_queries_through_postfix_client(self):
        # Postfix's own socketmap client, as virtual_mailbox_maps would use it.
        etc = self.work.join("postfix-etc")
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")

        def q(key, name):
            p = subprocess.run(["postmap", "-c", etc, "-q", key,
                                f"socketmap:inet:127.0.0.1:{self.map_port}:{name}"],
                               capture_output=True, text=True, timeout=30)
            return p.returncode, p.stdout.strip()
        self.assertEqual(q("alice@example.com", "mailbox"), (0, "example.com/alice/"))
        self.assertEqual(q("ghost@example.com", "mailbox")[0], 1)  # not found
        self.assertEqual(q("team@example.com", "alias"), (0, "alice@example.com"))
        self.assertEqual(q("bob@example.com", "transport"), (0, f"lmtp:inet:127.0.0.1:{self.n2}"))


if __name__ == "__main__":
    unittest.main()
