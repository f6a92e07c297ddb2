"""The harness itself: a private Postfix that cannot start because of something on our
side (here a main.cf setting smtpd refuses at start-up: a fatal error in its log, as a
map or peer of ours would give) fails at once with the log lines that say so, instead of
being retried as if the machine were slow."""
import time
import unittest

import harness as h


class QuickPostfix(h.Postfix):
    GREETING_WAIT = 10.0  # smtpd dies at every start; no need to wait the full minute


class PostfixStartFailures(unittest.TestCase):
    def test_a_cause_of_ours_is_not_retried(self):
        work = h.WorkDir()
        try:
            retries_before = len(h.Postfix.RETRIES)
            started = time.monotonic()
            with self.assertRaises(RuntimeError) as cm:
                QuickPostfix(work.path, main_cf="smtpd_client_connection_count_limit = not-a-number\n",
                             domains=["demo.test"])
            text = str(cm.exception)
            self.assertIn("blames our side (not retried)", text)
            self.assertIn("bad numerical configuration", text)
            self.assertIn("Postfix start 1/3 failed", text)
            self.assertNotIn("Postfix start 2/3", text)
            self.assertEqual(len(h.Postfix.RETRIES), retries_before)
            self.assertLess(time.monotonic() - started, 3 * QuickPostfix.GREETING_WAIT)
        finally:
            work.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
