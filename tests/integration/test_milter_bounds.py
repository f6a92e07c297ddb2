"""Filter bypasses by header count and by padding, through a real Postfix, pampero-milter
(with libclamav) and pampero-store (issue 8).

Postfix hands the milter every header field of a message, however many. Until every one
is seen, a message can hide behind thousands of filler headers: a forged X-Spam-Score that
is never stripped and that pampero-store then files by, a Content-Transfer-Encoding that
the rules never see (base64 GTUBE read as plain text), an attachment the virus scanner
never decodes. Here each of those is sent behind 2,100 and 5,000 filler headers (handled:
forged header stripped and the message filed by its real score, GTUBE refused 550, the
virus refused 554) and behind 50,000 (over milter.max_headers: refused 552 5.3.4).

Padding: with a 64 KB scan limit, a 100 KB text part must not hide the part after it.

The rules are GTUBE plus a test rule of known score and the shipped scan-bound rule, so
the figures asserted here do not move when the shipped rule set is tuned. No signature
download is possible here: the test writes its own ClamAV signature.
"""
import base64
import os
import shutil
import unittest

import harness as h

DOMAIN = "demo.test"
BOB = f"bob@{DOMAIN}"  # level 3: Spam folder from 5.0, refused from 15.0
SEVEN = "PAMPERO-TEST-SCORE-SEVEN"
TEST_RULES = f"""rules:
  - name: TEST_SCORE_SEVEN
    target: body
    regex: '{SEVEN}'
    score: 7
    description: test rule worth 7 points
"""
MARKER = "PAMPERO-BOUNDS-TEST-VIRUS-MARKER-5f3a"  # the test's own "virus"


def fillers(n):
    return "".join(f"X-Filler-{i}: x\r\n" for i in range(n))


maildir = h.maildir


