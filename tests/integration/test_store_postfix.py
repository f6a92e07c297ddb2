"""Postfix routing through pampero-store's socketmap to the right storage node.

Two pampero-store instances (nodes n1 and n2, each with its own mail root) share one
directory. A private Postfix asks n1's socketmap which domains, mailboxes and aliases
exist and which node holds each user, and delivers over LMTP to that node. Also: a
message that reaches the wrong node is forwarded to the right one (its reply relayed);
a node that is down gives 4xx, never a bounce; a user in migration gets the message in
both locations."""
import os
import sqlite3
import unittest

import harness as h


maildir = h.maildir


class StoreWithPostfix(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.db = self.work.join("directory.db")
        self.p1, self.m1, self.p2, self.m2 = (h.free_port() for _ in range(4))
        nodes = {"n1": self.p1, "n2": self.p2}
        self.root1, self.root2 = self.work.join("mail1"), self.work.join("mail2")
        for sub in ("n1", "n2"):
            os.makedirs(self.work.join(sub))
        self.cfg1 = h.store_config(self.work.join("n1"), self.p1, self.m1, self.root1, node="n1",
                                   nodes=nodes, directory=self.db)
        self.cfg2 = h.store_config(self.work.join("n2"), self.p2, self.m2, self.root2, node="n2",
                                   nodes=nodes, directory=self.db)
        ctl = lambda *a: h.pamperoctl(self.cfg1, *a)
        ctl("domain", "add", "example.com")
        ctl("user", "add", "alice@example.com", "--node", "n1")
        ctl("user", "add", "bob@example.com", "--node", "n2")
        ctl("user", "add", "carol@example.com", "--node", "n1")
        ctl("alias", "add", "team@example.com", "alice@example.com")
        ctl("alias", "add", "team@example.com", "bob@example.com")
        # carol is being moved to n2: until --finish both locations get her mail.
        ctl("user", "migrate", "carol@example.com", "--node", "n2")
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT node, maildir FROM migrations").fetchall(),
                             [("n2", "example.com/carol/")])
        self.s1 = h.start_store(self.cfg1, self.p1, self.work.path, name="store-n1")
        self.s2 = h.start_store(self.cfg2, self.p2, self.work.path, name="store-n2")
        self.postfix = None

    def tearDown(self):
        if self.postfix:
            self.postfix.stop()
        for s in (self.s1, self.s2):
            if s:
                s.stop()
        self.work.close()

    def start_postfix(self):
        # smtpd opens the socketmap tables as it starts: have both stores' maps listening
        # first, or a busy machine can see smtpd fail once and master throttle it for 60 s.
        for port in (self.m1, self.m2):
            h.wait_for_port(port)
        sm = f"socketmap:inet:127.0.0.1:{self.m1}"
        self.postfix = h.Postfix(self.work.path, main_cf=(
            f"virtual_mailbox_domains = {sm}:domain\n"
            f"virtual_mailbox_maps = {sm}:mailbox\n"
            f"virtual_alias_maps = {sm}:alias\n"
            f"transport_maps = {sm}:transport\n"
            f"virtual_transport = lmtp:inet:127.0.0.1:{self.p1}\n"
            "smtpd_reject_unlisted_recipient = yes\n"))

    def test_postfix_routes_each_user_to_its_node(self):
        self.start_postfix()
        smtp = self.postfix.smtp()
        rcpts = ["alice@example.com", "bob@example.com", "team@example.com", "carol@example.com",
                 "ghost@example.com"]
        data = h.message("sender@other.org", rcpts[:4], subject="routed")
        rcpt, (code, text) = h.send(smtp, "sender@other.org", rcpts, data)
        smtp.quit()
        self.assertEqual([c for c, _ in rcpt], [250, 250, 250, 250, 550], rcpt)
        self.assertIn("5.1.1", rcpt[4][1])
        self.assertEqual(code, 250, text)
        self.postfix.wait_queue_empty(60)

        def count(root, who):
            return len(h.maildir_messages(maildir(root, who)))
        h.wait_until(lambda: count(self.root2, "carol@example.com") == 1, 30, "carol's copy on n2")
        self.assertEqual(count(self.root1, "alice@example.com"), 2)  # direct + via team
        self.assertEqual(count(self.root2, "bob@example.com"), 2)    # direct + via team, on n2
        self.assertEqual(count(self.root1, "bob@example.com"), 0)
        self.assertEqual(count(self.root2, "alice@example.com"), 0)
        self.assertEqual(count(self.root1, "carol@example.com"), 1)  # migration: both places
        self.assertEqual(count(self.root2, "carol@example.com"), 1)
        bob = h.maildir_messages(maildir(self.root2, "bob@example.com"))[0]
        self.assertTrue(bob.startswith("Return-Path: <sender@other.org>\nDelivered-To: bob@example.com\n"))
        self.assertIn("Subject: routed", bob)
        log = self.postfix.log()
        self.assertIn(f"relay=127.0.0.1[127.0.0.1]:{self.p2}", log)
        self.assertIn(f"relay=127.0.0.1[127.0.0.1]:{self.p1}", log)
        # The store logs Postfix's queue id for each delivery.
        qids = {l.split(": ")[1] for l in log.splitlines() if "status=sent" in l}
        self.assertTrue(any(q in self.s2.output() for q in qids), (qids, self.s2.output()))

    def test_wrong_node_forwards_and_relays_the_reply(self):
        c = h.Lmtp(self.p1)
        rcpt, data = c.deliver("a@other.org", ["bob@example.com", "alice@example.com"],
                               "Subject: wrong door\n\nx\n")
        c.close()
        self.assertEqual([r[0] for r in rcpt], [250, 250])
        self.assertEqual([d[0] for d in data], [250, 250], data)
        self.assertIn("bob@example.com", data[0][1][0])  # n2's own reply, relayed
        self.assertEqual(len(h.maildir_messages(maildir(self.root2, "bob@example.com"))), 1)
        self.assertFalse(os.path.exists(maildir(self.root1, "bob@example.com")))
        self.assertIn("forwarded to node n2: 250", self.s1.output())
        # n2's refusal is relayed too: bob over quota on n2.
        h.pamperoctl(self.cfg1, "user", "add", "tiny@example.com", "--node", "n2", "--quota", "10")
        c = h.Lmtp(self.p1)
        rcpt, data = c.deliver("a@other.org", ["tiny@example.com"], "Subject: big\n\n" + "x" * 100 + "\n")
        c.close()
        self.assertEqual(data[0][0], 552, data)
        self.assertTrue(data[0][1][0].startswith("5.2.2"))

    def test_node_down_is_temporary_and_nothing_is_written(self):
        self.s2.stop()
        self.s2 = None
        c = h.Lmtp(self.p1)
        rcpt, data = c.deliver("a@other.org", ["bob@example.com", "carol@example.com"],
                               "Subject: n2 down\n\nx\n")
        c.close()
        self.assertEqual([r[0] for r in rcpt], [250, 250])
        self.assertEqual(data[0][0], 451, data)
        self.assertTrue(data[0][1][0].startswith("4.4.1"))
        # carol's n1 copy was written but her n2 copy failed: the reply is 4xx so the MTA
        # retries (a duplicate on n1 at worst, never a lost copy on n2).
        self.assertEqual(data[1][0], 451, data)
        self.assertFalse(os.path.exists(maildir(self.root2, "bob@example.com")))

    def test_finished_migration_delivers_to_the_new_node_only(self):
        h.pamperoctl(self.cfg1, "user", "migrate", "carol@example.com", "--finish")
        c = h.Lmtp(self.p1)
        _, data = c.deliver("a@other.org", ["carol@example.com"], "Subject: moved\n\nx\n")
        c.close()
        self.assertEqual(data[0][0], 250, data)
        self.assertEqual(len(h.maildir_messages(maildir(self.root2, "carol@example.com"))), 1)
        self.assertFalse(os.path.exists(maildir(self.root1, "carol@example.com")))

    def test_forwarded_copy_is_never_forwarded_again(self):
        # XPAMPERO-LOCAL (what n1 sends to n2): n2 delivers only what it holds.
        c = h.Lmtp(self.p2)
        c.cmd("LHLO n1")
        c.cmd("MAIL FROM:<a@other.org>")
        self.assertEqual(c.cmd("RCPT TO:<alice@example.com> XPAMPERO-LOCAL")[0], 451)  # alice is n1's
        self.assertEqual(c.cmd("RCPT TO:<carol@example.com> XPAMPERO-LOCAL")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: hop\r\n\r\nx\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.close()
        self.assertEqual(len(h.maildir_messages(maildir(self.root2, "carol@example.com"))), 1)
        self.assertFalse(os.path.exists(maildir(self.root1, "carol@example.com")))


if __name__ == "__main__":
    unittest.main()
