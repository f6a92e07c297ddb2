"""The man pages (doc/man/*.scd, built by the `man` target, issue 13): each renders with
no warning from `man --warnings` nor `groff -ww`, and says what the code does: every
option each program's --help lists, every pamperoctl command, every key of the shipped
conf/pampero.yaml (including the commented-out sections)."""
import os
import re
import subprocess
import unittest

import cli_help
import harness as h

MAN = os.path.join(h.BUILD, "man")
SRC = os.path.join(h.SOURCE, "doc", "man")
BIN = os.path.join(h.BUILD, "bin")
PAGES = ["pampero-milter.8", "pampero-store.8", "pampero-policyd.8", "pamperoctl.8",
         "pampero.yaml.5"]


def source(page):
    with open(os.path.join(SRC, page + ".scd")) as f:
        return f.read()


def bold(text):
    """Words set in bold (*...*) in scdoc source."""
    return set(re.findall(r"\*([^*\s][^*]*?)\*", text.replace("\\*", "")))


class ManPages(unittest.TestCase):
    def test_render_without_warnings(self):
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MAN_KEEP_STDERR="1")
        for page in PAGES:
            path = os.path.join(MAN, page)
            with self.subTest(page=page):
                self.assertTrue(os.path.isfile(path), f"{path} not built (ninja man)")
                r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True,
                                   text=True, env=env, timeout=60)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertIn("NAME", r.stdout)
                r = subprocess.run(["groff", "-ww", "-z", "-man", path], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_a_warning_fails(self):
        # The check above is not vacuous: a page with a roff mistake does warn.
        broken = os.path.join(MAN, "broken.8")
        with open(os.path.join(MAN, "pamperoctl.8")) as f:
            text = f.read()
        with open(broken, "w") as f:
            f.write(text + "\n.nosuchmacro\n\\f(ZZbad font\n")
        try:
            r = subprocess.run(["groff", "-ww", "-z", "-man", broken], capture_output=True,
                               text=True, timeout=60)
            self.assertNotEqual(r.stderr, "")
        finally:
            os.unlink(broken)

    def test_daemon_options(self):
        for prog in ["pampero-milter", "pampero-store", "pampero-policyd"]:
            with self.subTest(program=prog):
                [(_, opts)] = cli_help.tree(os.path.join(BIN, prog))
                self.assertIn("--pid-file", opts)
                words = bold(source(prog + ".8"))
                self.assertEqual({o for o in opts} - words, set())
                text = source(prog + ".8")
                for section in ["SYNOPSIS", "OPTIONS", "SIGNALS", "FILES", "EXIT STATUS",
                                "EXAMPLES", "SIGHUP", "SIGTERM"]:
                    self.assertIn(section, text)
                # The exit codes the daemons use (main.cpp, daemon.cpp).
                for code in ["*0*", "*64*", "*69*", "*71*", "*78*"]:
                    self.assertIn(code, text)

    def test_every_pamperoctl_command_and_option(self):
        text = source("pamperoctl.8")
        headings = set(re.findall(r"^## (\S+)", text, re.M))
        for path, opts in cli_help.tree(os.path.join(BIN, "pamperoctl")):
            with self.subTest(command=" ".join(path) or "(top)"):
                if len(path) == 1:
                    self.assertIn(path[0], headings)
                entry = ""
                if path:
                    # The command's entry: its bold name starting a line, up to the next one.
                    m = re.search(r"^\*" + re.escape(" ".join(path)) + r"(\*| )(.*?)(?=^\S|\Z)",
                                  text, re.M | re.S)
                    if not m and len(path) == 1:
                        continue  # a group: its subcommands have entries
                    self.assertIsNotNone(m, f"no entry for {' '.join(path)}")
                    entry = m.group(0)
                else:
                    entry = text
                for o in opts:
                    if o in ("-h", "--help", "--version") and path:
                        continue  # said once, in OPTIONS
                    self.assertIn("*" + o + "*", entry)

    def test_every_config_key(self):
        with open(os.path.join(h.SOURCE, "conf", "pampero.yaml")) as f:
            conf = f.read()
        keys = set()
        for line in conf.splitlines():
            # Keys, set or commented out ("#user: pampero", "#  - zone: ...", "  # nodes:").
            m = re.match(r"^\s*#?\s*(?:- )?([a-z][a-z0-9_]*):(\s|$)", line)
            if m:
                keys.add(m.group(1))
        # Prose and example values that look like keys in the comments.
        keys -= {"connect", "inet", "store1", "store2"}
        self.assertGreater(len(keys), 60)
        page = source("pampero.yaml.5")
        documented = bold(page) | set(re.findall(r"^# (\S+)", page, re.M))
        self.assertEqual(keys - documented, set())


if __name__ == "__main__":
    unittest.main()
