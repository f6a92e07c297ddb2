"""The whole pipeline as the README sets it up: a private Postfix configured with the
shipped conf/postfix/main.cf.milter and conf/postfix/main.cf-store used as they are (only
the addresses replaced, as their comments ask), pampero-milter and pampero-store sharing
one pampero.yaml. Unknown users are refused at RCPT, aliases expand, clean mail reaches
the Inbox, mail the milter scores above a user's tag reaches that user's Spam folder,
GTUBE is refused in the session."""
import os
import re
import shutil
import unittest

import harness as h

TEST_RULES = h.RULES_SCORE_SEVEN


maildir = h.maildir


class ShippedSnippets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        os.makedirs(os.path.join(w, "rules.d"))
        shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"), os.path.join(w, "rules.d"))
        with open(os.path.join(w, "rules.d", "90-test.yaml"), "w") as f:
            f.write(TEST_RULES)
        cls.lmtp, cls.socketmap = h.free_port(), h.free_port()
        cls.mail = os.path.join(w, "mail")
        cls.config = h.store_config(w, cls.lmtp, cls.socketmap, cls.mail)
        with open(cls.config) as f:
            cls.milter_port = int(re.search(r"^milter:\n  socket: inet:(\d+)@127\.0\.0\.1$", f.read(), re.M).group(1))
        ctl = lambda *a: h.pamperoctl(cls.config, *a)
        ctl("domain", "add", "example.com")
        ctl("user", "add", "alice@example.com", "--level", "1")  # tolerant: tag 8
        ctl("user", "add", "bob@example.com", "--level", "3")    # standard: tag 5
        ctl("alias", "add", "team@example.com", "alice@example.com")
        ctl("alias", "add", "team@example.com", "bob@example.com")
        cls.store = h.start_store(cls.config, cls.lmtp, w)
        h.wait_for_port(cls.socketmap)
        cls.milter = h.start_milter(cls.config, cls.milter_port, w)
        main_cf = (h.shipped_snippet("main.cf.milter", {"inet:127.0.0.1:10025": f"inet:127.0.0.1:{cls.milter_port}"}) + "\n" +
                   h.shipped_snippet("main.cf-store", {"127.0.0.1:10026": f"127.0.0.1:{cls.socketmap}",
                                             "lmtp:inet:127.0.0.1:24": f"lmtp:inet:127.0.0.1:{cls.lmtp}"}))
        cls.postfix = h.Postfix(w, main_cf=main_cf)

    @classmethod
    def tearDownClass(cls):
        for name in ("postfix", "milter", "store"):
            if hasattr(cls, name):
                getattr(cls, name).stop()
        cls.work.close()

    def messages(self, address, folder=""):
        return h.maildir_messages(maildir(self.mail, address, folder))

    def test_the_pipeline_with_the_shipped_snippets(self):
        rcpts = ["alice@example.com", "team@example.com", "ghost@example.com"]
        with self.postfix.smtp("127.0.0.30") as s:
            rcpt, data = h.send(s, "friend@example.org", rcpts,
                                h.message("friend@example.org", rcpts[:2], subject="shipped-clean"))
        self.assertEqual([c for c, _ in rcpt], [250, 250, 550], rcpt)
        self.assertIn("5.1.1", rcpt[2][1])
        self.assertEqual(data[0], 250, data)
        # 7 points: over bob's tag (Spam folder), under alice's (Inbox).
        with self.postfix.smtp("127.0.0.31") as s:
            rcpt, data = h.send(s, "bulk@example.org", ["alice@example.com", "bob@example.com"],
                                h.message("bulk@example.org", ["alice@example.com", "bob@example.com"],
                                          subject="shipped-seven", body="Offer. PAMPERO-TEST-SCORE-SEVEN\r\n"))
        self.assertEqual(data[0], 250, data)
        with self.postfix.smtp("127.0.0.32") as s:
            rcpt, data = h.send(s, "spam@example.org", ["alice@example.com"],
                                h.message("spam@example.org", ["alice@example.com"], body=h.GTUBE + "\r\n"))
        self.assertEqual(data[0], 550, data)
        self.assertIn("5.7.1", data[1])

        self.postfix.wait_queue_empty(60)
        alice = self.messages("alice@example.com")
        bob, bob_spam = self.messages("bob@example.com"), self.messages("bob@example.com", "Spam")
        self.assertEqual(sum("shipped-clean" in m for m in alice), 2, alice)  # direct, and via team
        self.assertEqual(sum("shipped-clean" in m for m in bob), 1, bob)      # via team
        self.assertEqual(sum("shipped-seven" in m for m in alice), 1)
        self.assertEqual(sum("shipped-seven" in m for m in bob), 0)
        self.assertEqual(sum("shipped-seven" in m for m in bob_spam), 1, bob_spam)
        self.assertIn("X-Spam-Score: 7.0", next(m for m in bob_spam if "shipped-seven" in m))
        self.assertFalse([m for m in alice + bob + bob_spam if h.GTUBE in m])
        # Delivery went over the store's LMTP, as main.cf-store says.
        self.assertIn(f"relay=127.0.0.1[127.0.0.1]:{self.lmtp}", self.postfix.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
