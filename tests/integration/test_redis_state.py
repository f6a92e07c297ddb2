"""One Redis state (state: redis://...) shared by separate processes (issues 10 and 12):
pampero-milter behind one private Postfix, pampero-policyd behind another, and a second
pampero-policyd, all on one private redis-server (scripts/redis-instance via harness):

- a dictionary-attack ban set through the milter is honoured by pampero-policyd (421),
  and one set through pampero-policyd by the milter; `pamperoctl ban list` (asked of the
  policy daemon) lists the ban the milter set;
- a RADIUS session recorded by one pampero-policyd permits relaying through the other and
  shows in `pamperoctl sessions` of the other; a Stop through the other removes it;
- Redis stopped: the policy daemon closes without answering (Postfix says 451 4.3.5),
  the milter tempfails (4xx), a RADIUS packet is not answered; nothing is permitted and
  no 5xx comes from the fault. Redis started again (empty: no persistence): both serve
  again, same processes, no restart of pampero.
"""
import os
import socket
import unittest

import harness as h
from test_policyd import DOMAIN, FOREIGN, policy_request, postfix_main_cf, read_reply, start_policyd
from test_radius import radclient

SECRET = "redis-s3cret"
LIMITS = "  messages_per_hour: 50\n  recipients_per_hour: 500\n  recipients_per_message: 20\n"


def node_config(workdir, directory, redis_url, policyd_port, radius_port, admin):
    extra = (f"policyd:\n  socket: inet:{policyd_port}@127.0.0.1\n  timeout: 60\n"
             f"  admin_socket: {admin}\n"
             f"ratelimit:\n{LIMITS}"
             "radius:\n"
             f"  listen: [127.0.0.1:{radius_port}]\n"
             f"  clients:\n    - {{ address: 127.0.0.1, secret: {SECRET} }}\n"
             "  session_ttl: 3600\n"
             "state_timeout_ms: 500\n")
    milter_port = h.free_port()
    return h.write_config(workdir, milter_port, extra=extra, directory=directory,
                          state=redis_url, guard={"unknown_limit": 3}), milter_port


