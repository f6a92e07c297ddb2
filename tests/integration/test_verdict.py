"""The spam verdict only pampero can write (issue 8), through real Postfix, pampero-milter
and two pampero-store nodes.

pampero-store used to file by X-Spam-Score whoever wrote it: a GTUBE message carrying
`X-Spam-Score: -99` submitted with sendmail (pickup, where the shipped snippet left
non_smtpd_milters empty) reached the Inbox unscanned, and anyone reaching the LMTP port
could pick the folder. Now the milter signs its verdict (X-Spam-Signature) and the store
trusts only a valid signature. Paths tested:
  - local submission with Postfix's sendmail, using the shipped main.cf.milter snippet;
  - SMTP through the milter: signed, filed by the score, on this node and forwarded to
    the node holding the mailbox (the verdict survives the forward);
  - a direct LMTP connection with a forged score, a garbage signature, a signature
    replayed on another body, and mail forwarded between nodes unsigned;
  - key rotation and a bad key file on SIGHUP; pamperoctl verdict-key.
"""
import os
import re
import shutil
import signal
import stat
import subprocess
import unittest

import harness as h

TEST_RULES = """rules:
  - name: TEST_SCORE_SEVEN
    target: body
    regex: 'PAMPERO-TEST-SCORE-SEVEN'
    score: 7
"""


maildir = h.maildir


def count(root, address, folder=""):
    return len(h.maildir_messages(maildir(root, address, folder)))


def key_lines(path):
    with open(path) as f:
        return [l.split() for l in f if l.strip() and not l.startswith("#")]


