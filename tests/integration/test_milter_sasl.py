"""Authenticated submission through a real Postfix with Dovecot SASL: {auth_authen} comes
from Postfix (the shipped conf/postfix/main.cf.milter asks for it), not from a hand-set
macro. An authenticated sender is not scored (GTUBE passes, logged "authenticated, not
scored" with Postfix's queue id), the same message from the same client without AUTH is
refused, and a wrong password gets Postfix's own 535."""
import os
import re
import shutil
import smtplib
import unittest

import harness as h

DOMAIN = "demo.test"


class DovecotAuth(h.Daemon):
    """A private Dovecot whose auth service offers Postfix a socket (and IMAP, unused here,
    on a free port: it tells when Dovecot is up)."""

    def __init__(self, workdir, users):
        import pwd
        nobody = pwd.getpwnam("nobody")
        self.dir = os.path.join(workdir, "dovecot")
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        passwd = os.path.join(self.dir, "users")
        with open(passwd, "w") as f:
            f.writelines(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items())
        imap_port = h.free_port()
        self.socket = os.path.join(self.dir, "run", "auth-postfix")
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
instance_name = pampero-sasl-{os.getpid()}-{imap_port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
mail_location = maildir:{self.dir}/mail/%d/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={self.dir}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
""")
        super().__init__(["dovecot", "-F", "-c", conf], os.path.join(self.dir, "stdout.log"))
        h.wait_for_port(imap_port, proc=self.proc, logs=[self.log_path, os.path.join(self.dir, "dovecot.log")])
        h.wait_until(lambda: os.path.exists(self.socket), 20, "Dovecot's auth socket")


class SaslSubmission(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        os.makedirs(os.path.join(w, "rules.d"))
        shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"), os.path.join(w, "rules.d"))
        cls.port = h.free_port()
        cls.config = h.write_config(w, cls.port)
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        for u in ("alice", "bob"):
            h.pamperoctl(cls.config, "user", "add", f"{u}@{DOMAIN}")
        cls.milter = h.start_milter(cls.config, cls.port, w)
        cls.dovecot = DovecotAuth(w, {f"alice@{DOMAIN}": "secret"})
        with open(os.path.join(h.SOURCE, "conf", "postfix", "main.cf.milter")) as f:
            snippet = f.read()
        shipped = "inet:127.0.0.1:10025"  # smtpd_milters and non_smtpd_milters
        assert f"smtpd_milters = {shipped}" in snippet, "the shipped snippet no longer names the default socket"
        main_cf = (snippet.replace(shipped, f"inet:127.0.0.1:{cls.port}") +
                   "\nsmtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\n"
                   f"smtpd_sasl_path = {cls.dovecot.socket}\n")
        cls.postfix = h.Postfix(w, main_cf=main_cf, domains=[DOMAIN],
                                mailboxes=[f"alice@{DOMAIN}", f"bob@{DOMAIN}"])

    @classmethod
    def tearDownClass(cls):
        for name in ("postfix", "dovecot", "milter"):
            if hasattr(cls, name):
                getattr(cls, name).stop()
        cls.work.close()

    def gtube_from(self, s, subject):
        return h.send(s, f"alice@{DOMAIN}", [f"bob@{DOMAIN}"],
                      h.message(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"], subject=subject, body=h.GTUBE + "\r\n"))

    def test_authenticated_sender_is_not_scored(self):
        with self.postfix.smtp("127.0.0.90") as s:
            self.assertIn("auth", s.esmtp_features)
            code, _ = s.login(f"alice@{DOMAIN}", "secret")
            self.assertEqual(code, 235)
            rcpt, data = self.gtube_from(s, "sasl-gtube")
        self.assertEqual(rcpt[0][0], 250, rcpt)
        self.assertEqual(data[0], 250, data)
        msg = h.wait_until(lambda: [m for m in self.postfix.delivered(f"bob@{DOMAIN}") if "sasl-gtube" in m],
                           what="delivery")[0]
        self.assertIn(h.GTUBE, msg)
        # Postfix itself says who authenticated, and the milter used that.
        self.assertRegex(self.postfix.log(), rf"sasl_method=PLAIN, sasl_username=alice@{re.escape(DOMAIN)}")
        qid = re.search(r"queued as ([0-9A-F]+)", data[1]).group(1)
        h.wait_until(lambda: re.search(rf"{qid}: from=<alice@demo\.test> client=127\.0\.0\.90 authenticated, "
                                       r"not scored", self.milter.output()),
                     10, "the milter's log line for the authenticated message")

    def test_same_message_without_auth_is_refused(self):
        with self.postfix.smtp("127.0.0.91") as s:
            rcpt, data = self.gtube_from(s, "nosasl-gtube")
        self.assertEqual(data[0], 550, data)
        self.assertIn("5.7.1", data[1])

    def test_wrong_password_is_refused_by_postfix(self):
        with self.postfix.smtp("127.0.0.92") as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login(f"alice@{DOMAIN}", "wrong")
            self.assertEqual(cm.exception.smtp_code, 535)
            # Still unauthenticated: GTUBE is scored and refused.
            rcpt, data = self.gtube_from(s, "badpw-gtube")
        self.assertEqual(data[0], 550, data)


if __name__ == "__main__":
    unittest.main(verbosity=2)
