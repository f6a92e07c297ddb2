"""pampero-milter as a daemon: refuses a bad configuration naming file and line, reloads
rules on SIGHUP, keeps the old rules when the new ones are broken, stops on SIGTERM,
and answers garbage on its socket without falling over."""
import os
import signal
import socket
import struct
import subprocess
import time
import unittest

import harness as h

EXTRA_RULE = """rules:
  - name: RELOADED_RULE
    target: body
    regex: 'PAMPERO-RELOAD-MARKER'
    score: 1000
"""


class MilterLifecycle(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.port = h.free_port()
        self.config = h.write_config(self.work.path, self.port)
        h.pamperoctl(self.config, "domain", "add", "demo.test")
        h.pamperoctl(self.config, "user", "add", "alice@demo.test")
        self.milter = None
        self.postfix = None

    def tearDown(self):
        if self.postfix:
            self.postfix.stop()
        if self.milter:
            self.milter.stop()
        self.work.close()

    def test_bad_configuration_refuses_to_start(self):
        with open(self.config, "a") as f:
            f.write("unknwon_key: 1\n")
        p = subprocess.run([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", self.config],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 78)
        self.assertRegex(p.stderr, rf"{self.config}:\d+: unknown key 'unknwon_key'")

    def test_bad_rule_file_refuses_to_start(self):
        with open(os.path.join(self.work.path, "rules.d", "99-bad.yaml"), "w") as f:
            f.write("rules:\n  - name: BAD\n    target: body\n    regex: '(('\n    score: 1\n")
        p = subprocess.run([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", self.config],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 78)
        self.assertIn("99-bad.yaml:4: rule BAD: bad regex", p.stderr)

    def test_version_and_help(self):
        p = subprocess.run([os.path.join(h.BIN, "pampero-milter"), "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"pampero-milter \d+\.\d+")
        p = subprocess.run([os.path.join(h.BIN, "pampero-milter"), "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("-c", p.stdout)
        self.assertIn("-f", p.stdout)

    def send_marker(self, ip):
        with self.postfix.smtp(ip) as s:
            return h.send(s, "a@example.org", ["alice@demo.test"],
                          h.message("a@example.org", ["alice@demo.test"], body="PAMPERO-RELOAD-MARKER\n"))[1]

    def test_sighup_reloads_and_a_broken_reload_keeps_the_old_rules(self):
        self.milter = h.start_milter(self.config, self.port, self.work.path)
        self.postfix = h.Postfix(self.work.path, main_cf=f"smtpd_milters = inet:127.0.0.1:{self.port}\n",
                                 domains=["demo.test"], mailboxes=["alice@demo.test"])
        self.assertEqual(self.send_marker("127.0.0.40")[0], 250)
        with open(os.path.join(self.work.path, "rules.d", "50-reload.yaml"), "w") as f:
            f.write(EXTRA_RULE)
        self.milter.signal(signal.SIGHUP)
        h.wait_until(lambda: "reloaded:" in self.milter.output(), what="the reload")
        self.assertEqual(self.send_marker("127.0.0.41")[0], 550)
        with open(os.path.join(self.work.path, "rules.d", "60-broken.yaml"), "w") as f:
            f.write("rules:\n  - name: BROKEN\n    target: nowhere\n")
        self.milter.signal(signal.SIGHUP)
        h.wait_until(lambda: "reload refused" in self.milter.output(), what="the refused reload")
        self.assertRegex(self.milter.output(), r"60-broken.yaml:\d+: rule BROKEN")
        self.assertTrue(self.milter.alive())
        self.assertEqual(self.send_marker("127.0.0.42")[0], 550)  # old set still serving
        self.assertEqual(self.milter.stop(), 0)  # SIGTERM: clean exit
        self.milter = None

    def test_garbage_on_the_milter_socket_does_not_kill_it(self):
        self.milter = h.start_milter(self.config, self.port, self.work.path)
        payloads = [b"\x00\x00\x00\x05Xjunk", b"GET / HTTP/1.0\r\n\r\n", b"\xff\xff\xff\xff" + b"A" * 64,
                    struct.pack(">I", 1) + b"O", b""]
        for p in payloads:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                # The milter may hang up as soon as it has read the junk: that is an answer too.
                try:
                    s.sendall(p)
                    s.shutdown(socket.SHUT_WR)
                    s.recv(4096)
                except OSError:
                    pass
        time.sleep(0.2)
        self.assertTrue(self.milter.alive(), self.milter.output())
        # And it still serves a real MTA.
        self.postfix = h.Postfix(self.work.path, main_cf=f"smtpd_milters = inet:127.0.0.1:{self.port}\n",
                                 domains=["demo.test"], mailboxes=["alice@demo.test"])
        with self.postfix.smtp("127.0.0.43") as s:
            s.mail("a@example.org")
            self.assertEqual(s.rcpt("nobody@demo.test")[0], 550)

    def test_an_oversized_packet_closes_that_connection_only(self):
        """A peer that negotiates, then announces a packet above the 1 MiB bound, gets 't'
        and is closed, with one log line; a Postfix session open meanwhile still delivers."""
        self.milter = h.start_milter(self.config, self.port, self.work.path)
        self.postfix = h.Postfix(self.work.path, main_cf=f"smtpd_milters = inet:127.0.0.1:{self.port}\n",
                                 domains=["demo.test"], mailboxes=["alice@demo.test"])
        with self.postfix.smtp("127.0.0.44") as s:
            self.assertEqual(s.mail("a@example.org")[0], 250)
            self.assertEqual(s.rcpt("alice@demo.test")[0], 250)
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as bad:
                bad.sendall(struct.pack(">IcIII", 13, b"O", 6, 0x1FF, 0x1FFFFF))
                reply = b""
                while len(reply) < 17:
                    chunk = bad.recv(17 - len(reply))
                    self.assertTrue(chunk, "no option negotiation reply")
                    reply += chunk
                self.assertEqual(reply[4:5], b"O")
                bad.sendall(struct.pack(">I", 2 * 1024 * 1024) + b"B" + b"x" * 1024)
                rest = b""
                while True:
                    chunk = bad.recv(4096)
                    if not chunk:
                        break
                    rest += chunk
                self.assertEqual(rest, struct.pack(">I", 1) + b"t")
            self.assertEqual(s.data(h.message("a@example.org", ["alice@demo.test"]).encode())[0], 250)
        self.assertRegex(self.milter.output(), r"conn-\w+: milter protocol error: packet length above the bound")
        self.assertTrue(self.milter.alive())


    def test_sigterm_lets_a_transaction_finish_and_closes_idle_connections(self):
        """SIGTERM: no new connections, an idle connection is closed at once, a connection
        inside a transaction (MAIL seen) still gets its answers up to end of message, then
        the milter exits 0. Spoken as a raw milter peer, so each step is observable."""
        self.milter = h.start_milter(self.config, self.port, self.work.path)
        busy = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        idle = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        half = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        connect = h.milter_packet(b"C", b"client.example\x004" + struct.pack(">H", 4242) + b"127.0.0.46\x00")
        mail = h.milter_packet(b"M", b"<a@example.org>\x00")
        try:
            h.milter_negotiate(idle)
            h.milter_negotiate(half)
            _version, _actions, protocol = struct.unpack(">III", h.milter_negotiate(busy)[:12])
            # NOHELO, NODATA and NR_MAIL: HELO and DATA are not sent, MAIL gets no reply.
            self.assertEqual(protocol & 0x4202, 0x4202, hex(protocol))
            for s in (busy, half):
                s.sendall(connect)
                self.assertEqual(h.read_milter_packet(s)[0], b"c")
            busy.sendall(mail)
            # MAIL is not answered, so the MTA may be anywhere inside sending it when the
            # signal lands: half of it sent must count as a transaction, not as idle.
            half.sendall(mail[:7])

            self.milter.signal(signal.SIGTERM)
            # The idle connection is closed, not left waiting for a transaction.
            self.assertEqual(h.read_milter_packet(idle), (None, b""))
            half.sendall(mail[7:] + h.milter_packet(b"R", b"<nobody@demo.test>\x00"))
            cmd, data = h.read_milter_packet(half)
            self.assertEqual(cmd, b"y", "the half-sent transaction was cut off")
            self.assertTrue(data.startswith(b"550 5.1.1"), data)
            # Aborted, that transaction is over: the connection is closed as idle.
            half.sendall(h.milter_packet(b"A"))
            self.assertEqual(h.read_milter_packet(half), (None, b""))
            # The transaction goes on: a known recipient passes, an unknown one is refused
            # (the session still decides), and the end of message gets its verdict.
            busy.sendall(h.milter_packet(b"R", b"<nobody@demo.test>\x00"))
            cmd, data = h.read_milter_packet(busy)
            self.assertEqual(cmd, b"y")
            self.assertTrue(data.startswith(b"550 5.1.1"), data)
            busy.sendall(h.milter_packet(b"R", b"<alice@demo.test>\x00"))
            self.assertEqual(h.read_milter_packet(busy)[0], b"c")
            # DATA was negotiated away (NODATA); a peer that sends it anyway is answered.
            busy.sendall(h.milter_packet(b"T"))
            self.assertEqual(h.read_milter_packet(busy)[0], b"c")
            # Headers and body get no reply (NR_HDR, NR_BODY, NR_EOH negotiated).
            seen = h.milter_message(busy, b"drain")
            self.assertEqual(seen[-1], b"c", seen)
            self.assertIn(b"h", seen, "the X-Spam headers were not added")
            # Done: the connection is closed and the process ends cleanly.
            self.assertEqual(h.read_milter_packet(busy), (None, b""))
            self.milter.proc.wait(15)
            self.assertEqual(self.milter.proc.returncode, 0, self.milter.output())
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
        finally:
            busy.close()
            idle.close()
            half.close()

if __name__ == "__main__":
    unittest.main(verbosity=2)
