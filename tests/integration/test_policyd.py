"""pampero-policyd behind a real Postfix (check_policy_service in
smtpd_recipient_restrictions and smtpd_end_of_data_restrictions, as the shipped
conf/postfix/main.cf.policyd), with Dovecot SASL for authenticated relaying:

- the open-relay test: relaying to a foreign domain from a spread of 127.x addresses,
  without SASL and without a RADIUS session, is refused 554 5.7.1, every one;
- a SASL user relays; a local recipient is left to Postfix (DUNNO);
- rate limits defer (450 4.7.1, naming the limit) at the limit and not before:
  recipients_per_message at RCPT, messages_per_hour counted at END-OF-MESSAGE;
- unknown local users are counted and the client banned (421) by the guard's keys;
- malformed requests spoken directly to the daemon get DEFER_IF_PERMIT naming the
  problem, and the same connection (and others) go on being served;
- the directory failing: the daemon closes the connection unanswered, Postfix says
  451 4.3.5 (the state backend is memory, which cannot fail from outside the process:
  its failure is covered by the unit tests, policy/decision_test.cpp).
A ban set by pampero-milter and honoured by pampero-policyd needs a state both processes
see: at the library level here (Decide.BansAreTheGuardsKeys: the milter's Guard and the
policy Engine on one State), and across processes on one Redis in test_redis_state.py.
"""
import os
import re
import signal
import socket
import time
import unittest

import harness as h
from test_milter_sasl import DovecotAuth

DOMAIN = "example.org"
FOREIGN = "example.net"
SNIPPET = os.path.join(h.SOURCE, "conf", "postfix", "main.cf.policyd")


LIMITS = "  messages_per_hour: 2\n  recipients_per_hour: 50\n  recipients_per_message: 3\n"


def policyd_config(workdir, port, limits=LIMITS, guard=None):
    extra = f"policyd:\n  socket: inet:{port}@127.0.0.1\n  timeout: 60\nratelimit:\n{limits}"
    return h.write_config(workdir, h.free_port(), extra=extra, guard=guard)


def start_policyd(config, port, workdir, name="policyd"):
    d = h.Daemon([os.path.join(h.BIN, "pampero-policyd"), "-f", "-d", "-c", config],
                 os.path.join(workdir, f"{name}.log"))
    h.wait_for_port(port, proc=d.proc, logs=[d.log_path])
    return d


def postfix_main_cf(port, sasl_socket=None):
    """The shipped snippet with the test's port; discard instead of real delivery abroad."""
    with open(SNIPPET) as f:
        text = f.read()
    assert "inet:127.0.0.1:10031" in text, "the shipped snippet no longer names the default socket"
    text = text.replace("inet:127.0.0.1:10031", f"inet:127.0.0.1:{port}")
    # The instance's mynetworks (TEST-NET-1) stays: no 127.x client is in it.
    text = text.replace("mynetworks_style = host\n", "")
    text += "\ndefault_transport = discard\nrelay_transport = discard\n"
    if sasl_socket:
        text += ("smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\n"
                 f"smtpd_sasl_path = {sasl_socket}\n")
    return text


def policy_request(**attrs):
    base = {"request": "smtpd_access_policy", "protocol_state": "RCPT",
            "client_address": "192.0.2.50", "instance": "i1", "sasl_username": ""}
    base.update(attrs)
    return "".join(f"{k}={v}\n" for k, v in base.items()) + "\n"


def read_reply(sock):
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = sock.recv(4096)
        if not chunk:
            return None  # closed without an answer
        data += chunk
    return data.decode()


