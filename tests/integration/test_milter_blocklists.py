"""DNSBL/URIBL in the SMTP session, from local mirror files: a client listed by an
`action: reject` list is refused at RCPT (unless the sender is white-listed for that
user), a scoring list adds its rule, a listed URI domain scores, and `pamperoctl scan`
gives the same verdict."""
import json
import os
import time
import unittest

import harness as h

LISTS = """blocklists:
  - zone: zen.example
    target: client_ip
    mode: mirror
    file: mirrors/zen.ip4set
    returns:
      127.0.0.2: { rule: RCVD_IN_TEST_SBL, score: 4.0 }
    action: reject
  - zone: score.example
    target: client_ip
    mode: mirror
    file: mirrors/score.ip4set
    rule: RCVD_IN_TEST_SCORE
    score: 3.0
  - zone: uri.example
    target: uri_domain
    mode: mirror
    file: mirrors/uri.dnset
    rule: URIBL_TEST
    score: 5.5
"""


class BlocklistsInTheSession(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        os.makedirs(os.path.join(w, "mirrors"))
        with open(os.path.join(w, "mirrors", "zen.ip4set"), "w") as f:
            f.write(":127.0.0.2:Listed, see https://example/lookup\n127.0.0.60\n127.0.0.2\n")
        with open(os.path.join(w, "mirrors", "score.ip4set"), "w") as f:
            f.write(":127.0.0.2:scored\n127.0.0.61\n")
        with open(os.path.join(w, "mirrors", "uri.dnset"), "w") as f:
            f.write(":127.0.0.2:bad site\nbad-pills-example.com\n")
        cls.port = h.free_port()
        cls.config = h.write_config(w, cls.port, extra=LISTS)
        h.pamperoctl(cls.config, "domain", "add", "demo.test")
        h.pamperoctl(cls.config, "user", "add", "alice@demo.test")
        h.pamperoctl(cls.config, "user", "add", "bob@demo.test")
        h.pamperoctl(cls.config, "list", "add", "white", "--user", "bob@demo.test", "partner@trusted.example")
        cls.milter = h.start_milter(cls.config, cls.port, w)
        cls.postfix = h.Postfix(w, main_cf=f"smtpd_milters = inet:127.0.0.1:{cls.port}\n",
                                domains=["demo.test"], mailboxes=["alice@demo.test", "bob@demo.test"])

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.milter.stop()
        cls.work.close()

    def test_reject_list_refuses_at_rcpt_unless_white_listed(self):
        with self.postfix.smtp("127.0.0.60") as s:
            s.mail("anyone@example.org")
            code, text = s.rcpt("alice@demo.test")
            self.assertEqual(code, 554, text)
            self.assertIn(b"5.7.1", text)
            self.assertIn(b"zen.example", text)
        with self.postfix.smtp("127.0.0.60") as s:
            rcpt, data = h.send(s, "partner@trusted.example", ["bob@demo.test"],
                                h.message("partner@trusted.example", ["bob@demo.test"], subject="wl-bl"))
            self.assertEqual(rcpt[0][0], 250, rcpt)
            self.assertEqual(data[0], 250, data)

    def test_scoring_lists_add_their_rules(self):
        body = "Cheap meds at http://www.bad-pills-example.com/buy now\r\n"
        with self.postfix.smtp("127.0.0.61") as s:
            rcpt, data = h.send(s, "x@example.org", ["alice@demo.test"],
                                h.message("x@example.org", ["alice@demo.test"], subject="lists-1", body=body))
        self.assertEqual(data[0], 250, data)
        msg = h.wait_until(lambda: [m for m in self.postfix.delivered("alice@demo.test") if "lists-1" in m],
                           what="delivery")[0]
        self.assertIn("RCVD_IN_TEST_SCORE", msg)
        self.assertIn("URIBL_TEST", msg)

    def test_changed_mirror_is_picked_up_without_restart(self):
        with self.postfix.smtp("127.0.0.62") as s:
            s.mail("x@example.org")
            self.assertEqual(s.rcpt("alice@demo.test")[0], 250)
        path = os.path.join(self.work.path, "mirrors", "zen.ip4set")
        with open(path, "a") as f:
            f.write("127.0.0.62\n")
        os.utime(path, (time.time() + 5, time.time() + 5))

        def refused():
            with self.postfix.smtp("127.0.0.62") as s:
                s.mail("x@example.org")
                return s.rcpt("alice@demo.test")[0] == 554
        h.wait_until(refused, timeout=40, what="the mirror reload")

    def test_pamperoctl_scan_gives_the_same_verdict(self):
        f = os.path.join(self.work.path, "m.eml")
        with open(f, "w") as fh:
            fh.write("From: x@example.org\nSubject: hi\n\nsee http://bad-pills-example.com/\n")
        p = h.pamperoctl(self.config, "scan", "--json", "--client-ip", "127.0.0.61", "--rcpt", "alice@demo.test", f)
        v = json.loads(p.stdout)
        names = [r["name"] for r in v["rules"]]
        self.assertIn("URIBL_TEST", names)
        self.assertIn("RCVD_IN_TEST_SCORE", names)
        self.assertIn("http://bad-pills-example.com/", v["uris"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
