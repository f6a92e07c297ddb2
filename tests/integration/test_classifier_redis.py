"""The classifier's Redis store (redis_store.hpp) through pamperoctl, on a private
redis-server (a missing redis-server fails): `learn spam|ham` into it, `classifier stats`
shows the counts, `scan` shows a BAYES_* rule once trained; two prefixes are two models;
Redis down -> `learn` exits 75 (temporary) with a clear message and `scan` still answers,
without a BAYES_* rule. Messages: tests/data/demo's ham and ones made here."""
import glob
import os
import unittest

import harness as h
from test_classifier_cli import CtlFiles, message  # the same made-up spam and ham


class RedisStore(CtlFiles, unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.w = self.work.path
        self.redis = h.RedisServer().start(os.path.join(self.w, "redis"))
        self.config = self.write_config("site:")

    def tearDown(self):
        self.redis.stop()
        self.work.close()

    def write_config(self, prefix, name="pampero.yaml"):
        config = h.write_config(
            self.w, h.free_port(),
            extra=(f"classifier:\n  store: \"{self.redis.url}/0?prefix=bayes:{prefix}"
                   f"&timeout_ms=300\"\n  min_spam: 3\n  min_ham: 3\n"))
        if name != "pampero.yaml":
            os.rename(config, os.path.join(self.w, name))
            config = os.path.join(self.w, name)
        return config

    def test_learn_stats_scan_and_redis_down(self):
        spam_dir = os.path.join(self.w, "spam")
        for i in range(4):
            self.write(f"spam/{i}.eml", message(i, "spam"))
        hams = sorted(glob.glob(os.path.join(h.SOURCE, "tests", "data", "demo", "ham-*.eml")))
        self.assertGreaterEqual(len(hams), 3)
        for i in range(3):
            self.write(f"ham/{i}.eml", message(i, "ham"))
        out = self.ctl("learn", "spam", spam_dir).stdout
        self.assertIn("learned 4,", out)
        self.assertIn("redis://127.0.0.1:", out)
        out = self.ctl("learn", "ham", os.path.join(self.w, "ham"), *hams).stdout
        self.assertIn(f"learned {3 + len(hams)},", out)
        self.assertIn(f"holds 4 spam and {3 + len(hams)} ham", out)
        out = self.ctl("learn", "spam", spam_dir).stdout
        self.assertIn("already learned 4", out)
        stats = self.ctl("classifier", "stats").stdout
        self.assertIn(f"spam: 4\nham: {3 + len(hams)}\n", stats)
        self.assertIn("votes: yes", stats)
        self.assertIn("prefix=bayes:site:", stats)
        # What Redis holds: the counts under the prefix.
        self.assertEqual(self.redis.cli("HGET", "bayes:site:meta", "spam").strip(), "4")

        spam = self.write("new-spam.eml", message(9, "spam"))
        ham = self.write("new-ham.eml", message(9, "ham"))
        self.assertRegex(self.ctl("scan", spam).stdout, r"BAYES_99")
        self.assertIn("BAYES_00", self.ctl("scan", ham).stdout)

        # Another prefix is another model: nothing learned there yet.
        other = self.write_config("other:", name="other.yaml")
        self.config = self.write_config("site:")  # write_config wrote pampero.yaml again
        p = self.ctl("classifier", "stats", config=other, code=75)
        self.assertIn("nothing learned yet", p.stderr)
        self.assertNotIn("BAYES_", self.ctl("scan", spam, config=other).stdout)

        # Redis down: learning is a temporary failure (75) naming Redis; a scan still
        # answers, without the classifier.
        self.redis.stop()
        p = self.ctl("learn", "spam", spam, code=75)
        self.assertIn("classifier store: redis 127.0.0.1:", p.stderr)
        self.ctl("classifier", "stats", code=75)
        p = self.ctl("scan", spam)
        self.assertNotIn("BAYES_", p.stdout)
        self.assertIn("classifier abstains", p.stderr)


class RedisDomainModels(CtlFiles, unittest.TestCase):
    """classifier.model: domain with a Redis model_store: `learn --for` writes under the
    domain's own prefix (its key escaped: a ':' in it cannot reach another model's keys),
    `scan --for` votes with it, another domain falls back to the site model."""

    def setUp(self):
        self.work = h.WorkDir()
        self.w = self.work.path
        self.redis = h.RedisServer().start(os.path.join(self.w, "redis"))
        self.config = h.write_config(
            self.w, h.free_port(),
            extra=(f"classifier:\n  store: \"{self.redis.url}/0?prefix=bayes:site:\"\n"
                   f"  min_spam: 3\n  min_ham: 3\n  model: domain\n"
                   f"  model_store: \"{self.redis.url}/0?prefix=bayes:%m:&timeout_ms=300\"\n"))

    def tearDown(self):
        self.redis.stop()
        self.work.close()

    def test_domain_model_in_redis(self):
        for i in range(3):
            self.write(f"spam/{i}.eml", message(i, "spam"))
            self.write(f"ham/{i}.eml", message(i, "ham"))
        self.ctl("learn", "--for", "bob@Example.ORG", "spam", os.path.join(self.w, "spam"))
        out = self.ctl("learn", "--for", "carol@example.org", "ham",
                       os.path.join(self.w, "ham")).stdout
        self.assertIn("prefix=bayes:example.org:", out)
        self.assertIn("holds 3 spam and 3 ham", out)
        self.assertEqual(self.redis.cli("HGET", "bayes:example.org:meta", "spam").strip(), "3")
        self.assertEqual(self.redis.cli("EXISTS", "bayes:site:meta").strip(), "0")
        stats = self.ctl("classifier", "stats", "--for", "dave@example.org").stdout
        self.assertIn("model: domain:example.org\n", stats)
        # A ':' in the domain is escaped: its keys stay under a prefix of their own.
        self.ctl("learn", "--for", "x@a:b", "spam", os.path.join(self.w, "spam"))
        self.assertEqual(self.redis.cli("HGET", "bayes:a%3Ab:meta", "spam").strip(), "3")

        spam = self.write("new-spam.eml", message(9, "spam"))
        self.assert_vote("erin@example.org", spam, "domain:example.org", "BAYES_99")
        self.assert_vote("erin@example.net", spam, "none")


if __name__ == "__main__":
    unittest.main()