class SharedRedisState(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.redis = h.RedisServer().start(cls.work.join("redis"))
        directory = cls.work.join("directory.db")
        # Node 1: pampero-milter and pampero-policyd from one configuration file.
        n1 = cls.work.join("node1")
        os.makedirs(n1)
        cls.policyd_port, cls.radius_port = h.free_port(), h.free_port()
        cls.admin = os.path.join(n1, "admin.sock")
        cls.config, cls.milter_port = node_config(n1, directory, cls.redis.url, cls.policyd_port,
                                                  cls.radius_port, cls.admin)
        # Node 2: a second pampero-policyd, its own ports and admin socket.
        n2 = cls.work.join("node2")
        os.makedirs(n2)
        cls.policyd2_port, cls.radius2_port = h.free_port(), h.free_port()
        cls.admin2 = os.path.join(n2, "admin.sock")
        cls.config2, _ = node_config(n2, directory, cls.redis.url, cls.policyd2_port,
                                     cls.radius2_port, cls.admin2)
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        h.pamperoctl(cls.config, "user", "add", f"alice@{DOMAIN}")
        cls.milter = h.start_milter(cls.config, cls.milter_port, n1)
        cls.policyd = start_policyd(cls.config, cls.policyd_port, n1)
        cls.policyd2 = start_policyd(cls.config2, cls.policyd2_port, n2, name="policyd2")
        pm, pp = cls.work.join("mx-milter"), cls.work.join("mx-policyd")
        os.makedirs(pm)
        os.makedirs(pp)
        mailboxes = [f"alice@{DOMAIN}"]
        cls.mx_milter = h.Postfix(pm, main_cf=f"smtpd_milters = inet:127.0.0.1:{cls.milter_port}\n",
                                  domains=[DOMAIN], mailboxes=mailboxes)
        cls.mx_policyd = h.Postfix(pp, main_cf=postfix_main_cf(cls.policyd_port),
                                   domains=[DOMAIN], mailboxes=mailboxes)
        cls.pids = {d: d.pid for d in (cls.milter, cls.policyd, cls.policyd2)}

    @classmethod
    def tearDownClass(cls):
        for name in ("mx_milter", "mx_policyd", "policyd2", "policyd", "milter", "redis"):
            if hasattr(cls, name):
                getattr(cls, name).stop()
        cls.work.close()

    def guess(self, postfix, ip, n):
        """RCPT codes for n unknown users from ip, stopping at the first 421."""
        codes = []
        with postfix.smtp(ip) as s:
            s.mail(f"guess@{FOREIGN}")
            for i in range(n):
                code, _ = s.rcpt(f"nobody{i}@{DOMAIN}")
                codes.append(code)
                if code == 421:
                    break
        return codes

    def first_refusal(self, postfix, ip, rcpt):
        """The first non-2xx reply a new connection from ip gets up to RCPT (the milter
        may refuse at connect, which Postfix says at the first command after EHLO)."""
        s = h.smtplib.SMTP(timeout=60, source_address=(ip, 0))
        try:
            code, text = s.connect("127.0.0.1", postfix.port)
            if code == 220:
                code, text = s.ehlo("client.example")
            if code == 250:
                code, text = s.mail(f"sender@{FOREIGN}")
            if code == 250:
                code, text = s.rcpt(rcpt)
            return code, text
        finally:
            try:
                s.close()
            except OSError:
                pass

    def ask(self, port, **attrs):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(policy_request(**attrs).encode())
            return read_reply(s)

    def radius(self, port, status, user, ip, session):
        return radclient(port, SECRET, {"Acct-Status-Type": status, "User-Name": f'"{user}"',
                                        "Framed-IP-Address": ip, "Acct-Session-Id": f'"{session}"'})

    def test_1_a_ban_set_through_the_milter_is_honoured_by_policyd(self):
        ip = "127.0.9.1"
        self.assertEqual(self.guess(self.mx_milter, ip, 3), [550, 550, 421])
        self.assertIn(self.redis.cli("EXISTS", f"ban:{ip}").strip(), ("1",))
        # The policy daemon (another process, another Postfix) refuses the client.
        self.assertEqual(self.first_refusal(self.mx_policyd, ip, f"alice@{DOMAIN}")[0], 421)
        self.assertTrue(self.ask(self.policyd2_port, client_address=ip,
                                 recipient=f"alice@{DOMAIN}").startswith("action=421 4.7.0"))
        # pamperoctl, asked of either policy daemon, lists the ban the milter set.
        self.assertIn(ip, h.pamperoctl(self.config, "ban", "list").stdout)
        self.assertIn(ip, h.pamperoctl(self.config2, "ban", "list").stdout)
        # Another client is not affected.
        self.assertEqual(self.first_refusal(self.mx_policyd, "127.0.9.9", f"alice@{DOMAIN}")[0],
                         250)

    def test_2_a_ban_set_through_policyd_is_honoured_by_the_milter(self):
        ip = "127.0.9.2"
        self.assertEqual(self.first_refusal(self.mx_milter, ip, f"alice@{DOMAIN}")[0], 250)
        self.assertEqual(self.guess(self.mx_policyd, ip, 3), [550, 550, 421])
        code, text = self.first_refusal(self.mx_milter, ip, f"alice@{DOMAIN}")
        self.assertEqual(code, 421, text)
        # pamperoctl ban del through node 2 lifts it for the milter too.
        self.assertIn(f"{ip}: ban lifted", h.pamperoctl(self.config2, "ban", "del", ip).stdout)
        self.assertEqual(self.first_refusal(self.mx_milter, ip, f"alice@{DOMAIN}")[0], 250)

    def test_3_a_radius_session_learned_by_one_policyd_serves_the_other(self):
        ip = "10.9.0.1"
        before = self.ask(self.policyd2_port, client_address=ip, recipient=f"x@{FOREIGN}")
        self.assertTrue(before.startswith("action=554 5.7.1"), before)
        self.assertTrue(self.radius(self.radius_port, "Start", "carol", ip, "c-1"))
        listing = h.pamperoctl(self.config2, "sessions").stdout
        self.assertIn(f"{ip} carol nas=127.0.0.1 session=c-1", listing)
        self.assertEqual(self.ask(self.policyd2_port, client_address=ip,
                                  recipient=f"x@{FOREIGN}"), "action=OK\n\n")
        # A Stop through node 2 ends it for node 1.
        self.assertTrue(self.radius(self.radius2_port, "Stop", "carol", ip, "c-1"))
        self.assertNotIn(ip, h.pamperoctl(self.config, "sessions").stdout)
        after = self.ask(self.policyd_port, client_address=ip, recipient=f"x@{FOREIGN}")
        self.assertTrue(after.startswith("action=554 5.7.1"), after)

    def test_4_redis_stopped_tempfails_and_a_restart_heals(self):
        rcpt = f"alice@{DOMAIN}"
        self.redis.stop()
        try:
            # pampero-policyd: no answer at all (Postfix: 451 4.3.5), never a permit.
            self.assertIsNone(self.ask(self.policyd_port, client_address="10.9.0.2",
                                       recipient=f"x@{FOREIGN}", sasl_username="u"))
            code, text = self.first_refusal(self.mx_policyd, "127.0.9.3", rcpt)
            self.assertEqual(code, 451, text)
            self.assertIn(b"4.3.5", text)
            # pampero-milter: tempfails from the connection on (its ban check), 451 4.3.0.
            code, text = self.first_refusal(self.mx_milter, "127.0.9.4", rcpt)
            self.assertEqual(code, 451, text)
            self.assertIn(b"4.3.0", text)
            # RADIUS: not recorded, so not answered (the NAS sends it again).
            self.assertFalse(self.radius(self.radius_port, "Start", "dave", "10.9.0.5", "d-1"))
        finally:
            self.redis.restart()
        # Served again by the same processes: nothing restarted.
        self.assertEqual(self.ask(self.policyd_port, client_address="10.9.0.2",
                                  recipient=f"x@{FOREIGN}", sasl_username="u"), "action=OK\n\n")
        self.assertEqual(self.first_refusal(self.mx_policyd, "127.0.9.3", rcpt)[0], 250)
        self.assertEqual(self.first_refusal(self.mx_milter, "127.0.9.4", rcpt)[0], 250)
        self.assertTrue(self.radius(self.radius_port, "Start", "dave", "10.9.0.5", "d-1"))
        self.assertIn("10.9.0.5 dave", h.pamperoctl(self.config2, "sessions").stdout)
        for daemon, pid in self.pids.items():
            self.assertTrue(daemon.alive())
            self.assertEqual(daemon.pid, pid)
        # The outage was logged, naming the state and the failure.
        self.assertRegex(self.milter.output(), r"ban check for 127\.0\.9\.4: state: redis .*refused")
        self.assertIn("cannot decide (temporary: state: redis", self.policyd.output())

    def test_5_a_reload_changing_the_state_settings_says_they_wait_for_a_restart(self):
        with open(self.config) as f:
            text = f.read()
        self.assertIn("state_timeout_ms: 500\n", text)
        with open(self.config, "w") as f:
            f.write(text.replace("state_timeout_ms: 500\n", "state_timeout_ms: 400\n"))
        try:
            for daemon in (self.milter, self.policyd):
                daemon.signal(h.signal.SIGHUP)
                h.wait_until(lambda: "take effect at restart" in daemon.output(), 20,
                             "the restart warning")
        finally:
            with open(self.config, "w") as f:
                f.write(text)


if __name__ == "__main__":
    unittest.main()