class HeaderCountAndPadding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        os.makedirs(os.path.join(w, "rules.d"))
        for f in ("00-gtube.yaml", "60-scan-bounds.yaml"):
            shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", f), os.path.join(w, "rules.d"))
        with open(os.path.join(w, "rules.d", "90-test.yaml"), "w") as f:
            f.write(TEST_RULES)
        sigs = os.path.join(w, "signatures")
        os.makedirs(sigs)
        with open(os.path.join(sigs, "test.ndb"), "w") as f:
            f.write(f"Pampero.Test.Bounds:0:*:{MARKER.encode().hex()}\n")
        cls.milter_port, cls.lmtp_port, cls.map_port = h.free_port(), h.free_port(), h.free_port()
        cls.mail = os.path.join(w, "mail")
        extra = ("antivirus:\n  signatures: signatures\n  max_size: 10M\n"
                 f"store:\n  lmtp: inet:{cls.lmtp_port}@127.0.0.1\n"
                 f"  socketmap: inet:{cls.map_port}@127.0.0.1\n  node: local\n  mail_root: {cls.mail}\n")
        cls.config = h.write_config(w, cls.milter_port, extra=extra)
        # The padding case needs a small scan limit; everything else is unaffected by it.
        with open(cls.config) as f:
            text = f.read()
        with open(cls.config, "w") as f:
            f.write(text.replace("milter:\n", "milter:\n  scan_limit: 64K\n", 1))
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        h.pamperoctl(cls.config, "user", "add", BOB, "--level", "3")
        cls.milter = h.start_milter(cls.config, cls.milter_port, w)
        cls.store = h.start_store(cls.config, cls.lmtp_port, w)
        cls.postfix = h.Postfix(w, main_cf=(
            f"smtpd_milters = inet:127.0.0.1:{cls.milter_port}\n"
            f"virtual_transport = lmtp:inet:127.0.0.1:{cls.lmtp_port}\n"),
            domains=[DOMAIN], mailboxes=[BOB])

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.store.stop()
        cls.milter.stop()
        cls.work.close()

    def send(self, ip, headers, body, subject):
        data = h.message("a@example.org", [BOB], subject=subject, body=body, extra_headers=headers)
        with self.postfix.smtp(ip) as s:
            rcpt, reply = h.send(s, "a@example.org", [BOB], data)
        self.assertEqual(rcpt[0][0], 250, rcpt)
        return reply

    def filed(self, subject):
        """(folder, message) once the message with that subject is in bob's Inbox or Spam."""
        def find():
            for folder in ("", "Spam"):
                for m in h.maildir_messages(maildir(self.mail, BOB, folder)):
                    if f"Subject: {subject}\n" in m.replace("\r\n", "\n"):
                        return folder or "INBOX", m
            return None
        return h.wait_until(find, timeout=60, what=f"delivery of {subject}")

    # --- what each case sends -------------------------------------------------------

    def forged_score(self, ip, n):
        subject = f"forged-{n}"
        reply = self.send(ip, fillers(n) + "X-Spam-Score: 0.0\r\nX-Spam-Status: No, FORGED\r\n",
                          f"Offer inside. {SEVEN}\r\n", subject)
        return reply, subject

    def base64_gtube(self, ip, n):
        body = base64.encodebytes((h.GTUBE + "\n").encode()).decode().replace("\n", "\r\n")
        return self.send(ip, fillers(n) + "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
                         "Content-Transfer-Encoding: base64\r\n", body, f"gtube-{n}")

    def base64_virus(self, ip, n):
        b64 = base64.b64encode(f"header {MARKER} trailer".encode()).decode()
        body = ("--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                "--B\r\nContent-Type: application/octet-stream; name=x.bin\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--B--\r\n")
        return self.send(ip, fillers(n) + "MIME-Version: 1.0\r\n"
                         "Content-Type: multipart/mixed; boundary=B\r\n", body, f"virus-{n}")

    # --- under milter.max_headers: every header is seen ------------------------------

    def check_forged_header_is_stripped(self, ip, n):
        (code, text), subject = self.forged_score(ip, n)
        self.assertEqual(code, 250, text)
        folder, msg = self.filed(subject)
        head = msg.replace("\r\n", "\n").split("\n\n")[0]
        self.assertEqual(folder, "Spam", "filed by the forged score, not the real one")
        self.assertNotIn("FORGED", head)
        self.assertEqual(head.count("X-Spam-Score:"), 1, "the forged X-Spam-Score survived")
        self.assertIn("X-Spam-Score: 7.0", head)

    def check_base64_gtube_is_refused(self, ip, n):
        code, text = self.base64_gtube(ip, n)
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1", text)

    def check_virus_is_refused(self, ip, n):
        code, text = self.base64_virus(ip, n)
        self.assertEqual(code, 554, text)
        self.assertIn("Pampero.Test.Bounds", text)

    def test_2100_headers_forged_score_is_stripped(self):
        self.check_forged_header_is_stripped("127.0.0.61", 2100)

    def test_2000_headers_base64_gtube_is_refused(self):
        self.check_base64_gtube_is_refused("127.0.0.62", 2000)

    def test_2000_headers_virus_is_refused(self):
        self.check_virus_is_refused("127.0.0.63", 2000)

    def test_5000_headers_forged_score_is_stripped(self):
        self.check_forged_header_is_stripped("127.0.0.64", 5000)

    def test_5000_headers_base64_gtube_is_refused(self):
        self.check_base64_gtube_is_refused("127.0.0.65", 5000)

    def test_5000_headers_virus_is_refused(self):
        self.check_virus_is_refused("127.0.0.66", 5000)

    # --- over milter.max_headers: refused, nothing is dropped silently ----------------

    def check_refused_as_too_many_headers(self, reply):
        code, text = reply
        self.assertEqual(code, 552, text)
        self.assertIn("5.3.4", text)
        self.assertIn("header", text.lower())

    def test_50000_headers_are_refused_552(self):
        reply, subject = self.forged_score("127.0.0.67", 50000)
        self.check_refused_as_too_many_headers(reply)
        self.check_refused_as_too_many_headers(self.base64_gtube("127.0.0.67", 50000))
        self.check_refused_as_too_many_headers(self.base64_virus("127.0.0.67", 50000))
        self.assertRegex(self.milter.output(), r"refused: 5\d{4} header fields")

    # --- padding -------------------------------------------------------------------

    def padded(self, ip, second_part, subject):
        pad = ("lorem ipsum dolor sit amet " * 40 + "\r\n") * 95  # ~100 KB of text
        body = ("--P\r\nContent-Type: text/plain\r\n\r\n" + pad +
                "--P\r\nContent-Type: text/plain\r\n\r\n" + second_part + "\r\n--P--\r\n")
        return self.send(ip, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=P\r\n",
                         body, subject)

    def test_padding_in_one_part_does_not_hide_the_next(self):
        code, text = self.padded("127.0.0.68", h.GTUBE, "padded-gtube")
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1", text)

    def test_a_partly_scanned_message_says_so(self):
        code, text = self.padded("127.0.0.69", "nothing to see", "padded-clean")
        self.assertEqual(code, 250, text)
        folder, msg = self.filed("padded-clean")
        self.assertEqual(folder, "INBOX")
        status = [l for l in msg.replace("\r\n", "\n").split("\n") if l.startswith("X-Spam-Status:")]
        self.assertEqual(len(status), 1, status)
        self.assertIn("SCAN_TRUNCATED", status[0])
        self.assertIn("scan=partial", status[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