class VerdictFarm(unittest.TestCase):
    """Postfix -> pampero-milter -> LMTP to store n1; bob's mailbox is on n2."""

    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.db = cls.work.join("directory.db")
        cls.p1, cls.m1, cls.p2, cls.m2, cls.milter_port = (h.free_port() for _ in range(5))
        nodes = {"n1": cls.p1, "n2": cls.p2}
        cls.root1, cls.root2 = cls.work.join("mail1"), cls.work.join("mail2")
        for sub in ("n1", "n2", "mx"):
            os.makedirs(cls.work.join(sub))
        cls.cfg1 = h.store_config(cls.work.join("n1"), cls.p1, cls.m1, cls.root1, node="n1",
                                  nodes=nodes, directory=cls.db)
        cls.cfg2 = h.store_config(cls.work.join("n2"), cls.p2, cls.m2, cls.root2, node="n2",
                                  nodes=nodes, directory=cls.db)
        mx = cls.work.join("mx")
        os.makedirs(os.path.join(mx, "rules.d"))
        shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"),
                    os.path.join(mx, "rules.d"))
        with open(os.path.join(mx, "rules.d", "90-test.yaml"), "w") as f:
            f.write(TEST_RULES)
        cls.mx_cfg = h.write_config(mx, cls.milter_port, directory=cls.db)
        ctl = lambda *a: h.pamperoctl(cls.cfg1, *a)
        ctl("domain", "add", "example.com")
        ctl("user", "add", "alice@example.com", "--node", "n1", "--level", "3")
        ctl("user", "add", "bob@example.com", "--node", "n2", "--level", "3")
        ctl("user", "add", "carol@example.com", "--node", "n1", "--level", "3")
        cls.s1 = h.start_store(cls.cfg1, cls.p1, w, name="store-n1")
        cls.s2 = h.start_store(cls.cfg2, cls.p2, w, name="store-n2")
        cls.milter = h.start_milter(cls.mx_cfg, cls.milter_port, mx)
        h.wait_for_port(cls.m1)
        sm = f"socketmap:inet:127.0.0.1:{cls.m1}"
        # Every local user goes to n1 over LMTP: n1 forwards bob's copy to n2, as a
        # storage node does when Postfix's transport map is stale or absent.
        cls.postfix = h.Postfix(w, main_cf=h.shipped_milter_snippet(f"inet:127.0.0.1:{cls.milter_port}") + (
            f"virtual_mailbox_domains = {sm}:domain\n"
            f"virtual_mailbox_maps = {sm}:mailbox\n"
            f"virtual_alias_maps = {sm}:alias\n"
            f"virtual_transport = lmtp:inet:127.0.0.1:{cls.p1}\n"))

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.milter.stop()
        cls.s1.stop()
        cls.s2.stop()
        cls.work.close()

    def smtp_send(self, rcpts, subject, body, extra_headers=""):
        smtp = self.postfix.smtp()
        rcpt, (code, text) = h.send(smtp, "sender@other.org", rcpts,
                                    h.message("sender@other.org", rcpts, subject=subject,
                                              body=body, extra_headers=extra_headers))
        smtp.quit()
        return [c for c, _ in rcpt], code, text

    def find(self, root, address, subject, folder=""):
        return [m for m in h.maildir_messages(maildir(root, address, folder))
                if f"Subject: {subject}\n" in m]

    def lmtp(self, port, rcpts, data, sender="a@other.org"):
        c = h.Lmtp(port)
        _, replies = c.deliver(sender, rcpts, data)
        c.close()
        return replies

    def test_local_submission_of_gtube_with_a_forged_score_never_reaches_the_inbox(self):
        # Regression: with the old snippet (non_smtpd_milters empty) this reached the Inbox.
        msg = ("From: carol@example.com\nTo: alice@example.com\nSubject: local gtube\n"
               "X-Spam-Score: -99\nX-Spam-Status: No, score=-99\n\n" + h.GTUBE + "\n")
        p = subprocess.run(["sendmail", "-C", os.path.join(self.postfix.dir, "etc"), "-i",
                            "-f", "carol@example.com", "alice@example.com"],
                           input=msg, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        # A ham message the same way is scanned and signed, and lands in the Inbox.
        ham = ("From: carol@example.com\nTo: alice@example.com\nSubject: local ham\n"
               "X-Spam-Score: 99\n\nhello from cron\n")
        p = subprocess.run(["sendmail", "-C", os.path.join(self.postfix.dir, "etc"), "-i",
                            "-f", "carol@example.com", "alice@example.com"],
                           input=ham, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        h.wait_until(lambda: self.find(self.root1, "alice@example.com", "local ham"), 90,
                     "the local ham in alice's Inbox")
        self.postfix.wait_queue_empty(90)
        self.assertEqual(self.find(self.root1, "alice@example.com", "local gtube"), [])
        self.assertEqual(self.find(self.root1, "alice@example.com", "local gtube", "Spam"), [])
        self.assertIn("milter-reject", self.postfix.log())  # refused by the milter, bounced
        ham_copy = self.find(self.root1, "alice@example.com", "local ham")[0]
        self.assertEqual(ham_copy.count("X-Spam-Score:"), 1)  # the forged 99 was removed
        self.assertIn("X-Spam-Signature: v=1; k=it; ", ham_copy)
        self.assertIn("verdict signed (key it), score 0.0", self.s1.output())

    def test_smtp_mail_is_signed_and_keeps_its_verdict_through_a_forward(self):
        codes, code, text = self.smtp_send(["alice@example.com", "bob@example.com"], "seven",
                                           "PAMPERO-TEST-SCORE-SEVEN\n.dotted line\n" + "x " * 600 + "\n",
                                           extra_headers="X-Spam-Score: -99\r\n")
        self.assertEqual((codes, code), ([250, 250], 250), text)
        h.wait_until(lambda: self.find(self.root2, "bob@example.com", "seven", "Spam"), 60,
                     "bob's copy in Spam on n2")
        alice = self.find(self.root1, "alice@example.com", "seven", "Spam")
        self.assertEqual(len(alice), 1)  # level 3: 5 <= 7 < 15
        self.assertEqual(self.find(self.root1, "alice@example.com", "seven"), [])
        self.assertIn("X-Spam-Score: 7.0\n", alice[0])
        self.assertNotIn("-99", alice[0])
        self.assertIn("forwarded to node n2: 250", self.s1.output())
        self.assertIn("verdict signed (key it), score 7.0", self.s2.output())
        self.assertFalse(os.path.exists(maildir(self.root1, "bob@example.com")))

    def test_direct_lmtp_cannot_choose_the_folder(self):
        # A forged score and no signature: store.unsigned (inbox: filed as unscored).
        self.assertEqual(self.lmtp(self.p1, ["carol@example.com"],
                                   "Subject: forged high\nX-Spam-Score: 99\n\nhello\n")[0][0], 250)
        self.assertEqual(len(self.find(self.root1, "carol@example.com", "forged high")), 1)
        self.assertIn("verdict unsigned: X-Spam-Score without X-Spam-Signature; store.unsigned: inbox",
                      self.s1.output())
        # A forged score with a garbage signature: store.bad_signature (spam).
        forged = ("Subject: forged low\nX-Spam-Score: -99\nX-Spam-Status: No\n"
                  "X-Spam-Signature: v=1; k=it; t=1; bh=AAAA; s=AAAA\n\n" + h.GTUBE + "\n")
        self.assertEqual(self.lmtp(self.p1, ["carol@example.com"], forged)[0][0], 250)
        self.assertEqual(len(self.find(self.root1, "carol@example.com", "forged low", "Spam")), 1)
        self.assertEqual(self.find(self.root1, "carol@example.com", "forged low"), [])
        self.assertIn("verdict invalid: signature does not match", self.s1.output())

        # A real signature from the milter, replayed on another body.
        codes, code, text = self.smtp_send(["carol@example.com"], "genuine", "nice and clean\n")
        self.assertEqual(code, 250, text)
        h.wait_until(lambda: self.find(self.root1, "carol@example.com", "genuine"), 60, "the genuine one")
        genuine = self.find(self.root1, "carol@example.com", "genuine")[0]
        head = genuine.split("\n\n", 1)[0]
        head = "\n".join(l for l in head.split("\n")
                         if not l.startswith(("Return-Path:", "Delivered-To:")))
        self.assertIn("X-Spam-Score: 0.0", head)
        replay = head + "\n\n" + h.GTUBE + "\n"
        self.assertEqual(self.lmtp(self.p1, ["carol@example.com"], replay)[0][0], 250)
        self.assertIn("verdict invalid: the body is not the one signed; store.bad_signature: spam",
                      self.s1.output())
        self.assertEqual(len(self.find(self.root1, "carol@example.com", "genuine", "Spam")), 1)
        # The same message replayed whole is the same verdict on the same content.
        self.assertEqual(self.lmtp(self.p1, ["carol@example.com"], head + "\n\nnice and clean\n")[0][0], 250)
        self.assertEqual(len(self.find(self.root1, "carol@example.com", "genuine")), 2)

    def test_forwarded_mail_stays_unsigned_or_signed_as_it_came(self):
        # Unsigned, forged high, through n1 to bob on n2: n2 applies its own unsigned rule.
        self.assertEqual(self.lmtp(self.p1, ["bob@example.com"],
                                   "Subject: fwd unsigned\nX-Spam-Score: 40\n\nx\n")[0][0], 250)
        self.assertEqual(len(self.find(self.root2, "bob@example.com", "fwd unsigned")), 1)
        self.assertIn("verdict unsigned: X-Spam-Score without X-Spam-Signature", self.s2.output())
        # Signed by the farm's key (the harness signs as the milter does), score 6.
        self.assertEqual(self.lmtp(self.p1, ["bob@example.com"],
                                   h.signed_message("fwd signed", "6.0", "y\n"))[0][0], 250)
        self.assertEqual(len(self.find(self.root2, "bob@example.com", "fwd signed", "Spam")), 1)

    def test_z_key_rotation_without_downtime(self):
        """The documented rotation on the milter and both nodes, mail flowing throughout."""
        ctl = os.path.join(h.BIN, "pamperoctl")
        daemons = [(self.work.join("mx", "verdict.keys"), self.milter),
                   (self.work.join("n1", "verdict.keys"), self.s1),
                   (self.work.join("n2", "verdict.keys"), self.s2)]

        def everywhere(*args):
            for path, daemon in daemons:
                if args[0] == "new":  # the same secret on every node: copy the mx's line
                    if path == daemons[0][0]:
                        p = subprocess.run([ctl, "verdict-key", *args[:1], path, *args[1:]],
                                           capture_output=True, text=True)
                        self.assertEqual(p.returncode, 0, p.stderr)
                        with open(path) as f:
                            line = f.readlines()[-1]
                    else:
                        with open(path, "a") as f:
                            f.write(line)
                else:
                    p = subprocess.run([ctl, "verdict-key", args[0], path, *args[1:]],
                                       capture_output=True, text=True)
                    self.assertEqual(p.returncode, 0, p.stderr)
                before = daemon.output().count("reloaded")
                daemon.signal(signal.SIGHUP)
                h.wait_until(lambda: daemon.output().count("reloaded") > before, what="a reload")

        def send_and_check(subject, key):
            codes, code, text = self.smtp_send(["alice@example.com", "bob@example.com"], subject,
                                               "PAMPERO-TEST-SCORE-SEVEN\n")
            self.assertEqual(code, 250, text)
            h.wait_until(lambda: self.find(self.root2, "bob@example.com", subject, "Spam"), 60,
                         f"bob's '{subject}' in Spam")
            alice = self.find(self.root1, "alice@example.com", subject, "Spam")
            self.assertEqual(len(alice), 1)
            self.assertIn(f"X-Spam-Signature: v=1; k={key}; ", alice[0])

        invalid_before = (self.s1.output().count("verdict invalid"),
                          self.s2.output().count("verdict invalid"))
        everywhere("new", "--id", "next")          # 1: verifies everywhere, does not sign
        send_and_check("rotation one", "it")
        everywhere("promote", "next")               # 2: signs
        send_and_check("rotation two", "next")
        self.assertIn("verdict signed (key next), score 7.0", self.s2.output())
        # A broken key file on the milter: reload refused, it keeps signing with "next".
        mx_keys = daemons[0][0]
        os.chmod(mx_keys, 0o604)
        self.milter.signal(signal.SIGHUP)
        h.wait_until(lambda: "reload refused, keeping the running keys" in self.milter.output(),
                     what="the refused reload")
        os.chmod(mx_keys, 0o600)
        send_and_check("rotation three", "next")
        # Not one message of the rotation failed verification on either node.
        self.assertEqual((self.s1.output().count("verdict invalid"),
                          self.s2.output().count("verdict invalid")), invalid_before)


class VerdictKeysReload(unittest.TestCase):
    """One store: key rotation by SIGHUP, a bad key file keeps the old keys, and
    pamperoctl verdict-key."""

    def setUp(self):
        self.work = h.WorkDir()
        self.port, self.mport = h.free_port(), h.free_port()
        self.mail = self.work.join("mail")
        self.config = h.store_config(self.work.path, self.port, self.mport, self.mail)
        h.pamperoctl(self.config, "domain", "add", "example.com")
        h.pamperoctl(self.config, "user", "add", "dave@example.com")
        self.store = h.start_store(self.config, self.port, self.work.path)
        self.keys = self.work.join("verdict.keys")

    def tearDown(self):
        self.store.stop()
        self.work.close()

    def deliver(self, subject, **kw):
        c = h.Lmtp(self.port)
        _, replies = c.deliver("a@other.org", ["dave@example.com"],
                               h.signed_message(subject, "6.0", "z\n", **kw))
        c.close()
        self.assertEqual(replies[0][0], 250)

    def folder_of(self, subject):
        for folder in ("", "Spam"):
            if any(f"Subject: {subject}\n" in m
                   for m in h.maildir_messages(maildir(self.mail, "dave@example.com", folder))):
                return folder or "INBOX"
        return None

    def reload(self, expect):
        before = self.store.output().count(expect)
        self.store.signal(signal.SIGHUP)
        h.wait_until(lambda: self.store.output().count(expect) > before, what=expect)

    def test_rotation_and_bad_key_file(self):
        ctl = os.path.join(h.BIN, "pamperoctl")
        new = bytes(range(101, 133))
        # Step 1: the new key added second: both verify, the old one still signs.
        with open(self.keys, "a") as f:
            f.write(f"new {new.hex()}\n")
        self.reload("reloaded")
        self.deliver("old key", key_id="it")
        self.deliver("new key", key_id="new", secret=new)
        self.assertEqual(self.folder_of("old key"), "Spam")  # 6.0 >= tag 5: signed and trusted
        self.assertEqual(self.folder_of("new key"), "Spam")
        # Step 3: the old key dropped: its signatures no longer verify (bad_signature: spam).
        h.write_verdict_keys(self.work.path, f"new {new.hex()}\n")
        self.reload("reloaded")
        self.deliver("old key later", key_id="it")
        self.assertIn("verdict invalid: unknown key 'it'", self.store.output())
        # A key file others can read is refused; the running keys keep verifying.
        os.chmod(self.keys, 0o644)
        self.reload("reload refused")
        self.assertIn(f"{self.keys}: readable by others (mode 0644)", self.store.output())
        self.deliver("still new", key_id="new", secret=new)
        self.assertNotIn("unknown key 'new'", self.store.output())
        self.assertEqual(self.folder_of("still new"), "Spam")

        # pamperoctl verdict-key: a new file (0640), a key added last, then promoted.
        path = self.work.join("fresh.keys")
        first = subprocess.run([ctl, "verdict-key", "new", path], capture_output=True, text=True)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        second = subprocess.run([ctl, "verdict-key", "new", path, "--id", "next"],
                                capture_output=True, text=True)
        self.assertEqual(second.stdout.strip(), "next")
        self.assertEqual([k[0] for k in key_lines(path)], [first.stdout.strip(), "next"])
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{64}", k[1]) for k in key_lines(path)))
        promoted = subprocess.run([ctl, "verdict-key", "promote", path, "next"],
                                  capture_output=True, text=True)
        self.assertEqual(promoted.returncode, 0, promoted.stderr)
        self.assertEqual([k[0] for k in key_lines(path)], ["next", first.stdout.strip()])
        dup = subprocess.run([ctl, "verdict-key", "new", path, "--id", "next"],
                             capture_output=True, text=True)
        self.assertNotEqual(dup.returncode, 0)
        self.assertIn("appears twice", dup.stderr)


if __name__ == "__main__":
    unittest.main()
