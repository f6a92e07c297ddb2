"""A real Dovecot (IMAP and POP3, private instance on loopback) reads what pampero-store
wrote: the Inbox, the Spam folder (listed and subscribed), message bytes, and the
Maildir++ quota (Dovecot's GETQUOTAROOT shows the limit and usage from our maildirsize;
an expunge through Dovecot frees room that pampero-store then sees)."""
import imaplib
import os
import poplib
import re
import subprocess
import unittest

import harness as h

BLOCK = ("0123456789" * 9 + "\n") * 50  # 4,550 octets of body


maildir = h.maildir


def maildirsize_total(root):
    with open(os.path.join(root, "maildirsize")) as f:
        lines = f.read().splitlines()
    return lines[0], sum(int(l.split()[0]) for l in lines[1:] if l.strip()), \
        sum(int(l.split()[1]) for l in lines[1:] if l.strip())


def files_total(root):
    total, count = 0, 0
    for folder in [root] + [os.path.join(root, d) for d in os.listdir(root) if d.startswith(".")]:
        for sub in ("new", "cur"):
            d = os.path.join(folder, sub)
            if os.path.isdir(d):
                for n in os.listdir(d):
                    total += os.path.getsize(os.path.join(d, n))
                    count += 1
    return total, count


class StoreWithDovecot(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.lmtp_port, self.map_port = h.free_port(), h.free_port()
        self.mail = self.work.join("mail")
        self.config = h.store_config(self.work.path, self.lmtp_port, self.map_port, self.mail)
        h.pamperoctl(self.config, "domain", "add", "example.com")
        h.pamperoctl(self.config, "user", "add", "alice@example.com", "--quota", "1M")
        h.pamperoctl(self.config, "user", "add", "bob@example.com", "--quota", "12000")
        # Dovecot will not open mail as root: both run as nobody, as a vmail user would.
        os.makedirs(self.mail)
        subprocess.run(["chown", "-R", "nobody:nogroup", self.work.path], check=True)
        self.store = h.start_store(self.config, self.lmtp_port, self.work.path, as_user="nobody")
        self.dovecot = h.Dovecot(self.work.path, self.mail, ["alice@example.com", "bob@example.com"])

    def tearDown(self):
        self.dovecot.stop()
        self.store.stop()
        self.work.close()

    def deliver(self, rcpt, subject, score=None, body=BLOCK):
        c = h.Lmtp(self.lmtp_port)
        msg = (h.signed_message(subject, str(score), body) if score is not None
               else f"Subject: {subject}\n\n{body}")
        _, data = c.deliver("sender@other.org", [rcpt], msg)
        c.close()
        return data[0]

    def imap(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.dovecot.imap_port)
        self.assertEqual(m.login(user, "secret")[0], "OK")
        return m

    def test_imap_reads_inbox_spam_and_quota(self):
        self.assertEqual(self.deliver("alice@example.com", "first")[0], 250)
        self.assertEqual(self.deliver("alice@example.com", "second", score=1.0)[0], 250)
        self.assertEqual(self.deliver("alice@example.com", "junk", score=6.0)[0], 250)  # level 3: Spam
        m = self.imap("alice@example.com")
        typ, boxes = m.list()
        self.assertEqual(typ, "OK")
        names = {b.decode().rsplit(" ", 1)[1].strip('"') for b in boxes}
        self.assertEqual(names, {"INBOX", "Spam"})
        typ, subs = m.lsub()
        self.assertTrue(any(b.decode().endswith("Spam") for b in subs), subs)

        typ, n = m.select("INBOX", readonly=True)
        self.assertEqual(n, [b"2"])
        typ, data = m.fetch("1:2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT DELIVERED-TO RETURN-PATH)] RFC822.SIZE)")
        headers = b"".join(d[1] for d in data if isinstance(d, tuple)).decode()
        self.assertIn("Subject: first", headers)
        self.assertIn("Subject: second", headers)
        self.assertIn("Delivered-To: alice@example.com", headers)
        self.assertIn("Return-Path: <sender@other.org>", headers)
        typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
        self.assertEqual(data[0][1].decode().replace("\r\n", "\n"), BLOCK)
        typ, n = m.select("Spam", readonly=True)
        self.assertEqual(n, [b"1"])
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT X-SPAM-SCORE)])")
        self.assertIn("Subject: junk", data[0][1].decode())

        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        quota = " ".join(x.decode() for x in data[1] if x)
        mq = re.search(r"STORAGE (\d+) (\d+)", quota)
        self.assertIsNotNone(mq, data)
        definition, used, count = maildirsize_total(maildir(self.mail, "alice@example.com"))
        self.assertEqual(definition, "1048576S")
        self.assertEqual((used, count), files_total(maildir(self.mail, "alice@example.com")))
        self.assertEqual(int(mq.group(2)), 1024)          # the limit pampero-store wrote, in KiB
        self.assertIn(int(mq.group(1)), (used // 1024, (used + 1023) // 1024))
        m.logout()

    def test_expunge_through_dovecot_frees_quota_for_the_store(self):
        self.assertEqual(self.deliver("bob@example.com", "one")[0], 250)
        self.assertEqual(self.deliver("bob@example.com", "two")[0], 250)
        code, lines = self.deliver("bob@example.com", "three")
        self.assertEqual(code, 552)  # ~14 kB > 12000
        self.assertTrue(lines[0].startswith("5.2.2"))
        m = self.imap("bob@example.com")
        m.select("INBOX")
        m.store("1", "+FLAGS", "\\Deleted")
        m.expunge()
        m.logout()
        root = maildir(self.mail, "bob@example.com")
        _, used, count = maildirsize_total(root)
        self.assertEqual((used, count), files_total(root))  # Dovecot updated our file
        self.assertEqual(count, 1)
        self.assertEqual(self.deliver("bob@example.com", "three again")[0], 250)
        p = poplib.POP3("127.0.0.1", self.dovecot.pop3_port)
        p.user("bob@example.com")
        p.pass_("secret")
        n, _ = p.stat()
        self.assertEqual(n, 2)
        subjects = []
        for i in (1, 2):
            lines = p.top(i, 0)[1]
            subjects += [l.decode() for l in lines if l.startswith(b"Subject:")]
        p.quit()
        self.assertEqual(sorted(subjects), ["Subject: three again", "Subject: two"])


if __name__ == "__main__":
    unittest.main()
