"""The benchmark scripts under bench/ stay runnable: the benches themselves are run by hand
(they take minutes and need the development corpus), so nothing else would notice a syntax
error, a broken import of bench/lib, or an option parser that fails.

Every Python script (a .py file, or a file whose first line names python3) compiles; every
executable one answers --help with status 0 and a usage line, without starting anything;
every bash script passes `bash -n`. bench/whole-path and bench/smtp-pipeline must be among
them (a rename would otherwise go unseen)."""
import os
import py_compile
import subprocess
import sys
import tempfile
import unittest

import harness as h

BENCH = os.path.join(h.SOURCE, "bench")


def scripts():
    """(path, kind) of every script under bench/: kind is "python" or "bash"."""
    out = []
    for root, _dirs, names in os.walk(BENCH):
        for name in sorted(names):
            path = os.path.join(root, name)
            if name.endswith((".cpp", ".hpp", ".h", ".c", ".txt", ".md", ".so")):
                continue
            try:
                with open(path, "rb") as f:
                    first = f.readline(200)
            except OSError:
                continue
            if name.endswith(".py") or (first.startswith(b"#!") and b"python" in first):
                out.append((path, "python"))
            elif first.startswith(b"#!") and b"bash" in first:
                out.append((path, "bash"))
    return sorted(out)


class BenchScripts(unittest.TestCase):
    def test_the_whole_path_benchmarks_are_found(self):
        found = {os.path.relpath(p, h.SOURCE) for p, _ in scripts()}
        for name in ("bench/whole-path", "bench/smtp-pipeline", "bench/lib/benchlib.py"):
            self.assertIn(name, found)

    def test_python_scripts_compile(self):
        with tempfile.TemporaryDirectory() as tmp:
            for path, kind in scripts():
                if kind != "python":
                    continue
                with self.subTest(script=os.path.relpath(path, h.SOURCE)):
                    py_compile.compile(path, cfile=os.path.join(tmp, "out.pyc"), doraise=True)

    def test_bash_scripts_parse(self):
        for path, kind in scripts():
            if kind == "bash":
                with self.subTest(script=os.path.relpath(path, h.SOURCE)):
                    p = subprocess.run(["bash", "-n", path], capture_output=True, text=True,
                                       timeout=30)
                    self.assertEqual(p.returncode, 0, p.stderr)

    def test_python_scripts_answer_help(self):
        env = dict(os.environ, BUILD=h.BUILD)
        for path, kind in scripts():
            if kind != "python" or path.endswith(".py") or not os.access(path, os.X_OK):
                continue
            with self.subTest(script=os.path.relpath(path, h.SOURCE)):
                p = subprocess.run([sys.executable, path, "--help"], capture_output=True,
                                   text=True, timeout=60, env=env, cwd=h.SOURCE)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertIn("usage:", p.stdout.lower())


if __name__ == "__main__":
    unittest.main()
