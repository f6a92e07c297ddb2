"""pampero-milter behind a real private Postfix, driven over SMTP.

Covers issue 2: unknown recipients (550 5.1.1), the dictionary-attack ban (421 4.7.0,
on the RCPT that crosses the limit and on the next connection), GTUBE refused, per
recipient levels (one refused and removed, the others delivered with X-Spam-*), forged
X-Spam-* headers removed, white/black lists and contacts, and recipients the MTA refused
itself counted through SMFIP_RCPT_REJ.

The rules are GTUBE from conf/ plus test rules of known scores, so the figures asserted
here do not move when the shipped rule set is tuned.
"""
import os
import shutil
import subprocess
import unittest

import harness as h

TEST_RULES = h.RULES_SCORE_SEVEN + """  - name: TEST_SUBJECT_TWO
    target: header
    header: Subject
    regex: 'pampero-two'
    score: 2
    description: test rule worth 2 points
"""

DOMAIN = "demo.test"
USERS = {"alice": 1, "bob": 3, "carol": 5}  # tolerant (tag 8), standard (tag 5, cutoff 15), paranoid (cutoff 6)


def setup_stack(cls, postfix_main_cf=""):
    cls.work = h.WorkDir()
    w = cls.work.path
    os.makedirs(os.path.join(w, "rules.d"))
    shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"), os.path.join(w, "rules.d"))
    with open(os.path.join(w, "rules.d", "90-test.yaml"), "w") as f:
        f.write(TEST_RULES)
    cls.milter_port = h.free_port()
    cls.config = h.write_config(w, cls.milter_port)
    h.pamperoctl(cls.config, "domain", "add", DOMAIN)
    for user, level in USERS.items():
        h.pamperoctl(cls.config, "user", "add", f"{user}@{DOMAIN}", "--level", str(level))
    cls.milter = h.start_milter(cls.config, cls.milter_port, w)
    mailboxes = [f"{u}@{DOMAIN}" for u in USERS]
    cls.postfix = h.Postfix(
        w, main_cf=f"smtpd_milters = inet:127.0.0.1:{cls.milter_port}\n" + postfix_main_cf,
        domains=[DOMAIN], mailboxes=mailboxes)


def teardown_stack(cls):
    cls.postfix.stop()
    cls.milter.stop()
    cls.work.close()


class MilterBehindPostfix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        setup_stack(cls)

    @classmethod
    def tearDownClass(cls):
        teardown_stack(cls)

    def deliveries(self, user):
        return self.postfix.delivered(f"{user}@{DOMAIN}")

    def wait_delivered(self, user, marker):
        return h.wait_until(lambda: [m for m in self.deliveries(user) if marker in m],
                            what=f"delivery of {marker} to {user}")

    def test_clean_message_delivered_with_spam_headers(self):
        with self.postfix.smtp("127.0.0.2") as s:
            rcpt, data = h.send(s, "friend@example.org", [f"alice@{DOMAIN}"],
                                h.message("friend@example.org", [f"alice@{DOMAIN}"], subject="clean-1"))
        self.assertEqual(rcpt[0][0], 250)
        self.assertEqual(data[0], 250, data)
        msg = self.wait_delivered("alice", "clean-1")[0]
        self.assertIn("X-Spam-Score: 0.0", msg)
        self.assertIn("X-Spam-Status: No, score=0.0", msg)

    def test_unknown_recipient_is_refused_with_550_511(self):
        with self.postfix.smtp("127.0.0.3") as s:
            code, text = s.mail("someone@example.org")
            code, text = s.rcpt(f"nobody@{DOMAIN}")
            self.assertEqual(code, 550)
            self.assertIn(b"5.1.1", text)
            code, _ = s.rcpt(f"alice@{DOMAIN}")  # the session goes on
            self.assertEqual(code, 250)

    def test_dictionary_attack_is_banned_and_next_connection_refused(self):
        ip = "127.0.0.4"
        with self.postfix.smtp(ip) as s:
            s.mail("guesser@example.org")
            codes = [s.rcpt(f"guess{i}@{DOMAIN}") for i in range(5)]
        self.assertEqual([c for c, _ in codes[:4]], [550] * 4)
        self.assertEqual(codes[4][0], 421, codes[4])
        self.assertIn(b"4.7.0", codes[4][1])
        # A new connection from the same IP is refused from the start.
        s = h.smtplib.SMTP(timeout=30, source_address=(ip, 0))
        code, text = s.connect("127.0.0.1", self.postfix.port)
        if code == 220:  # Postfix may greet, then refuse the first command
            code, text = s.ehlo("again.example")
            if code == 250:
                code, text = s.mail("guesser@example.org")
        self.assertEqual(code, 421, text)
        s.close()
        # Another client is not affected.
        with self.postfix.smtp("127.0.0.5") as s2:
            s2.mail("other@example.org")
            self.assertEqual(s2.rcpt(f"alice@{DOMAIN}")[0], 250)

    def test_gtube_is_refused_with_550_571(self):
        with self.postfix.smtp("127.0.0.6") as s:
            rcpt, data = h.send(s, "spammer@example.org", [f"alice@{DOMAIN}"],
                                h.message("spammer@example.org", [f"alice@{DOMAIN}"], body=h.GTUBE + "\n"))
        self.assertEqual(rcpt[0][0], 250)
        self.assertEqual(data[0], 550, data)
        self.assertIn("5.7.1", data[1])

    def test_levels_decide_per_recipient(self):
        rcpts = [f"{u}@{DOMAIN}" for u in ("alice", "bob", "carol")]
        body = "Offer inside. PAMPERO-TEST-SCORE-SEVEN\n"
        with self.postfix.smtp("127.0.0.7") as s:
            rcpt, data = h.send(s, "bulk@example.org", rcpts,
                                h.message("bulk@example.org", rcpts, subject="levels-7", body=body))
        self.assertEqual([c for c, _ in rcpt], [250, 250, 250])
        self.assertEqual(data[0], 250, data)  # accepted for some
        a = self.wait_delivered("alice", "levels-7")[0]
        b = self.wait_delivered("bob", "levels-7")[0]
        # The headers are per message, judged against the default level (tag 5).
        self.assertIn("X-Spam-Status: Yes, score=7.0", a)
        self.assertIn("X-Spam-Score: 7.0", b)
        self.assertIn("tests=TEST_SCORE_SEVEN", b)
        self.postfix.wait_queue_empty()
        self.assertEqual([m for m in self.deliveries("carol") if "levels-7" in m], [])
        self.assertRegex(self.milter.output(), r"<carol@demo\.test>:reject")
        self.assertRegex(self.milter.output(), r"<bob@demo\.test>:spam")
        self.assertRegex(self.milter.output(), r"<alice@demo\.test>:inbox")

    def test_forged_spam_headers_are_removed(self):
        forged = "X-Spam-Score: -100\r\nX-Spam-Status: No, FORGEDVALUE\r\nx-spam-flag: NO\r\n"
        with self.postfix.smtp("127.0.0.8") as s:
            rcpt, data = h.send(s, "forger@example.org", [f"alice@{DOMAIN}"],
                                h.message("forger@example.org", [f"alice@{DOMAIN}"], subject="forged-1",
                                          extra_headers=forged))
        self.assertEqual(data[0], 250, data)
        msg = self.wait_delivered("alice", "forged-1")[0]
        head = msg.split("\n\n")[0]
        self.assertNotIn("-100", head)
        self.assertNotIn("FORGEDVALUE", head)
        self.assertNotIn("x-spam-flag", head.lower())
        self.assertEqual(head.count("X-Spam-Score:"), 1)

    def test_white_list_and_contacts_skip_scoring_black_list_refuses(self):
        h.pamperoctl(self.config, "list", "add", "white", "--user", f"carol@{DOMAIN}", "@trusted.example")
        vcf = os.path.join(self.work.path, "carol.vcf")
        with open(vcf, "w") as f:
            f.write("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Dana\r\nEMAIL;TYPE=work:Dana@Friends.example\r\nEND:VCARD\r\n")
        h.pamperoctl(self.config, "contacts", "import", f"carol@{DOMAIN}", vcf)
        h.pamperoctl(self.config, "list", "add", "black", "pest@annoying.example")
        carol = f"carol@{DOMAIN}"
        body = "PAMPERO-TEST-SCORE-SEVEN\n"  # would be refused at carol's level
        for sender, subject in (("boss@trusted.example", "white-1"), ("dana@friends.example", "contact-1")):
            with self.postfix.smtp("127.0.0.9") as s:
                rcpt, data = h.send(s, sender, [carol], h.message(sender, [carol], subject=subject, body=body))
            self.assertEqual(data[0], 250, (sender, data))
            self.wait_delivered("carol", subject)
        with self.postfix.smtp("127.0.0.9") as s:
            rcpt, data = h.send(s, "pest@annoying.example", [carol],
                                h.message("pest@annoying.example", [carol], subject="black-1"))
        self.assertEqual(data[0], 550, data)
        self.assertIn("black-listed", data[1])


