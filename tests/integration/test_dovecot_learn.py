"""Learning from users' moves through a real private Dovecot with the shipped IMAPSieve
setup (conf/dovecot/: 95-pampero-learn.conf, learn-spam.sieve, learn-ham.sieve and the
pampero-learn wrapper, with this build's paths): a message delivered to the Inbox and
moved into Spam with IMAP UID MOVE is learned as spam (the classifier's spam count goes
up by one); moved back to the Inbox it is relearned as ham; moved into Spam twice it
counts once; moved from Spam to Trash it is not learned as ham."""
import imaplib
import os
import re
import shutil
import subprocess
import unittest

import harness as h

USER = "alice@example.com"


def message(i):
    return (f"From: deals{i}@offers.example\r\nTo: {USER}\r\nSubject: Cheap ink {i}\r\n"
            f"Message-ID: <ink{i}@offers.example>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\n"
            f"Save 60% on printer ink this week only, order {i} now.\r\n")


class LearnFromImapMoves(unittest.TestCase):
    CLASSIFIER = "classifier:\n  store: sqlite:bayes.db\n"

    def setUp(self):
        self.work = h.WorkDir()
        w = self.work.path
        self.mail = self.work.join("mail")
        os.makedirs(self.mail)
        self.config = h.write_config(w, h.free_port(), extra=self.CLASSIFIER)
        # The shipped files, with this build's paths where the installed ones would be.
        src = os.path.join(h.SOURCE, "conf", "dovecot")
        sieve_dir, pipe_dir = self.work.join("sieve"), self.work.join("sieve-pipe")
        os.makedirs(sieve_dir)
        os.makedirs(pipe_dir)
        for name in ("learn-spam.sieve", "learn-ham.sieve"):
            shutil.copy(os.path.join(src, name), sieve_dir)
        with open(os.path.join(src, "pampero-learn")) as f:
            wrapper = f.read()
        wrapper, n = re.subn(r"(?m)^PAMPEROCTL=.*$", "PAMPEROCTL=" + os.path.join(h.BIN, "pamperoctl"), wrapper)
        self.assertEqual(n, 1)
        wrapper, n = re.subn(r"(?m)^CONFIG=.*$", "CONFIG=" + self.config, wrapper)
        self.assertEqual(n, 1)
        with open(os.path.join(pipe_dir, "pampero-learn"), "w") as f:
            f.write(wrapper)
        os.chmod(os.path.join(pipe_dir, "pampero-learn"), 0o755)
        with open(os.path.join(src, "95-pampero-learn.conf")) as f:
            snippet = f.read()
        self.assertIn("/etc/dovecot/sieve/pampero", snippet)
        self.assertIn("/usr/lib/dovecot/sieve-pipe", snippet)
        snippet = snippet.replace("/etc/dovecot/sieve/pampero", sieve_dir) \
                         .replace("/usr/lib/dovecot/sieve-pipe", pipe_dir)
        # Dovecot runs the wrapper as the mail user (nobody here, vmail on a site): it
        # writes the store, the Maildirs and the compiled scripts.
        subprocess.run(["chown", "-R", "nobody:nogroup", w], check=True)
        # Dovecot caps a service's address space (default_vsz_limit, 256M), and the pipe
        # inherits it from imap: a sanitizer build's pamperoctl cannot map its shadow
        # memory under it. Not needed on a site (a release pamperoctl fits); for the
        # ASan pass of scripts/test.
        snippet += "\ndefault_vsz_limit = 0\n"
        self.dovecot = h.Dovecot(w, self.mail, [USER], extra=snippet)

    def tearDown(self):
        self.dovecot.stop()
        self.work.close()

    def counts(self, *args):
        out = h.pamperoctl(self.config, "classifier", "stats", *args).stdout
        spam = int(re.search(r"^spam: (\d+)$", out, re.M).group(1))
        ham = int(re.search(r"^ham: (\d+)$", out, re.M).group(1))
        learned = int(re.search(r"^learned messages: (\d+)$", out, re.M).group(1))
        return spam, ham, learned

    def deliver(self, i):
        c = h.Lmtp(self.dovecot.lmtp_port)
        _, data = c.deliver("deals@offers.example", [USER], message(i))
        c.close()
        self.assertEqual(data[0][0], 250, data)

    def move(self, m, source, subject, target):
        typ, _ = m.select(source)
        self.assertEqual(typ, "OK")
        typ, data = m.uid("SEARCH", "SUBJECT", f'"{subject}"')
        uids = data[0].split()
        self.assertEqual(len(uids), 1, (source, subject, data))
        typ, data = m.uid("MOVE", uids[0].decode(), target)
        self.assertEqual(typ, "OK", data)

    def test_moves_into_and_out_of_spam_are_learned(self):
        self.deliver(1)
        self.deliver(2)
        m = imaplib.IMAP4("127.0.0.1", self.dovecot.imap_port)
        self.assertEqual(m.login(USER, "secret")[0], "OK")
        for box in ("Spam", "Trash"):
            self.assertEqual(m.create(box)[0], "OK")
        self.assertFalse(os.path.exists(self.work.join("bayes.db")))  # nothing learned yet

        self.move(m, "INBOX", "Cheap ink 1", "Spam")
        self.assertEqual(self.counts(), (1, 0, 1), self.dovecot.log())
        # Out of Spam into the Inbox: the same message relearned as ham.
        self.move(m, "Spam", "Cheap ink 1", "INBOX")
        self.assertEqual(self.counts(), (0, 1, 1), self.dovecot.log())
        # Into Spam again, and a copy of it into Spam once more: one spam.
        self.move(m, "INBOX", "Cheap ink 1", "Spam")
        self.assertEqual(self.counts(), (1, 0, 1), self.dovecot.log())
        m.select("Spam")
        typ, data = m.uid("SEARCH", "SUBJECT", '"Cheap ink 1"')
        self.assertEqual(m.uid("COPY", data[0].split()[0].decode(), "Spam")[0], "OK")
        self.assertEqual(self.counts(), (1, 0, 1), self.dovecot.log())
        # A second message: the count goes up by one.
        self.move(m, "INBOX", "Cheap ink 2", "Spam")
        self.assertEqual(self.counts(), (2, 0, 2), self.dovecot.log())
        # From Spam to the Trash: deleting spam is not saying it is ham.
        self.move(m, "Spam", "Cheap ink 2", "Trash")
        self.assertEqual(self.counts(), (2, 0, 2), self.dovecot.log())
        m.logout()
        self.assertNotIn("Error", self.dovecot.log())


