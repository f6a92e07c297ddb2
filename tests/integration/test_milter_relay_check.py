"""pampero-milter with `milter: { relay_check: true }`: pampero-policyd's relay and rate
decisions at RCPT, for MTAs without policy delegation (Sendmail). Driven here through a
real Postfix that relays for everyone (smtpd_relay_restrictions permits all), as a
Sendmail site leaving relay control to the milter would; Dovecot SASL gives the login
({auth_authen}, from the shipped conf/postfix/main.cf.milter macros)."""
import os
import re
import unittest

import harness as h
from test_milter_sasl import DovecotAuth

DOMAIN = "example.org"
FOREIGN = "example.net"


class MilterRelayCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.port = h.free_port()
        cls.config = h.write_config(
            w, cls.port,
            extra="ratelimit:\n  messages_per_hour: 100\n  recipients_per_hour: 100\n"
                  "  recipients_per_message: 2\n")
        with open(cls.config) as f:
            text = f.read()
        sock = f"milter:\n  socket: inet:{cls.port}@127.0.0.1\n"
        assert sock in text
        with open(cls.config, "w") as f:
            f.write(text.replace(sock, sock + "  relay_check: true\n"))
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        h.pamperoctl(cls.config, "user", "add", f"alice@{DOMAIN}")
        cls.milter = h.start_milter(cls.config, cls.port, w)
        cls.dovecot = DovecotAuth(w, {f"alice@{DOMAIN}": "secret"})
        with open(os.path.join(h.SOURCE, "conf", "postfix", "main.cf.milter")) as f:
            snippet = f.read().replace("inet:127.0.0.1:10025", f"inet:127.0.0.1:{cls.port}")
        main_cf = (snippet +
                   # An open relay but for the milter (the static:OK comes first; Postfix
                   # only insists that a relay restriction is named).
                   "\nsmtpd_relay_restrictions = check_client_access static:OK, reject_unauth_destination\n"
                   "default_transport = discard\nrelay_transport = discard\n"
                   "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\n"
                   f"smtpd_sasl_path = {cls.dovecot.socket}\n")
        cls.postfix = h.Postfix(w, main_cf=main_cf, domains=[DOMAIN], mailboxes=[f"alice@{DOMAIN}"])

    @classmethod
    def tearDownClass(cls):
        for name in ("postfix", "dovecot", "milter"):
            if hasattr(cls, name):
                getattr(cls, name).stop()
        cls.work.close()

    def test_relay_without_login_is_refused_from_every_address(self):
        for ip in ("127.0.9.1", "127.33.1.2", "127.200.7.9", "127.254.254.254"):
            with self.postfix.smtp(ip) as s:
                s.mail(f"someone@{FOREIGN}")
                code, text = s.rcpt(f"victim@{FOREIGN}")
                self.assertEqual(code, 554, f"{ip}: {text}")
                self.assertIn(b"5.7.1", text)
                self.assertIn(b"Relay access denied", text)
                code, _ = s.rcpt(f"alice@{DOMAIN}")  # local mail is not the milter's to stop
                self.assertEqual(code, 250)

    def test_login_relays_within_its_limits(self):
        rcpts = [f"r{i}@{FOREIGN}" for i in range(3)]
        with self.postfix.smtp("127.0.10.1") as s:
            s.login(f"alice@{DOMAIN}", "secret")
            rcpt, data = h.send(s, f"alice@{DOMAIN}", rcpts, h.message(f"alice@{DOMAIN}", rcpts))
        self.assertEqual([c for c, _ in rcpt], [250, 250, 450], rcpt)
        self.assertIn("4.7.1", rcpt[2][1])
        self.assertIn("recipients_per_message (2)", rcpt[2][1])
        self.assertEqual(data[0], 250, data)
        self.assertRegex(self.milter.output(),
                         rf"user:alice@{re.escape(DOMAIN)} over recipients_per_message")


if __name__ == "__main__":
    unittest.main(verbosity=2)
