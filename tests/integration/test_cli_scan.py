"""`pamperoctl scan` on the paths it shares with the milter: a virus found by libclamav
(the explanation names it, every recipient is refused) and blocklists on the Received
hop and on URI IPs (the explanation names the address looked up, and only that one)."""
import json
import os
import unittest

import harness as h

# Assembled at run time so this file is no EICAR carrier itself.
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

# Each address answers its own code, so the rule that hits names the address looked up.
ZONE = """\
185.199.108.153 :2:
45.33.32.156 :3:
192.168.1.5 :4:
91.198.174.192 :5:
"""
RULES = ["HOP_REAL", "HOP_OLDER", "HOP_PRIVATE", "HOP_CLIENT"]


def ip_list(zone, target, prefix):
    returns = "".join(f"      127.0.0.{2 + i}: {{ rule: {prefix}_{name.split('_')[1]}, score: 3.0 }}\n"
                      for i, name in enumerate(RULES))
    return (f"  - zone: {zone}\n    target: {target}\n    mode: mirror\n    file: hops.ip4set\n"
            f"    returns:\n{returns}")


def received(ip):
    return f"Received: from h.example (h.example [{ip}])\n\tby mx.example.org with ESMTP id X\n"


class ScanExplains(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        os.makedirs(os.path.join(w, "signatures"))
        with open(os.path.join(w, "signatures", "eicar.ndb"), "w") as f:
            f.write(f"Pampero.Test.EICAR:0:*:{EICAR.encode().hex()}\n")
        with open(os.path.join(w, "hops.ip4set"), "w") as f:
            f.write(ZONE)
        extra = ("antivirus:\n  signatures: signatures\n"
                 "blocklists:\n" + ip_list("hops.test", "received_ip", "HOP") +
                 ip_list("uris.test", "uri_ip", "URI"))
        cls.config = h.write_config(w, h.free_port(), extra=extra)
        h.pamperoctl(cls.config, "domain", "add", "example.org")
        h.pamperoctl(cls.config, "user", "add", "alice@example.org")
        h.pamperoctl(cls.config, "user", "add", "bob@example.org", "--level", "1")

    @classmethod
    def tearDownClass(cls):
        cls.work.close()

    def write(self, name, text):
        path = os.path.join(self.work.path, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def scan(self, *args):
        p = h.pamperoctl(self.config, "scan", *args, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_virus_is_named_and_refused_for_everyone(self):
        msg = self.write("virus.eml", "From: a@b.example\nSubject: invoice\n\nsee below\n" + EICAR + "\n")
        # White-listing the sender changes nothing: a virus is refused whoever sent it.
        h.pamperoctl(self.config, "list", "add", "white", "--user", "bob@example.org", "a@b.example")
        v = json.loads(self.scan("--json", "--from", "a@b.example", "--rcpt", "alice@example.org",
                                 "--rcpt", "bob@example.org", msg).strip().splitlines()[0])
        # libclamav names a signature of our own "NAME.UNOFFICIAL".
        virus = v["virus"]
        self.assertIn(virus, ("Pampero.Test.EICAR", "Pampero.Test.EICAR.UNOFFICIAL"))
        self.assertEqual([(r["address"], r["action"], r["why"]) for r in v["recipients"]],
                         [("alice@example.org", "reject", f"virus {virus}"),
                          ("bob@example.org", "reject", f"virus {virus}")])
        text = self.scan(msg)
        self.assertTrue(text.startswith(f"{msg}: score "), text)
        self.assertTrue(text.splitlines()[0].endswith(f", virus {virus}"), text)
        self.assertIn(f"-> (any recipient): reject (virus {virus})", text)
        # The same words without the signature: no virus, and not refused.
        clean = self.write("clean.eml", "From: a@b.example\nSubject: invoice\n\nsee below\n")
        v = json.loads(self.scan("--json", "--rcpt", "alice@example.org", clean))
        self.assertIsNone(v["virus"])
        self.assertEqual(v["recipients"][0]["action"], "inbox")

    def test_received_hop_and_uri_ips_are_explained(self):
        # Newest first: our MX's hop from the client, a private hop inside the sender's
        # network, the previous public relay, and an older hop the sender could forge.
        msg = self.write("hops.eml",
                         received("91.198.174.192") + received("192.168.1.5") +
                         received("185.199.108.153") + received("45.33.32.156") +
                         "From: a@b.example\nSubject: hops\n\n"
                         "visit http://45.33.32.156/login and http://198.51.99.1/ok\n")
        v = json.loads(self.scan("--json", "--client-ip", "91.198.174.192", "--rcpt",
                                 "alice@example.org", msg))
        names = [r["name"] for r in v["rules"]]
        self.assertIn("HOP_REAL", names)
        self.assertIn("URI_OLDER", names)
        for skipped in ("HOP_OLDER", "HOP_PRIVATE", "HOP_CLIENT", "URI_REAL", "URI_PRIVATE", "URI_CLIENT"):
            self.assertNotIn(skipped, names)
        self.assertGreaterEqual(v["score"], 6.0)
        text = self.scan("--client-ip", "91.198.174.192", msg)
        self.assertRegex(text, r"HOP_REAL\s+185\.199\.108\.153 listed in hops\.test \(127\.0\.0\.2\)")
        self.assertRegex(text, r"URI_OLDER\s+45\.33\.32\.156 listed in uris\.test \(127\.0\.0\.3\)")
        # Seen from another client, our MX's hop is the first public one that is not it.
        v = json.loads(self.scan("--json", "--client-ip", "198.51.99.1", msg))
        names = [r["name"] for r in v["rules"]]
        self.assertIn("HOP_CLIENT", names)
        self.assertNotIn("HOP_REAL", names)

    def test_padding_does_not_hide_a_part_and_a_partial_scan_says_so(self):
        # A configuration of its own with a 64 KB scan limit: 100 KB of padding in a first
        # part must not hide GTUBE in the second, and the explanation says the scan was
        # partial (what X-Spam-Status says with scan=partial in the milter).
        w = self.work.join("padded")
        os.makedirs(w)
        config = h.write_config(w, h.free_port())
        with open(config) as f:
            text = f.read()
        text = text.replace("milter:\n", "milter:\n  scan_limit: 64K\n", 1)
        with open(config, "w") as f:
            f.write(text)
        msg = self.write("padded.eml",
                         "From: a@b.example\nSubject: padded\nMIME-Version: 1.0\n"
                         "Content-Type: multipart/mixed; boundary=BB\n\n"
                         "--BB\nContent-Type: text/plain\n\n" + ("padding " * 12500) + "\n"
                         "--BB\nContent-Type: text/plain\n\n" + h.GTUBE + "\n--BB--\n")
        p = h.pamperoctl(config, "scan", "--json", msg, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        v = json.loads(p.stdout)
        names = [r["name"] for r in v["rules"]]
        self.assertIn("GTUBE", names)
        self.assertIn("SCAN_TRUNCATED", names)
        self.assertIsNotNone(v["partial"])
        self.assertIn("text", v["partial"])
        p = h.pamperoctl(config, "scan", msg, check=False)
        self.assertIn("scanned in part only (bounds reached: ", p.stdout)
        small = self.write("small.eml", "From: a@b.example\nSubject: small\n\nhello\n")
        v = json.loads(h.pamperoctl(config, "scan", "--json", small).stdout)
        self.assertIsNone(v["partial"])
        self.assertNotIn("SCAN_TRUNCATED", [r["name"] for r in v["rules"]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
