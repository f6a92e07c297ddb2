"""A mailbox moved between two storage nodes whose directory caches disagree (issue 12):
every message lands exactly once.

Two real pampero-store processes, n1 and n2, on one SQLite directory; n1 reads it fresh
(directory_cache_ttl 0), n2 through a cache of 300 s. mover@example.com starts on n1; the
move to n2 starts (pamperoctl user migrate --node n2) and n2 takes a message while both
nodes receive (so n2 caches "n1, moving to n2"); then the move finishes (--finish). A
message that reaches n2 now (as Postfix sends it: the socketmap says n2) is delivered by
n2 into its own Maildir and forwarded to n1, which knows better. n1 used to refuse that
copy with 451 4.3.0, so n2 answered the whole recipient 451 and every retry of the MTA
left one more copy in n2's Maildir until n2's cache let go. Now n1 answers 451 4.1.6
(mailbox has moved) and n2 counts its own copy: 250, found once.
"""
import os
import unittest

import harness as h

MOVER = "mover@example.com"
STALE_TTL = 300


class StoreMoveWithStaleCache(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.ports = {"n1": h.free_port(), "n2": h.free_port()}
        directory = self.work.join("directory.db")
        self.mail, self.config, self.stores = {}, {}, {}
        for node in ("n1", "n2"):
            d = self.work.join(node)
            os.makedirs(d)
            self.mail[node] = os.path.join(d, "mail")
            self.config[node] = h.store_config(d, self.ports[node], h.free_port(),
                                               self.mail[node], node=node, nodes=self.ports,
                                               directory=directory)
        with open(self.config["n2"]) as f:
            text = f.read()
        self.assertIn("directory_cache_ttl: 0\n", text)
        with open(self.config["n2"], "w") as f:
            f.write(text.replace("directory_cache_ttl: 0\n",
                                 f"directory_cache_ttl: {STALE_TTL}\n"))
        h.pamperoctl(self.config["n1"], "domain", "add", "example.com")
        h.pamperoctl(self.config["n1"], "user", "add", MOVER, "--node", "n1")
        for node in ("n1", "n2"):
            self.stores[node] = h.start_store(self.config[node], self.ports[node],
                                              os.path.dirname(self.config[node]), name=node)

    def tearDown(self):
        for d in self.stores.values():
            d.stop()
        self.work.close()

    def found(self, node, subject):
        msgs = h.maildir_messages(h.maildir(self.mail[node], MOVER))
        return sum(1 for m in msgs if f"\nSubject: {subject}\n" in m)

    def deliver_like_postfix(self, node, subject, attempts=3):
        """Sends one message to `node` and retries a 4xx as an MTA would (at most
        `attempts` times); the replies of each attempt."""
        replies = []
        for _ in range(attempts):
            c = h.Lmtp(self.ports[node])
            try:
                rcpt, data = c.deliver("s@other.org", [MOVER],
                                       h.message("s@other.org", [MOVER], subject=subject))
                c.cmd("QUIT")
            finally:
                c.close()
            code, lines = data[0] if data else rcpt[0]
            replies.append((code, lines[-1]))
            if code // 100 != 4:
                break
        return replies

    def test_a_message_right_after_the_move_lands_once(self):
        h.pamperoctl(self.config["n1"], "user", "migrate", MOVER, "--node", "n2")
        # While both nodes receive: n2 delivers its copy and forwards one to n1; n2 now
        # caches this view (n1, moving to n2) for STALE_TTL seconds.
        self.assertEqual(self.deliver_like_postfix("n2", "during")[0][0], 250)
        self.assertEqual((self.found("n1", "during"), self.found("n2", "during")), (1, 1))

        h.pamperoctl(self.config["n1"], "user", "migrate", MOVER, "--finish")
        self.assertIn("node:    n2", h.pamperoctl(self.config["n1"], "user", "show", MOVER).stdout)
        replies = self.deliver_like_postfix("n2", "after")
        # The scenario happened: n2 (stale) forwarded a copy and n1 (fresh) refused it.
        log = self.stores["n2"].output()
        self.assertIn("to=<mover@example.com> forwarded to node n1: 451 ", log)
        # Exactly once, where the mailbox now is, and acknowledged at the first attempt
        # (the old code: 451 4.3.0 at each of the 3 attempts and 3 copies in n2).
        self.assertEqual((self.found("n1", "after"), self.found("n2", "after")), (0, 1),
                         f"replies: {replies}")
        self.assertEqual([code for code, _ in replies], [250], replies)
        self.assertIn("forwarded to node n1: 451 4.1.6 <mover@example.com>: mailbox has moved",
                      log)


if __name__ == "__main__":
    unittest.main()
