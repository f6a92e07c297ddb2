"""The classifier in the SMTP session: a store trained with `pamperoctl learn` scores a
message through the milter (its BAYES_* rule in the delivered X-Spam headers, as
`pamperoctl scan` explains it), and a corrupt store stops the milter from starting,
naming the file."""
import os
import re
import subprocess
import unittest

import harness as h


def message(i, kind):
    if kind == "spam":
        subject, body = f"Cheap meds {i}", "Buy cheap pills online, best viagra prices, order now"
    else:
        subject, body = f"Project meeting {i}", "The agenda for the project meeting is attached"
    return (f"From: sender{i}@{kind}.example\nTo: alice@demo.test\nSubject: {subject}\n"
            f"Message-ID: <{kind}{i}@{kind}.example>\n\n{body}\nnumber {i}\n")


CLASSIFIER = "classifier:\n  store: sqlite:bayes.db\n  min_spam: 3\n  min_ham: 3\n"


def train(config, w, *args):
    """Four made-up spam and four ham learned (`args`: e.g. --for ADDRESS)."""
    for kind in ("spam", "ham"):
        os.makedirs(os.path.join(w, kind))
        for i in range(4):
            with open(os.path.join(w, kind, f"{i}.eml"), "w") as f:
                f.write(message(i, kind))
        h.pamperoctl(config, "learn", *args, kind, os.path.join(w, kind))


class ClassifierInTheSession(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.port = h.free_port()
        cls.config = h.write_config(w, cls.port, extra=CLASSIFIER)
        h.pamperoctl(cls.config, "domain", "add", "demo.test")
        h.pamperoctl(cls.config, "user", "add", "alice@demo.test")
        train(cls.config, w)
        cls.milter = h.start_milter(cls.config, cls.port, w)
        cls.postfix = h.Postfix(w, main_cf=f"smtpd_milters = inet:127.0.0.1:{cls.port}\n",
                                domains=["demo.test"], mailboxes=["alice@demo.test"])

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.milter.stop()
        cls.work.close()

    def test_bayes_rule_in_the_delivered_headers(self):
        body = "Buy cheap pills online, best viagra prices, order now\r\n"
        with self.postfix.smtp("127.0.0.70") as s:
            rcpt, data = h.send(s, "x@spam.example", ["alice@demo.test"],
                                h.message("x@spam.example", ["alice@demo.test"], subject="bayes-1",
                                          body=body))
        self.assertEqual(data[0], 250, data)
        msg = h.wait_until(lambda: [m for m in self.postfix.delivered("alice@demo.test")
                                    if "bayes-1" in m], what="delivery")[0]
        self.assertRegex(msg, r"BAYES_99")
        f = os.path.join(self.work.path, "m.eml")
        with open(f, "w") as fh:
            fh.write("From: x@spam.example\nSubject: bayes-1\n\n" + body)
        self.assertRegex(h.pamperoctl(self.config, "scan", f).stdout, r"BAYES_99")

    def test_corrupt_store_stops_the_milter_naming_the_file(self):
        w = os.path.join(self.work.path, "corrupt")
        os.makedirs(w)
        config = h.write_config(w, h.free_port(), extra=CLASSIFIER)
        h.pamperoctl(config, "domain", "add", "demo.test")
        with open(os.path.join(w, "bayes.db"), "w") as f:
            f.write("not a database\n" * 500)
        p = subprocess.run([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", config],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn(os.path.join(w, "bayes.db"), p.stderr)


class PerUserModelsInTheSession(unittest.TestCase):
    """classifier.model: user through real Postfix: one message to bob, whose own model
    learned its kind as spam, and to carol, who has no model (nor has the site): spam for
    bob (level 5, tag 3), Inbox for carol; the one copy's headers carry the lower verdict
    (carol's: another user's model never makes her mail spam), and the milter's log line
    shows both scores and models."""

    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.port = h.free_port()
        cls.config = h.write_config(
            w, cls.port,
            extra=CLASSIFIER + "  model: user\n  model_store: sqlite:bayes.d/%m.db\n")
        h.pamperoctl(cls.config, "domain", "add", "demo.test")
        h.pamperoctl(cls.config, "user", "add", "bob@demo.test", "--level", "5")
        h.pamperoctl(cls.config, "user", "add", "carol@demo.test")
        train(cls.config, w, "--for", "bob@demo.test")
        cls.milter = h.start_milter(cls.config, cls.port, w)
        cls.postfix = h.Postfix(w, main_cf=f"smtpd_milters = inet:127.0.0.1:{cls.port}\n",
                                domains=["demo.test"],
                                mailboxes=["bob@demo.test", "carol@demo.test"])

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.milter.stop()
        cls.work.close()

    def test_two_recipients_two_models_two_decisions(self):
        self.assertFalse(os.path.exists(os.path.join(self.work.path, "bayes.db")))
        body = "Buy cheap pills online, best viagra prices, order now\r\n"
        rcpts = ["bob@demo.test", "carol@demo.test"]
        with self.postfix.smtp("127.0.0.71") as s:
            rcpt, data = h.send(s, "x@spam.example", rcpts,
                                h.message("x@spam.example", rcpts, subject="per-user-1",
                                          body=body))
        self.assertEqual([r[0] for r in rcpt], [250, 250], rcpt)
        self.assertEqual(data[0], 250, data)
        msg = h.wait_until(lambda: [m for m in self.postfix.delivered("carol@demo.test")
                                    if "per-user-1" in m], what="carol's delivery")[0]
        self.assertNotIn("BAYES_", msg)  # her verdict: no model voted for her
        self.assertRegex(msg, r"X-Spam-Status: No")
        line = h.wait_until(lambda: [l for l in self.milter.output().splitlines()
                                     if "rcpts:" in l and "<carol@demo.test>" in l],
                            what="the milter's log line")[0]
        self.assertRegex(line, r"<bob@demo\.test>:spam\(score=\d+\.\d model=user:bob@demo\.test\)")
        self.assertRegex(line, r"<carol@demo\.test>:inbox\(score=\d+\.\d model=none\)")
        scores = [float(x) for x in re.findall(r"\(score=(\d+\.\d)", line)]
        self.assertGreater(scores[0], scores[1])
        self.assertIn(f"X-Spam-Score: {scores[1]:.1f}", msg)


if __name__ == "__main__":
    unittest.main(verbosity=2)
