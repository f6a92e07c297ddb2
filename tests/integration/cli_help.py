"""The command tree of a CLI11 program, read from its --help: what the man pages and the
bash completion must cover (test_man_pages, test_bash_completion)."""
import re
import subprocess


def _sections(text):
    """{'Options': [lines], 'Subcommands': [lines], ...} of one --help output."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^([A-Z][A-Za-z]+):\s*$", line)
        if m:
            current = m.group(1)
            out[current] = []
        elif current and line.startswith("  ") and line.strip():
            out[current].append(line)
    return out


def help_of(argv):
    r = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} --help: exit {r.returncode}: {r.stderr}")
    return _sections(r.stdout)


def options(sections):
    """Option names ('-c', '--config', ...) of one help's Options section."""
    names = []
    for line in sections.get("Options", []):
        if not line.startswith("  -"):
            continue  # a description continued on its own line
        spec = line.split()[0]
        names += [n.split("=")[0] for n in spec.split(",")]
    return names


def subcommands(sections):
    return [line.split()[0] for line in sections.get("Subcommands", []) if line.startswith("  ") and
            not line.startswith("   ")]


def tree(exe):
    """[(path, options)] for the program and every subcommand, depth first: path is a tuple
    of subcommand names, options the names its help lists."""
    found = []

    def walk(path):
        s = help_of([exe, *path])
        found.append((path, options(s)))
        for sub in subcommands(s):
            walk(path + (sub,))

    walk(())
    return found