class PostfixRefusesUnknownItself(unittest.TestCase):
    """Postfix knows its users and refuses unknown ones itself: the milter still counts them
    (SMFIP_RCPT_REJ) and bans the guesser."""

    @classmethod
    def setUpClass(cls):
        setup_stack(cls, "smtpd_reject_unlisted_recipient = yes\n")

    @classmethod
    def tearDownClass(cls):
        teardown_stack(cls)

    def test_mta_refusals_count_towards_the_ban(self):
        with self.postfix.smtp("127.0.0.20") as s:
            s.mail("guesser@example.org")
            replies = [s.rcpt(f"ghost{i}@{DOMAIN}") for i in range(5)]
        self.assertEqual([c for c, _ in replies], [550] * 5)
        self.assertIn(b"User unknown in virtual mailbox table", replies[0][1])
        h.wait_until(lambda: "banned after unknown recipient" in self.milter.output(), what="the ban log line")
        s = h.smtplib.SMTP(timeout=30, source_address=("127.0.0.20", 0))
        code, text = s.connect("127.0.0.1", self.postfix.port)
        if code == 220:
            code, text = s.ehlo("again.example")
            if code == 250:
                code, text = s.mail("guesser@example.org")
        s.close()
        self.assertEqual(code, 421, text)


class DependencyFailures(unittest.TestCase):
    """Nothing is lost when something breaks: 4xx, never 5xx."""

    def setUp(self):
        setup_stack(self)

    def tearDown(self):
        teardown_stack(self)

    def test_unreadable_directory_answers_451(self):
        with open(os.path.join(self.work.path, "directory.db"), "r+b") as f:
            f.write(b"this is not an SQLite database at all" * 200)
        with self.postfix.smtp("127.0.0.30") as s:
            s.mail("someone@example.org")
            code, text = s.rcpt(f"alice@{DOMAIN}")
        self.assertEqual(code, 451, text)
        self.assertIn(b"4.3.0", text)
        self.assertIn("answering 451", self.milter.output())

    def test_milter_down_answers_4xx(self):
        self.milter.stop()
        with self.postfix.smtp("127.0.0.31") as s:
            code, text = s.mail("someone@example.org")
            if code == 250:
                code, text = s.rcpt(f"alice@{DOMAIN}")
        self.assertTrue(400 <= code < 500, (code, text))


if __name__ == "__main__":
    unittest.main(verbosity=2)
