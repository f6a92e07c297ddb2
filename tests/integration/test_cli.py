"""pamperoctl against a real SQLite directory: every command, and bad input answered
with a one-line error and a non-zero exit."""
import json
import os
import unittest

import harness as h


class Pamperoctl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        cls.config = h.write_config(cls.work.path, h.free_port())
        h.pamperoctl(cls.config, "domain", "add", "Example.ORG")
        h.pamperoctl(cls.config, "user", "add", "Alice@example.org", "--level", "2", "--quota", "500M")
        h.pamperoctl(cls.config, "user", "add", "bob@example.org")

    @classmethod
    def tearDownClass(cls):
        cls.work.close()

    def ctl(self, *args):
        return h.pamperoctl(self.config, *args, check=False)

    def assert_one_line_error(self, p, code=1, contains=""):
        self.assertEqual(p.returncode, code, (p.stdout, p.stderr))
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("pamperoctl: "), lines[0])
        self.assertIn(contains, lines[0])

    def test_domains_and_users(self):
        self.assertIn("example.org", self.ctl("domain", "list").stdout.split())
        show = self.ctl("user", "show", "alice@EXAMPLE.org").stdout
        self.assertIn("address: alice@example.org", show)
        self.assertIn("level:   2 (relaxed)", show)
        self.assertIn("quota:   500M", show)
        self.assertIn("maildir: example.org/alice/", show)
        bob = self.ctl("user", "show", "bob@example.org").stdout
        self.assertIn("[default]", bob)
        self.assertIn("bob@example.org level=default", self.ctl("user", "list").stdout)

    def test_set_level(self):
        h.pamperoctl(self.config, "user", "add", "lev@example.org")
        self.assertEqual(self.ctl("user", "set-level", "lev@example.org", "5").returncode, 0)
        self.assertIn("level:   5 (paranoid)", self.ctl("user", "show", "lev@example.org").stdout)
        self.assert_one_line_error(self.ctl("user", "set-level", "lev@example.org", "9"), contains="no level 9")
        self.assert_one_line_error(self.ctl("user", "set-level", "lev@example.org", "high"),
                                   contains="not a level number")

    def test_bad_input(self):
        self.assert_one_line_error(self.ctl("user", "add", "not-an-address"), contains="not a valid mail address")
        self.assert_one_line_error(self.ctl("user", "add", "x@unknown.example"), contains="not local")
        self.assert_one_line_error(self.ctl("user", "add", "alice@example.org"), contains="exists")
        self.assert_one_line_error(self.ctl("user", "add", "z@example.org", "--level", "0"), contains="no level 0")
        self.assert_one_line_error(self.ctl("user", "add", "z@example.org", "--quota", "lots"), contains="size")
        self.assert_one_line_error(self.ctl("user", "show", "ghost@example.org"), contains="no such user")
        self.assert_one_line_error(self.ctl("user", "del", "ghost@example.org"), contains="no such user")
        self.assert_one_line_error(self.ctl("domain", "add", "bad domain"), contains="not a valid domain")
        self.assert_one_line_error(self.ctl("list", "add", "grey", "x@y.example"), contains="white or black")
        self.assert_one_line_error(self.ctl("list", "add", "white", "@@"), contains="not an address or @domain")
        self.assert_one_line_error(self.ctl("list", "add", "white", "--user", "ghost@example.org", "a@b.example"),
                                   contains="no such user")
        self.assert_one_line_error(self.ctl("contacts", "show", "ghost@example.org"), contains="no such user")
        self.assert_one_line_error(self.ctl("user", "add", "../x@example.org"), contains="not a valid mail address")
        self.assertEqual(self.ctl("user", "frobnicate").returncode, 64)

    def test_bad_config_names_file_and_line(self):
        bad = os.path.join(self.work.path, "bad.yaml")
        with open(bad, "w") as f:
            f.write("state: memory\nguard:\n  unknown_limit: many\n")
        p = h.pamperoctl(bad, "domain", "list", check=False)
        self.assert_one_line_error(p, code=78, contains=f"{bad}:3:")

    def test_lists(self):
        self.assertEqual(self.ctl("list", "add", "black", "@Spam.Example").returncode, 0)
        self.assertEqual(self.ctl("list", "add", "white", "--user", "bob@example.org", "Friend@Spam.Example").returncode, 0)
        self.assertIn("black @spam.example", self.ctl("list", "show").stdout)
        self.assertIn("white friend@spam.example", self.ctl("list", "show", "--user", "bob@example.org").stdout)
        self.assert_one_line_error(self.ctl("list", "add", "black", "@spam.example"), contains="exists")
        self.assertEqual(self.ctl("list", "del", "black", "@spam.example").returncode, 0)
        self.assertNotIn("@spam.example", self.ctl("list", "show").stdout)
        self.assert_one_line_error(self.ctl("list", "del", "black", "@spam.example"), contains="no such entry")

    def test_contacts_import_vcard_and_csv(self):
        vcf = os.path.join(self.work.path, "c.vcf")
        with open(vcf, "w") as f:
            f.write("BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nEMAIL:ann@one.example\nEND:VCARD\n")
        csv = os.path.join(self.work.path, "c.csv")
        with open(csv, "w") as f:
            f.write("Name,E-mail Address\nCy,cy@two.example\nJunk,not-an-address\n")
        p = self.ctl("contacts", "import", "bob@example.org", vcf)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ctl("contacts", "import", "bob@example.org", csv)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("skipped 'not-an-address'", p.stderr)
        shown = self.ctl("contacts", "show", "bob@example.org").stdout
        self.assertIn("ann@one.example  Ann", shown)
        self.assertIn("cy@two.example  Cy", shown)
        empty = os.path.join(self.work.path, "e.csv")
        with open(empty, "w") as f:
            f.write("Name,Phone\nA,1\n")
        self.assert_one_line_error(self.ctl("contacts", "import", "bob@example.org", empty), contains="no e-mail column")
        self.assert_one_line_error(self.ctl("contacts", "import", "bob@example.org", "/nonexistent"),
                                   contains="cannot open")

    def test_level_list(self):
        out = self.ctl("level", "list").stdout
        self.assertIn("standard", out)
        self.assertIn("(default)", out)
        self.assertEqual(len([l for l in out.splitlines()[1:] if l.strip()]), 5)

    def test_scan_json_explains_per_recipient(self):
        h.pamperoctl(self.config, "user", "add", "strict@example.org", "--level", "5")
        msg = os.path.join(self.work.path, "gtube.eml")
        with open(msg, "w") as f:
            f.write(f"From: a@b.example\nSubject: t\n\n{h.GTUBE}\n")
        p = self.ctl("scan", "--json", "--from", "a@b.example", "--rcpt", "strict@example.org",
                     "--rcpt", "nobody@example.org", msg)
        self.assertEqual(p.returncode, 0, p.stderr)
        v = json.loads(p.stdout.strip().splitlines()[0])
        self.assertEqual(v["file"], msg)
        self.assertGreaterEqual(v["score"], 1000)
        self.assertIsNone(v["virus"])
        self.assertIn("GTUBE", [r["name"] for r in v["rules"]])
        self.assertEqual([r["action"] for r in v["recipients"]], ["reject", "reject"])
        self.assertEqual(v["recipients"][1]["why"], "unknown user")
        h.pamperoctl(self.config, "list", "add", "white", "--user", "strict@example.org", "a@b.example")
        v = json.loads(self.ctl("scan", "--json", "--from", "a@b.example", "--rcpt", "strict@example.org", msg).stdout)
        self.assertEqual(v["recipients"][0]["action"], "inbox")
        text = self.ctl("scan", msg).stdout
        self.assertIn("GTUBE", text)
        self.assertIn("-> (any recipient): reject", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