class LearnIntoTheUsersModel(LearnFromImapMoves):
    """classifier.model: user: the wrapper passes Dovecot's USER, so a MOVE into Spam
    trains that user's model (bayes.d/USER.db, made by the mail user) and not the site's."""
    CLASSIFIER = ("classifier:\n  store: sqlite:bayes.db\n  model: user\n"
                  "  model_store: sqlite:bayes.d/%m.db\n")

    def test_moves_into_and_out_of_spam_are_learned(self):
        self.deliver(1)
        m = imaplib.IMAP4("127.0.0.1", self.dovecot.imap_port)
        self.assertEqual(m.login(USER, "secret")[0], "OK")
        self.assertEqual(m.create("Spam")[0], "OK")
        self.move(m, "INBOX", "Cheap ink 1", "Spam")
        self.assertEqual(self.counts("--for", USER), (1, 0, 1), self.dovecot.log())
        self.assertTrue(os.path.exists(self.work.join("bayes.d", USER + ".db")))
        self.assertFalse(os.path.exists(self.work.join("bayes.db")))  # the site's: untouched
        self.move(m, "Spam", "Cheap ink 1", "INBOX")
        self.assertEqual(self.counts("--for", USER), (0, 1, 1), self.dovecot.log())
        self.assertFalse(os.path.exists(self.work.join("bayes.db")))
        m.logout()
        self.assertNotIn("Error", self.dovecot.log())


if __name__ == "__main__":
    unittest.main()
