"""pamperoctl's bash completion (doc/completion/pamperoctl, issue 13): sourced in a bash,
it must offer every subcommand and option that `pamperoctl --help` lists, at every level
of the command tree (read from the built binary, so a command added to cli/main.cpp and
not to the completion fails here), and file names where a file is expected."""
import os
import subprocess
import tempfile
import unittest

import cli_help
import harness as h

SCRIPT = os.path.join(h.SOURCE, "doc", "completion", "pamperoctl")
PAMPEROCTL = os.path.join(h.BUILD, "bin", "pamperoctl")


def complete_many(cases, cwd=None):
    """[words...] per case (the last one being completed) -> [set of offers] per case, all
    in one bash that sourced the script (with no bash-completion package helpers)."""
    lines = [f". {SCRIPT}"]
    for words in cases:
        quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
        lines.append(f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMPREPLY=(); "
                     "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; _pamperoctl; "
                     "printf '%s\\n' \"${COMPREPLY[*]}\"")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(lines)], cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or r.stderr:
        raise AssertionError(f"bash exit {r.returncode}: {r.stderr}")
    out = r.stdout.split("\n")[:len(cases)]
    return [set(line.split()) for line in out]


class BashCompletion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tree = cli_help.tree(PAMPEROCTL)

    def test_the_tree_is_read(self):
        # The walk itself works: a broken parser would make every check below vacuous.
        paths = [p for p, _ in self.tree]
        self.assertIn(("user", "set-level"), paths)
        self.assertIn(("verdict-key", "promote"), paths)
        self.assertGreater(len(paths), 25)

    def test_every_subcommand_is_offered(self):
        parents = {}
        for path, _ in self.tree:
            if path:
                parents.setdefault(path[:-1], []).append(path[-1])
        cases = [["pamperoctl", *p, ""] for p in parents]
        for (parent, subs), offered in zip(parents.items(), complete_many(cases)):
            with self.subTest(parent=" ".join(parent) or "(top)"):
                self.assertEqual(set(subs) - offered, set(), f"offered: {sorted(offered)}")

    def test_every_option_is_offered_after_a_dash(self):
        # A positional that completes file names (scan FILE) still offers options on "-".
        cases = [["pamperoctl", *p, "-"] for p, _ in self.tree]
        for (path, opts), offered in zip(self.tree, complete_many(cases)):
            with self.subTest(command=" ".join(path) or "(top)"):
                self.assertEqual(set(opts) - offered, set(), f"offered: {sorted(offered)}")

    def test_prefixes_narrow_and_options_skip_their_values(self):
        got = complete_many([
            ["pamperoctl", "us"],
            ["pamperoctl", "-c", "/etc/pampero/pampero.yaml", "verdict-key", "p"],
            ["pamperoctl", "list", "add", "--user", "alice@example.org", ""],
            ["pamperoctl", "user", "add", "alice@example.org", "--le"],
            ["pamperoctl", "mirror", "sync", "--zone", "zen.spamhaus.org", "--t"],
        ])
        self.assertEqual(got, [{"user"}, {"promote"}, {"white", "black"}, {"--level"},
                               {"--timeout"}])

    def test_files_where_files_go(self):
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "message.eml"), "w").close()
            open(os.path.join(d, "book.vcf"), "w").close()
            got = complete_many([
                ["pamperoctl", "scan", "--rcpt", "a@example.org", "mess"],
                ["pamperoctl", "contacts", "import", "alice@example.org", "bo"],
                ["pamperoctl", "-c", "mess"],
                ["pamperoctl", "verdict-key", "new", "bo"],
            ], cwd=d)
        self.assertEqual(got, [{"message.eml"}, {"book.vcf"}, {"message.eml"}, {"book.vcf"}])


if __name__ == "__main__":
    unittest.main()
