"""pampero-milter behind a real private Postfix with its directory on a real MariaDB
(scripts/mariadb-instance), the password in directory_password_file: known users are
accepted, unknown ones refused (550 5.1.1); while MariaDB is stopped every RCPT is
451 4.3.0 (never 550: an outage must not make users unknown), and once it is back the
same milter, never restarted, answers from it again and sees users added meanwhile."""
import os
import unittest

import harness as h

DOMAIN = "farm.test"


class MilterOnMariaDB(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.db = h.MariaDBServer().start(cls.work.join("mariadb"))
        pw = cls.work.join("db.password")
        with open(pw, "w") as f:
            f.write("pampero-test\n")
        cls.milter_port = h.free_port()
        cls.config = h.write_config(w, cls.milter_port)
        with open(cls.config) as f:
            text = "".join(line for line in f if not line.startswith("directory:"))
        with open(cls.config, "w") as f:
            f.write(f"directory: mariadb://pampero@127.0.0.1:{cls.db.port}/pampero\n"
                    f"directory_password_file: {pw}\ndirectory_timeout: 2\n" + text)
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        h.pamperoctl(cls.config, "user", "add", f"alice@{DOMAIN}")
        cls.milter = h.start_milter(cls.config, cls.milter_port, w)
        cls.postfix = h.Postfix(w, main_cf=f"smtpd_milters = inet:127.0.0.1:{cls.milter_port}\n",
                                domains=[DOMAIN], mailboxes=[f"alice@{DOMAIN}", f"bob@{DOMAIN}"])

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.milter.stop()
        cls.db.stop()
        cls.work.close()

    def rcpt(self, client, address):
        with self.postfix.smtp(client) as s:
            s.mail("someone@example.org")
            return s.rcpt(address)

    def test_outage_defers_and_a_restart_heals(self):
        self.assertEqual(self.rcpt("127.0.0.40", f"alice@{DOMAIN}")[0], 250)
        code, text = self.rcpt("127.0.0.41", f"nobody@{DOMAIN}")
        self.assertEqual(code, 550, text)
        self.assertIn(b"5.1.1", text)

        self.db.stop()
        try:
            for client, address in [("127.0.0.42", f"nobody@{DOMAIN}"),
                                    ("127.0.0.43", f"alice@{DOMAIN}")]:
                code, text = self.rcpt(client, address)
                self.assertEqual(code, 451, (address, text))
                self.assertIn(b"4.3.0", text)
        finally:
            self.db.start(self.db.dir, self.db.port)

        code, text = self.rcpt("127.0.0.44", f"alice@{DOMAIN}")
        self.assertEqual(code, 250, text)
        self.assertTrue(self.milter.alive())
        h.pamperoctl(self.config, "user", "add", f"bob@{DOMAIN}")
        self.assertEqual(self.rcpt("127.0.0.45", f"bob@{DOMAIN}")[0], 250)


if __name__ == "__main__":
    unittest.main(verbosity=2)
