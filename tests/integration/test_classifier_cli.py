"""`pamperoctl learn` and `classifier stats`, and the classifier in `pamperoctl scan`:
learning from a Maildir folder, an mbox file and plain files; learn-once; relearning as
the other class; forget; the BAYES_* rule in the explanation once enough is learned; a
missing store abstains (a warning, no score); a corrupt store is refused naming the file.
No corpus needed: the messages are made here."""
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
    return (f"From: sender{i}@{kind}.example\nTo: alice@example.org\nSubject: {subject}\n"
            f"Message-ID: <{kind}{i}@{kind}.example>\n\n{body}\nnumber {i}\n")


class CtlFiles:
    """pamperoctl with the test's config, asserting its exit code; files in the work folder."""

    def ctl(self, *args, code=0, config=None):
        p = h.pamperoctl(config or self.config, *args, check=False)
        self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
        return p

    def assert_vote(self, address, path, model, bayes=None):
        """`scan --for ADDRESS PATH` says `model` voted, with the rule `bayes` (None: none)."""
        out = self.ctl("scan", "--for", address, path).stdout
        self.assertIn(f"model: {model}", out)
        if bayes:
            self.assertIn(bayes, out)
        else:
            self.assertNotIn("BAYES_", out)

    def write(self, name, text):
        path = os.path.join(self.w, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path


class LearnAndScan(CtlFiles, unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.w = self.work.path
        self.config = h.write_config(
            self.w, h.free_port(),
            extra="classifier:\n  store: sqlite:bayes.db\n  min_spam: 3\n  min_ham: 3\n")

    def tearDown(self):
        self.work.close()

    def test_learn_from_maildir_mbox_and_files_then_scan(self):
        # Ham in a Maildir (cur/ and new/), spam in an mbox (with a quoted >From line).
        for i in range(3):
            self.write(f"Maildir/cur/{i}:2,S", message(i, "ham"))
        self.write("Maildir/new/3", message(3, "ham"))
        self.write("Maildir/tmp/4", message(4, "ham"))  # tmp/ is not delivered mail
        mbox = "".join(f"From sender{i}@spam.example Mon Jan  1 00:00:00 2024\n"
                       + message(i, "spam").replace("number", ">From number") + "\n"
                       for i in range(4))
        self.write("spam.mbox", mbox)
        out = self.ctl("learn", "ham", os.path.join(self.w, "Maildir")).stdout
        self.assertIn("learned 4,", out)
        out = self.ctl("learn", "spam", os.path.join(self.w, "spam.mbox")).stdout
        self.assertIn("learned 4,", out)
        self.assertIn("holds 4 spam and 4 ham", out)
        # Learning the same messages again counts nothing.
        out = self.ctl("learn", "spam", os.path.join(self.w, "spam.mbox")).stdout
        self.assertIn("learned 0, relearned 0, already learned 4", out)
        stats = self.ctl("classifier", "stats").stdout
        self.assertIn("spam: 4\nham: 4\n", stats)
        self.assertIn("votes: yes", stats)

        spam = self.write("new-spam.eml", message(9, "spam"))
        ham = self.write("new-ham.eml", message(9, "ham"))
        self.assertRegex(self.ctl("scan", spam).stdout, r"BAYES_99")
        self.assertIn("BAYES_00", self.ctl("scan", ham).stdout)

        # A plain file learned as the other class moves its counts; forget takes them out.
        out = self.ctl("learn", "ham", os.path.join(self.w, "Maildir", "new", "3")).stdout
        self.assertIn("already learned 1", out)
        one = self.write("one.eml", message(0, "ham"))
        self.assertIn("relearned 1", self.ctl("learn", "spam", one).stdout)
        self.assertIn("spam: 5\nham: 3\n", self.ctl("classifier", "stats").stdout)
        self.assertIn("holds 4 spam and 3 ham", self.ctl("learn", "forget", one).stdout)
        self.assertIn("not learned 1", self.ctl("learn", "forget", one).stdout)

    def test_learn_one_message_from_standard_input(self):
        # What the Dovecot hook does (conf/dovecot/pampero-learn): `learn spam|ham -`.
        def learn(what, text, code=0):
            p = subprocess.run([os.path.join(h.BIN, "pamperoctl"), "-c", self.config, "learn",
                                what, "-"], input=text, capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
            return p.stdout
        self.assertIn("learned 1,", learn("spam", message(1, "spam")))
        self.assertIn("holds 1 spam and 0 ham", learn("spam", message(1, "spam")))  # once
        out = learn("ham", message(1, "spam"))  # moved out of Spam: relearned as ham
        self.assertIn("relearned 1,", out)
        self.assertIn("holds 0 spam and 1 ham", out)
        # An mbox on standard input (a leading "From " line) is split like a file's.
        mbox = "".join(f"From x Mon Jan  1 00:00:00 2024\n{message(i, 'spam')}\n" for i in (2, 3))
        self.assertIn("holds 2 spam and 1 ham", learn("spam", mbox))
        # A message larger than the learning bound is read to its end (the writer never sees
        # a broken pipe) and learned from its first 10 MB.
        big = message(4, "spam") + ("x" * 99 + "\n") * 120_000
        self.assertIn("holds 3 spam and 1 ham", learn("spam", big))
        p = subprocess.run([os.path.join(h.BIN, "pamperoctl"), "-c", self.config, "learn", "spam",
                            "-", "-"], input="", capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 64, p.stderr)

    def test_unreadable_path_fails_but_the_others_are_learned(self):
        good = self.write("good.eml", message(1, "spam"))
        p = self.ctl("learn", "spam", os.path.join(self.w, "missing.eml"), good, code=1)
        self.assertIn("missing.eml: cannot open", p.stderr)
        self.assertIn("learned 1,", p.stdout)

    def test_missing_store_abstains_and_corrupt_store_is_refused(self):
        msg = self.write("m.eml", message(1, "spam"))
        p = self.ctl("scan", msg)
        self.assertNotIn("BAYES_", p.stdout)
        self.assertIn("abstains", p.stderr)
        self.assertIn("No such file", self.ctl("classifier", "stats", code=75).stderr)
        self.assertFalse(os.path.exists(os.path.join(self.w, "bayes.db")))

        self.write("bayes.db", "this is not a database\n" * 300)
        p = self.ctl("scan", msg, code=78)
        self.assertIn(os.path.join(self.w, "bayes.db"), p.stderr)
        p = self.ctl("learn", "spam", msg, code=78)
        self.assertIn("bayes.db", p.stderr)

    def test_too_little_learned_abstains(self):
        self.ctl("learn", "spam", self.write("s.eml", message(1, "spam")))
        self.ctl("learn", "ham", self.write("h.eml", message(1, "ham")))
        self.assertIn("votes: no (needs 3 spam and 3 ham)", self.ctl("classifier", "stats").stdout)
        self.assertNotIn("BAYES_", self.ctl("scan", self.write("m.eml", message(2, "spam"))).stdout)


class PerUserModels(CtlFiles, unittest.TestCase):
    """classifier.model: user: `learn --for` trains that user's model (its file and its
    directory made with the site store's modes), `scan --for` says which model voted,
    `classifier stats --for` shows it; the site model is left alone."""

    def setUp(self):
        self.work = h.WorkDir()
        self.w = self.work.path
        self.config = h.write_config(
            self.w, h.free_port(),
            extra="classifier:\n  store: sqlite:bayes.db\n  min_spam: 3\n  min_ham: 3\n"
                  "  model: user\n  model_store: sqlite:bayes.d/%m.db\n")

    def tearDown(self):
        self.work.close()

    def train(self, *extra):
        spam = [self.write(f"s{i}.eml", message(i, "spam")) for i in range(3)]
        ham = [self.write(f"h{i}.eml", message(i, "ham")) for i in range(3)]
        self.ctl("learn", "spam", *extra, *spam)
        return self.ctl("learn", "ham", *extra, *ham).stdout

    def test_learn_for_a_user_trains_their_model_only(self):
        os.umask(0o077)  # the modes below must not come from the umask
        out = self.train("--for", "Bob@Example.ORG")
        user_db = os.path.join(self.w, "bayes.d", "bob@example.org.db")
        self.assertIn(user_db, out)
        self.assertIn("holds 3 spam and 3 ham", out)
        self.assertEqual(os.stat(user_db).st_mode & 0o777, 0o660)
        self.assertEqual(os.stat(os.path.dirname(user_db)).st_mode & 0o7777, 0o2770)
        self.assertFalse(os.path.exists(os.path.join(self.w, "bayes.db")))
        stats = self.ctl("classifier", "stats", "--for", "bob@example.org").stdout
        self.assertIn("model: user:bob@example.org\n", stats)
        self.assertIn("spam: 3\nham: 3\n", stats)

        spam = self.write("new-spam.eml", message(9, "spam"))
        self.assert_vote("bob@example.org", spam, "user:bob@example.org (for bob@example.org)",
                         "BAYES_99")
        # Another user has no model, nor has the site: nothing votes.
        self.assert_vote("carol@example.org", spam, "none")
        # A site model trained: it votes for carol, as her fallback.
        self.train()
        self.assert_vote("carol@example.org", spam, "site (fallback)", "BAYES_99")

    def test_scan_rcpt_uses_each_recipients_model(self):
        # As the milter: each --rcpt scored with their own mailbox's model (an alias is
        # its owner's), the message's verdict the lowest of those not refused.
        self.train("--for", "bob@example.org")
        self.ctl("domain", "add", "example.org")
        self.ctl("user", "add", "bob@example.org")
        self.ctl("user", "add", "carol@example.org")
        self.ctl("alias", "add", "robert@example.org", "bob@example.org")
        spam = self.write("new-spam.eml", message(9, "spam"))
        out = self.ctl("scan", "--rcpt", "robert@example.org", "--rcpt", "carol@example.org",
                       spam).stdout
        self.assertRegex(out, r"-> robert@example.org: spam \(.*; model user:bob@example.org, "
                              r"score \d+\.\d\)")
        self.assertRegex(out, r"-> carol@example.org: inbox \(.*; model none, score \d+\.\d\)")
        carol = re.search(r"carol@example.org: inbox .*score (\d+\.\d)\)", out).group(1)
        self.assertRegex(out, rf"^\S+: score {re.escape(carol)}\n")
        self.assertNotIn("BAYES_", out.split("->")[0])

    def test_unsafe_address_is_refused_and_escaped_keys_stay_in_the_folder(self):
        p = self.ctl("learn", "spam", "--for", "no-at-sign",
                     self.write("s.eml", message(1, "spam")), code=64)
        self.assertIn("no-at-sign", p.stderr)
        self.ctl("learn", "spam", "--for", "../../etc/x@example.org",
                 self.write("t.eml", message(2, "spam")))
        self.assertEqual(os.listdir(os.path.join(self.w, "bayes.d")),
                         ["%2E.%2F..%2Fetc%2Fx@example.org.db"])

    def test_site_model_learns_with_for(self):
        config = h.write_config(
            self.w, h.free_port(),
            extra="classifier:\n  store: sqlite:bayes.db\n  min_spam: 3\n  min_ham: 3\n")
        self.config = config
        out = self.train("--for", "bob@example.org")
        self.assertIn(os.path.join(self.w, "bayes.db"), out)
        self.assertFalse(os.path.exists(os.path.join(self.w, "bayes.d")))

    def test_model_user_needs_a_model_store(self):
        config = h.write_config(self.w, h.free_port(),
                                extra="classifier:\n  model: user\n")
        p = h.pamperoctl(config, "classifier", "stats", check=False)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn("model_store", p.stderr)


if __name__ == "__main__":
    unittest.main()