class PolicydBehindPostfix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.port = h.free_port()
        cls.config = policyd_config(w, cls.port, guard={"unknown_limit": 3})
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        h.pamperoctl(cls.config, "user", "add", f"alice@{DOMAIN}")
        cls.policyd = start_policyd(cls.config, cls.port, w)
        cls.dovecot = DovecotAuth(w, {f"{u}@{DOMAIN}": "secret" for u in ("alice", "rcpt", "msgs")})
        cls.postfix = h.Postfix(w, main_cf=postfix_main_cf(cls.port, cls.dovecot.socket),
                                domains=[DOMAIN], mailboxes=[f"alice@{DOMAIN}"])

    @classmethod
    def tearDownClass(cls):
        for name in ("postfix", "dovecot", "policyd"):
            if hasattr(cls, name):
                getattr(cls, name).stop()
        cls.work.close()

    def test_open_relay_is_refused_from_every_address(self):
        addresses = [f"127.{a}.{b}.{c}" for a, b, c in
                     [(0, 0, 2), (0, 1, 1), (1, 2, 3), (7, 7, 7), (10, 0, 1), (31, 200, 9),
                      (64, 64, 64), (99, 1, 254), (127, 0, 1), (128, 9, 9), (160, 3, 4),
                      (192, 168, 1), (200, 100, 50), (222, 2, 22), (250, 250, 250), (254, 0, 2)]]
        for ip in addresses:
            with self.postfix.smtp(ip) as s:
                s.mail(f"someone@{FOREIGN}")
                code, text = s.rcpt(f"victim@{FOREIGN}")
                self.assertEqual(code, 554, f"{ip}: {code} {text}")
                self.assertIn(b"5.7.1", text, ip)
                self.assertIn(b"Relay access denied", text, ip)
        log = self.policyd.output()
        for ip in addresses:
            self.assertIn(f"client {ip} relay to <victim@{FOREIGN}> denied", log)

    def test_sasl_user_relays_and_local_mail_is_left_to_postfix(self):
        with self.postfix.smtp("127.0.3.1") as s:
            s.login(f"alice@{DOMAIN}", "secret")
            rcpt, data = h.send(s, f"alice@{DOMAIN}", [f"friend@{FOREIGN}"],
                                h.message(f"alice@{DOMAIN}", [f"friend@{FOREIGN}"]))
        self.assertEqual(rcpt, [(250, rcpt[0][1])])
        self.assertEqual(data[0], 250, data)
        self.assertIn(f"user:alice@{DOMAIN} may relay to <friend@{FOREIGN}>", self.policyd.output())
        with self.postfix.smtp("127.0.3.2") as s:  # no login, local recipient: DUNNO
            rcpt, data = h.send(s, f"someone@{FOREIGN}", [f"alice@{DOMAIN}"],
                                h.message(f"someone@{FOREIGN}", [f"alice@{DOMAIN}"]))
        self.assertEqual(rcpt[0][0], 250, rcpt)
        self.assertEqual(data[0], 250, data)

    def test_recipients_per_message_defer_at_the_limit_and_not_before(self):
        rcpts = [f"r{i}@{FOREIGN}" for i in range(5)]
        with self.postfix.smtp("127.0.4.1") as s:
            s.login(f"rcpt@{DOMAIN}", "secret")
            rcpt, data = h.send(s, f"rcpt@{DOMAIN}", rcpts, h.message(f"rcpt@{DOMAIN}", rcpts))
        self.assertEqual([c for c, _ in rcpt], [250, 250, 250, 450, 450], rcpt)
        self.assertIn("4.7.1", rcpt[3][1])
        self.assertIn("recipients_per_message (3)", rcpt[3][1])
        self.assertEqual(data[0], 250, data)  # the three accepted ones are sent
        self.assertRegex(self.policyd.output(),
                         rf"client 127\.0\.4\.1 user:rcpt@{re.escape(DOMAIN)} over recipients_per_message")

    def test_messages_per_hour_counted_at_end_of_message(self):
        codes = []
        with self.postfix.smtp("127.0.5.1") as s:
            s.login(f"msgs@{DOMAIN}", "secret")
            for i in range(3):
                rcpt, data = h.send(s, f"msgs@{DOMAIN}", [f"x{i}@{FOREIGN}"],
                                    h.message(f"msgs@{DOMAIN}", [f"x{i}@{FOREIGN}"]))
                codes.append((rcpt[0][0], data[0]))
                last = rcpt[0][1]
        # Two sent (limit 2); the third stopped at RCPT, before DATA.
        self.assertEqual(codes, [(250, 250), (250, 250), (450, None)], codes)
        self.assertIn("messages_per_hour (2)", last)

    def test_unknown_local_users_ban_the_client(self):
        replies = []
        with self.postfix.smtp("127.0.6.1") as s:
            s.mail(f"guess@{FOREIGN}")
            for i in range(3):
                code, text = s.rcpt(f"nobody{i}@{DOMAIN}")
                replies.append(code)
                if code == 421:
                    break
        self.assertEqual(replies, [550, 550, 421], replies)
        with self.postfix.smtp("127.0.6.1") as s:  # banned at its next connection too
            s.mail(f"guess@{FOREIGN}")
            code, _ = s.rcpt(f"alice@{DOMAIN}")
            self.assertEqual(code, 421)
        with self.postfix.smtp("127.0.6.2") as s:  # another client is not
            s.mail(f"guess@{FOREIGN}")
            code, _ = s.rcpt(f"alice@{DOMAIN}")
            self.assertEqual(code, 250)

    def test_malformed_requests_are_answered_and_the_connection_goes_on(self):
        bad = [
            ("protocol_state=RCPT\n\n", "no request= attribute"),
            ("request=smtpd_access_policy\nthis is garbage\n\n", "a line without '='"),
            ("request=smtpd_access_policy\nx=" + "v" * 5000 + "\n\n", "a line longer than 4096 octets"),
            ("request=smtpd_access_policy\n" + "".join(f"a{i}=1\n" for i in range(200)) + "\n",
             "more than 128 attributes"),
        ]
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as a, \
                socket.create_connection(("127.0.0.1", self.port), timeout=30) as b:
            for text, problem in bad:
                a.sendall(text.encode())
                reply = read_reply(a)
                self.assertRegex(reply, rf"^action=DEFER_IF_PERMIT malformed policy request: "
                                        rf"{re.escape(problem)}[^\n]*\n\n$")
                # The same connection still decides, and so does another one.
                for sock in (a, b):
                    sock.sendall(policy_request(recipient=f"x@{FOREIGN}").encode())
                    self.assertEqual(read_reply(sock),
                                     f"action=554 5.7.1 <x@{FOREIGN}>: Relay access denied\n\n")
            # sasl_username spoken directly: permitted.
            a.sendall(policy_request(recipient=f"x@{FOREIGN}", sasl_username="direct",
                                     client_address="192.0.2.77").encode())
            self.assertEqual(read_reply(a), "action=OK\n\n")
        self.assertIn("malformed request: no request= attribute", self.policyd.output())


