"""pamperoctl ban list|del and ratelimit show, asked of pampero-policyd on its admin
socket (policyd.admin_socket), behind a real Postfix (the shipped check_policy_service
snippet, Dovecot SASL) as test_policyd.py:

- a client banned through Postfix for guessing unknown recipients appears in
  `pamperoctl ban list`; `ban del` lets it in again (and a second `ban del` says there is
  no ban any more);
- `ratelimit show` follows a SASL user's and a client address's counters as messages go;
- `user set-limits` gives a user its own limits, which pampero-policyd applies (and
  `user show`, `ratelimit show` print), and `default` gives the site's back;
- the Prometheus endpoint (policyd.metrics) counts requests by action, exactly;
- without the socket configured, or with nobody serving it, the commands say so with the
  configuration (78) and temporary (75) exit codes.
"""
import os
import socket
import re
import unittest

import harness as h
from test_metrics import scrape
from test_policyd import DOMAIN, FOREIGN, BehindPostfix, guess_unknown_users

LIMITS = "  messages_per_hour: 5\n  recipients_per_hour: 50\n  recipients_per_message: 10\n"


class AdminBehindPostfix(BehindPostfix, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.metrics = h.free_port()
        cls.start_behind_postfix(
            ["alice", "dave"], sasl_users=("carol", "dave"), limits=LIMITS,
            guard={"unknown_limit": 3},
            policyd_extra=lambda work: (f"  admin_socket: {work.join('policyd-admin.sock')}\n"
                                        f"  metrics: inet:{cls.metrics}@127.0.0.1\n"))
        cls.admin = cls.work.join("policyd-admin.sock")

    def ctl(self, *args, check=True):
        return h.pamperoctl(self.config, *args, check=check)

    def rcpt_code(self, ip, rcpt):
        with self.postfix.smtp(ip) as s:
            s.mail(f"guess@{FOREIGN}")
            code, _ = s.rcpt(rcpt)
            return code

    def test_metrics_count_requests_by_action(self):
        def action(page, name):
            return page.get(f'pampero_policyd_requests_total{{action="{name}"}}', 0)
        before = scrape(self.metrics)
        self.assertEqual(self.rcpt_code("127.0.0.31", f"victim@{FOREIGN}"), 554)  # no login
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
            c.sendall(b"this is not a policy request\n\n")
            reply = c.recv(4096)
        self.assertIn(b"action=DEFER_IF_PERMIT", reply)
        after = scrape(self.metrics)
        self.assertEqual(action(after, "reject") - action(before, "reject"), 1)
        self.assertEqual(action(after, "malformed") - action(before, "malformed"), 1)
        self.assertEqual(after.get("pampero_policyd_undecided_total"),
                         before.get("pampero_policyd_undecided_total"))
        self.assertIn('pampero_radius_packets_total{outcome="recorded"}', after)

    def test_a_banned_client_is_listed_and_ban_del_lets_it_in_again(self):
        ip = "127.0.9.1"
        self.assertNotIn(ip, self.ctl("ban", "list").stdout)
        replies = guess_unknown_users(self.postfix, ip)
        self.assertEqual(replies, [550, 550, 421], replies)
        self.assertEqual(self.rcpt_code(ip, f"alice@{DOMAIN}"), 421)

        listing = self.ctl("ban", "list").stdout
        m = re.search(rf"^{re.escape(ip)} unknown_recipients=3 left=(\d+)s$", listing, re.M)
        self.assertTrue(m, listing)
        self.assertGreater(int(m.group(1)), 0)
        self.assertNotIn("127.0.9.2", listing)

        p = self.ctl("ban", "del", ip)
        self.assertIn(f"{ip}: ban lifted", p.stdout)
        self.assertNotIn(ip, self.ctl("ban", "list").stdout)
        self.assertEqual(self.rcpt_code(ip, f"alice@{DOMAIN}"), 250)
        # The unknown-recipient count went with the ban: one more guess is a 550, not a ban.
        self.assertEqual(self.rcpt_code(ip, f"nobody9@{DOMAIN}"), 550)
        self.assertEqual(self.rcpt_code(ip, f"alice@{DOMAIN}"), 250)

        p = self.ctl("ban", "del", ip, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"no ban in force on {ip}", p.stderr)
        p = self.ctl("ban", "del", "not-an-address", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)

    def counts(self, key):
        """{(identity, limit): (count, max)} from `ratelimit show KEY`."""
        out = {}
        for line in self.ctl("ratelimit", "show", key).stdout.splitlines():
            m = re.match(r"^(\S+) (\S+) (\d+)/(\S+)( window_left=\d+s)?$", line)
            self.assertTrue(m, line)
            out[(m.group(1), m.group(2))] = (int(m.group(3)), m.group(4))
        return out

    def test_ratelimit_show_follows_the_counters(self):
        user, ip = f"carol@{DOMAIN}", "127.0.9.20"
        before = self.counts(user)
        self.assertEqual(before[(f"user:{user}", "messages_per_hour")], (0, "5"))
        self.assertEqual(before[(f"user:{user}", "recipients_per_hour")], (0, "50"))
        self.assertEqual(before[(f"sub:{user}", "messages_per_hour")], (0, "5"))
        self.assertEqual(self.counts(ip)[(f"ip:{ip}", "recipients_per_hour")], (0, "50"))
        with self.postfix.smtp(ip) as s:
            s.login(user, "secret")
            for i in range(2):
                rcpts = [f"a{i}@{FOREIGN}", f"b{i}@{FOREIGN}"]
                rcpt, data = h.send(s, user, rcpts, h.message(user, rcpts))
                self.assertEqual([c for c, _ in rcpt], [250, 250], rcpt)
                self.assertEqual(data[0], 250, data)
                now = self.counts(user)
                self.assertEqual(now[(f"user:{user}", "messages_per_hour")], (i + 1, "5"))
                self.assertEqual(now[(f"user:{user}", "recipients_per_hour")], (2 * (i + 1), "50"))
        by_ip = self.counts(ip)
        self.assertEqual(by_ip[(f"ip:{ip}", "messages_per_hour")], (2, "5"))
        self.assertEqual(by_ip[(f"ip:{ip}", "recipients_per_hour")], (4, "50"))
        line = next(l for l in self.ctl("ratelimit", "show", ip).stdout.splitlines()
                    if "messages_per_hour" in l)
        left = int(re.search(r"window_left=(\d+)s", line).group(1))
        self.assertTrue(0 < left <= 3600, line)


    def test_a_users_own_limits_apply(self):
        user = f"dave@{DOMAIN}"
        show = self.ctl("user", "show", user).stdout
        self.assertIn("messages_per_hour:      5 [default]", show)
        self.ctl("user", "set-limits", user, "--messages-per-hour", "1",
                 "--recipients-per-hour", "0")
        show = self.ctl("user", "show", user).stdout
        self.assertIn("messages_per_hour:      1\n", show)
        self.assertIn("recipients_per_hour:    none\n", show)
        self.assertIn("recipients_per_message: 10 [default]", show)
        self.assertEqual(self.counts(user)[(f"user:{user}", "messages_per_hour")], (0, "1"))
        codes = []
        with self.postfix.smtp("127.0.9.30") as s:
            s.login(user, "secret")
            for i in range(2):
                rcpt, data = h.send(s, user, [f"d{i}@{FOREIGN}"],
                                    h.message(user, [f"d{i}@{FOREIGN}"]))
                codes.append((rcpt[0][0], data[0]))
                last = rcpt[0][1]
        self.assertEqual(codes, [(250, 250), (450, None)], codes)
        self.assertIn("messages_per_hour (1)", last)
        self.assertEqual(self.counts(user)[(f"user:{user}", "messages_per_hour")], (1, "1"))
        self.ctl("user", "set-limits", user, "--messages-per-hour", "default")
        self.assertIn("messages_per_hour:      5 [default]", self.ctl("user", "show", user).stdout)
        for bad in ("-1", "lots", "100000001"):
            p = self.ctl("user", "set-limits", user, "--messages-per-hour", bad, check=False)
            self.assertEqual(p.returncode, 1, (bad, p.stderr))
        p = self.ctl("user", "set-limits", user, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        p = self.ctl("user", "set-limits", f"ghost@{DOMAIN}", "--messages-per-hour", "1",
                     check=False)
        self.assertNotEqual(p.returncode, 0)


class WithoutTheSocket(unittest.TestCase):
    def test_the_commands_say_when_there_is_no_admin_socket(self):
        work = h.WorkDir()
        try:
            bare = h.write_config(work.path, h.free_port())
            for args in (("ban", "list"), ("ban", "del", "192.0.2.1"),
                         ("ratelimit", "show", "192.0.2.1")):
                p = h.pamperoctl(bare, *args, check=False)
                self.assertEqual(p.returncode, 78, (args, p.stderr))
                self.assertIn("policyd.admin_socket is not set", p.stderr)
            gone = h.write_config(
                work.path, h.free_port(),
                extra=f"policyd:\n  admin_socket: {work.join('nobody.sock')}\n")
            p = h.pamperoctl(gone, "ban", "list", check=False)
            self.assertEqual(p.returncode, 75, p.stderr)
            self.assertIn("cannot reach pampero-policyd", p.stderr)
        finally:
            work.close()


if __name__ == "__main__":
    unittest.main()
