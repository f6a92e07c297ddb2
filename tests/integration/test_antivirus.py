"""Viruses refused in the SMTP session: EICAR through a real Postfix and pampero-milter
with libclamav in-process, and new signatures picked up without a restart.

No signature download is possible here: the test writes its own .ndb signatures (EICAR,
and a marker string added while the milter runs)."""
import base64
import os
import signal
import unittest

import harness as h

# Assembled at run time so this file is no EICAR carrier itself.
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def ndb(name, text):
    return f"{name}:0:*:{text.encode().hex()}\n"


class AntivirusBehindPostfix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.sigs = os.path.join(w, "signatures")
        os.makedirs(cls.sigs)
        with open(os.path.join(cls.sigs, "eicar.ndb"), "w") as f:
            f.write(ndb("Pampero.Test.EICAR", EICAR))
        cls.port = h.free_port()
        cls.config = h.write_config(
            w, cls.port, extra="antivirus:\n  signatures: signatures\n  max_size: 10M\n  reload_check: 1\n")
        h.pamperoctl(cls.config, "domain", "add", "demo.test")
        h.pamperoctl(cls.config, "user", "add", "alice@demo.test")
        cls.milter = h.start_milter(cls.config, cls.port, w)
        cls.postfix = h.Postfix(w, main_cf=f"smtpd_milters = inet:127.0.0.1:{cls.port}\n",
                                domains=["demo.test"], mailboxes=["alice@demo.test"])

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.milter.stop()
        cls.work.close()

    def send(self, ip, body, subject, extra_headers=""):
        with self.postfix.smtp(ip) as s:
            return h.send(s, "a@example.org", ["alice@demo.test"],
                          h.message("a@example.org", ["alice@demo.test"], subject=subject, body=body,
                                    extra_headers=extra_headers))[1]

    def test_eicar_attachment_is_refused_with_554(self):
        b64 = base64.b64encode(EICAR.encode()).decode()
        body = ("--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                "--B\r\nContent-Type: application/octet-stream; name=x.com\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--B--\r\n")
        code, text = self.send("127.0.0.50", body, "virus-1",
                               "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n")
        self.assertEqual(code, 554, text)
        self.assertIn("5.7.1", text)
        self.assertIn("Pampero.Test.EICAR", text)
        self.assertRegex(self.milter.output(), r"virus=Pampero\.Test\.EICAR")

    def test_clean_mail_passes(self):
        code, text = self.send("127.0.0.51", "just words\r\n", "clean-av")
        self.assertEqual(code, 250, text)
        h.wait_until(lambda: [m for m in self.postfix.delivered("alice@demo.test") if "clean-av" in m],
                     what="delivery")

    def test_new_signatures_are_loaded_while_running(self):
        marker = "PAMPERO-NEW-SIGNATURE-MARKER-77"
        self.assertEqual(self.send("127.0.0.52", marker + "\r\n", "before-sig")[0], 250)
        with open(os.path.join(self.sigs, "local.ndb"), "w") as f:
            f.write(ndb("Pampero.Test.Marker", marker))
        h.wait_until(lambda: "virus signatures reloaded: 2 signatures" in self.milter.output(),
                     what="the signature reload")
        code, text = self.send("127.0.0.53", marker + "\r\n", "after-sig")
        self.assertEqual(code, 554, text)
        self.assertIn("Pampero.Test.Marker", text)


class AntivirusConfiguration(unittest.TestCase):
    def test_missing_signatures_refuse_to_start(self):
        work = h.WorkDir()
        try:
            config = h.write_config(work.path, h.free_port(), extra="antivirus:\n  signatures: nowhere\n")
            import subprocess
            p = subprocess.run([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", config],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 78)
            self.assertIn("nowhere: not a folder", p.stderr)
        finally:
            work.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