class DirectoryFailure(unittest.TestCase):
    """When a decision cannot be made the daemon answers nothing and closes: Postfix
    defers with 451 4.3.5 and nothing is permitted."""

    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.port = h.free_port()
        cls.config = policyd_config(w, cls.port)
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        h.pamperoctl(cls.config, "user", "add", f"alice@{DOMAIN}")
        cls.policyd = start_policyd(cls.config, cls.port, w)
        cls.postfix = h.Postfix(w, main_cf=postfix_main_cf(cls.port), domains=[DOMAIN],
                                mailboxes=[f"alice@{DOMAIN}"])

    @classmethod
    def tearDownClass(cls):
        for name in ("postfix", "policyd"):
            if hasattr(cls, name):
                getattr(cls, name).stop()
        cls.work.close()

    def test_directory_gone_closes_unanswered_and_postfix_defers(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(policy_request(recipient=f"alice@{DOMAIN}").encode())
            self.assertEqual(read_reply(s), "action=DUNNO\n\n")
            os.rename(self.work.join("directory.db"), self.work.join("directory.db.away"))
            s.sendall(policy_request(recipient=f"alice@{DOMAIN}", sasl_username="u").encode())
            self.assertIsNone(read_reply(s), "an answer came although the directory is gone")
        with self.postfix.smtp("127.0.8.1") as smtp:
            smtp.mail(f"someone@{FOREIGN}")
            code, text = smtp.rcpt(f"alice@{DOMAIN}")
        self.assertEqual(code, 451, text)
        self.assertIn(b"4.3.5", text)
        self.assertIn("cannot decide", self.policyd.output())
        self.assertTrue(self.policyd.alive())
        # Back: served again, on new connections.
        os.rename(self.work.join("directory.db.away"), self.work.join("directory.db"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(policy_request(recipient=f"alice@{DOMAIN}").encode())
            self.assertEqual(read_reply(s), "action=DUNNO\n\n")


class DaemonLifecycle(unittest.TestCase):
    """The daemon alone, spoken to as Postfix does: --version, SIGHUP reload of the
    limits (and a broken file refused), the connection cap, the per-request timeout, and
    SIGTERM letting a request in progress finish while idle connections close."""

    def setUp(self):
        self.work = h.WorkDir()
        self.port = h.free_port()
        self.limits = "  recipients_per_message: 1\n"
        self.config = policyd_config(self.work.path, self.port, limits=self.limits)
        self.extra = ""
        h.pamperoctl(self.config, "domain", "add", DOMAIN)

    def tearDown(self):
        if hasattr(self, "policyd"):
            self.policyd.stop()
        self.work.close()

    def rewrite(self, policyd_extra="", limits=None):
        with open(self.config) as f:
            text = f.read()
        head = text.split("policyd:\n")[0]
        with open(self.config, "w") as f:
            f.write(head + f"policyd:\n  socket: inet:{self.port}@127.0.0.1\n{policyd_extra}"
                    f"ratelimit:\n{limits or self.limits}")

    def ask(self, sock, **attrs):
        sock.sendall(policy_request(**attrs).encode())
        return read_reply(sock)

    def test_version(self):
        import subprocess
        p = subprocess.run([os.path.join(h.BIN, "pampero-policyd"), "--version"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("pampero-policyd", p.stdout + p.stderr)

    def test_sighup_reloads_the_limits_and_refuses_a_broken_file(self):
        self.policyd = start_policyd(self.config, self.port, self.work.path)
        relay = dict(recipient=f"x@{FOREIGN}", sasl_username="u")
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            self.assertEqual(self.ask(s, instance="m1", **relay), "action=OK\n\n")
            self.assertIn("recipients_per_message (1)", self.ask(s, instance="m1", **relay))
            self.rewrite(limits="  recipients_per_message: 3\n")
            self.policyd.signal(signal.SIGHUP)
            h.wait_until(lambda: "reloaded:" in self.policyd.output(), 20, "the reload")
            # The same connection, the new limit.
            for _ in range(3):
                self.assertEqual(self.ask(s, instance="m2", **relay), "action=OK\n\n")
            self.assertIn("recipients_per_message (3)", self.ask(s, instance="m2", **relay))
            with open(self.config, "a") as f:
                f.write("  no_such_limit: 1\n")
            self.policyd.signal(signal.SIGHUP)
            h.wait_until(lambda: "reload refused" in self.policyd.output(), 20, "the refusal")
            for _ in range(3):
                self.assertEqual(self.ask(s, instance="m3", **relay), "action=OK\n\n")
            self.assertIn("recipients_per_message (3)", self.ask(s, instance="m3", **relay))
        self.assertTrue(self.policyd.alive())

    def test_connection_cap_and_timeout(self):
        self.rewrite(policyd_extra="  max_connections: 2\n  timeout: 2\n")
        self.policyd = start_policyd(self.config, self.port, self.work.path)

        def served():
            # wait_for_port's probe may still count for a moment: retry a refused one.
            for _ in range(50):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                if self.ask(sock, protocol_state="DATA") == "action=DUNNO\n\n":
                    return sock
                sock.close()
                time.sleep(0.1)
            self.fail("no connection served")

        a = served()
        b = served()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as c:
                self.assertEqual(c.recv(100), b"", "a third connection was served")
            h.wait_until(lambda: "connection(s) refused" in self.policyd.output(), 20,
                         "the refusal's log line")
            # Half a request and nothing more: closed after `timeout`, not held.
            a.sendall(b"request=smtpd_access_policy\n")
            self.assertEqual(a.recv(100), b"")
        finally:
            a.close()
            b.close()

    def test_sigterm_lets_a_request_in_progress_finish(self):
        self.policyd = start_policyd(self.config, self.port, self.work.path)
        idle = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        busy = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        try:
            self.assertEqual(self.ask(idle, protocol_state="DATA"), "action=DUNNO\n\n")
            request = policy_request(recipient=f"x@{FOREIGN}")
            busy.sendall(request[:40].encode())  # in the daemon's socket before the signal
            self.policyd.signal(signal.SIGTERM)
            self.assertEqual(idle.recv(100), b"")  # idle: closed at once
            busy.sendall(request[40:].encode())
            self.assertEqual(read_reply(busy), f"action=554 5.7.1 <x@{FOREIGN}>: Relay access denied\n\n")
            self.assertEqual(busy.recv(100), b"")
            self.policyd.proc.wait(30)
            self.assertEqual(self.policyd.proc.returncode, 0)
        finally:
            idle.close()
            busy.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
