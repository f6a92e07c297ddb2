"""test_blocklists.py - blocklists against real peers: a real rbldnsd and a real rsync daemon.

1. rbldnsd on 127.0.0.1 (a free port) serves tests/data/blocklists/{zen.ip4set, multi.dnset,
   small.ip4tset}. For every row of expected.txt, `dig` against rbldnsd, pamperoctl in dns
   mode (c-ares at rbldnsd) and pamperoctl in mirror mode (the same files loaded in memory)
   must give the same A values, and the same TXT where the zone has one. RFC 5782 test
   points pass in both modes.
2. `pamperoctl mirror sync` against `rsync --daemon` on loopback: a good file is put in place;
   a truncated file (< 50% of the entries) and a broken file are refused and the old file
   stays; with the server stopped the old file stays; every failure exits non-zero with one
   line.

Servers are started here and stopped by PID. Nothing is skipped: scripts/deps installs
rbldnsd, dnsutils and rsync.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DATA = os.path.join(harness.SOURCE, "tests", "data", "blocklists")
PAMPEROCTL = os.path.join(harness.BIN, "pamperoctl")

ZONES = {  # list name in expected.txt -> (zone, rbldnsd type, file)
    "zen": ("zen.test", "ip4set", "zen.ip4set"),
    "multi": ("multi.test", "dnset", "multi.dnset"),
    "tset": ("tset.test", "ip4tset", "small.ip4tset"),
}


def stop(proc):
    """Stops a server we started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def expected_rows():
    rows = []
    with open(os.path.join(DATA, "expected.txt")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, subject, answers = line.split()
            rows.append((name, subject, [] if answers == "-" else answers.split(",")))
    return rows


def query_name(name, subject):
    zone = ZONES[name][0]
    if name != "multi":  # IP lists: reversed octets
        return ".".join(reversed(subject.split("."))) + "." + zone
    return subject + "." + zone


def ip_key(a):
    return tuple(int(x) for x in a.split("."))


class RbldnsdAgreement(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = harness.WorkDir("pampero-bl-")
        for _, _, f in ZONES.values():
            shutil.copy(os.path.join(DATA, f), cls.work.join(f))
            os.chmod(cls.work.join(f), 0o644)
        cls.port = harness.free_udp_port()
        argv = ["rbldnsd", "-n", "-4", "-b", f"127.0.0.1/{cls.port}", "-w", cls.work.path, "-t", "60", "-c", "0"]
        for zone, kind, f in ZONES.values():
            argv.append(f"{zone}:{kind}:{f}")
        cls.log = open(cls.work.join("rbldnsd.log"), "wb")
        cls.rbldnsd = subprocess.Popen(argv, stdout=cls.log, stderr=subprocess.STDOUT)
        # rbldnsd answers once its zones are loaded; poll the test point (bounded).
        harness.wait_until(lambda: cls.dig("2.0.0.127.zen.test", "A") or cls.rbldnsd.poll() is not None,
                           timeout=20, what="rbldnsd to answer")
        if cls.rbldnsd.poll() is not None:
            raise RuntimeError("rbldnsd exited: " + open(cls.work.join("rbldnsd.log")).read())
        config = ["blocklists:"]
        for name, (zone, kind, f) in ZONES.items():
            target = "uri_domain" if kind == "dnset" else "client_ip"
            rule = "    rule: LISTED_" + name.upper() + "\n    score: 1\n"
            config.append(f"  - zone: {zone}\n    target: {target}\n    mode: mirror\n    file: {f}\n    format: {kind}\n" + rule)
            config.append(f"  - zone: {zone}\n    target: {target}\n    mode: dns\n    resolver: 127.0.0.1:{cls.port}\n"
                          f"    timeout_ms: 2000\n" + rule)
        cls.config = cls.work.join("pampero.yaml")
        with open(cls.config, "w") as f:
            f.write("\n".join(config) + "\n")

    @classmethod
    def tearDownClass(cls):
        stop(cls.rbldnsd)
        cls.log.close()
        cls.work.close()

    @classmethod
    def dig(cls, name, rtype):
        out = subprocess.run(["dig", "+short", "+time=2", "+tries=1", "-p", str(cls.port), "@127.0.0.1", name, rtype],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"dig failed: {out.stderr}")
        lines = [l for l in out.stdout.splitlines() if l.strip()]
        if rtype == "TXT":
            return sorted(l.strip().strip('"') for l in lines)
        return sorted(lines, key=ip_key)

    def lookup(self, subjects, zone=None):
        argv = [PAMPEROCTL, "-c", self.config, "blocklist", "lookup", "--json"] + subjects
        if zone:
            argv += ["--zone", zone]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        self.assertIn(out.returncode, (0, 75), out.stderr)
        return [json.loads(l) for l in out.stdout.splitlines()]

    def test_dig_dns_and_mirror_agree_on_every_row(self):
        rows = expected_rows()
        self.assertGreater(len(rows), 40)
        by_zone = {}
        for name, subject, _ in rows:
            by_zone.setdefault(ZONES[name][0], []).append(subject)
        answers = {}
        for zone, subjects in by_zone.items():
            for obj in self.lookup(subjects, zone):
                answers[(obj["zone"], obj["mode"], obj["subject"])] = obj
        checked = 0
        for name, subject, want in rows:
            zone = ZONES[name][0]
            dug = self.dig(query_name(name, subject), "A")
            self.assertEqual(dug, want, f"rbldnsd {zone} {subject}")
            for mode in ("mirror", "dns"):
                obj = answers.get((zone, mode, subject))
                self.assertIsNotNone(obj, f"no {mode} answer for {zone} {subject}")
                self.assertEqual(obj["status"], "listed" if want else "not-listed", f"{mode} {zone} {subject}: {obj}")
                self.assertEqual(obj["a"], want, f"{mode} {zone} {subject}")
            # TXT: mirror mode gives the TXT rbldnsd serves (sorted the same way).
            txt_dug = self.dig(query_name(name, subject), "TXT")
            mirror_txt = sorted(t for t in answers[(zone, "mirror", subject)]["txt"] if t)
            self.assertEqual(mirror_txt, txt_dug, f"TXT {zone} {subject}")
            checked += 1
        self.assertEqual(checked, len(rows))

    def test_error_answers_are_answers_but_not_rules(self):
        objs = self.lookup(["198.18.0.1"], "zen.test")
        self.assertEqual(len(objs), 2)
        for obj in objs:
            self.assertEqual(obj["a"], ["127.255.255.254"])
            self.assertEqual(obj["errors"], ["127.255.255.254"])
            self.assertEqual(obj["rules"], [])
        listed = self.lookup(["198.51.100.7"], "zen.test")
        self.assertEqual([o["rules"] for o in listed], [["LISTED_ZEN"], ["LISTED_ZEN"]])

    def test_rfc5782_test_points_in_both_modes(self):
        out = subprocess.run([PAMPEROCTL, "-c", self.config, "blocklist", "check"], capture_output=True, text=True,
                             timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(len(lines), 6, lines)
        for zone, _, _ in ZONES.values():
            self.assertIn(f"{zone} mirror ok", lines)
            self.assertIn(f"{zone} dns ok", lines)

    def test_dns_mode_with_rbldnsd_stopped_times_out_as_not_listed(self):
        # A second rbldnsd we stop before asking: the dns lists time out, the mirrors answer.
        port = harness.free_udp_port()
        proc = subprocess.Popen(["rbldnsd", "-n", "-4", "-b", f"127.0.0.1/{port}", "-w", self.work.path,
                                 "zen.test:ip4set:zen.ip4set"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop(proc)
        config = self.work.join("down.yaml")
        with open(config, "w") as f:
            f.write(f"blocklists:\n  - zone: zen.test\n    target: client_ip\n    mode: dns\n"
                    f"    resolver: 127.0.0.1:{port}\n    timeout_ms: 200\n    rule: Z\n    score: 1\n")
        out = subprocess.run([PAMPEROCTL, "-c", config, "blocklist", "lookup", "127.0.0.2"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 75, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"^zen\.test dns 127\.0\.0\.2 (timeout|error) -")


class MirrorSync(unittest.TestCase):
    def setUp(self):
        self.work = harness.WorkDir("pampero-sync-")
        self.served = self.work.join("served")
        self.mirrors = self.work.join("mirrors")
        os.makedirs(self.served)
        os.makedirs(self.mirrors)
        os.chmod(self.served, 0o755)
        self.port = harness.free_port()
        conf = self.work.join("rsyncd.conf")
        with open(conf, "w") as f:
            f.write(f"use chroot = no\npid file = {self.work.join('rsyncd.pid')}\n"
                    f"log file = {self.work.join('rsyncd.log')}\n"
                    f"[zones]\n  path = {self.served}\n  read only = yes\n  uid = root\n  gid = root\n")
        self.rsyncd = None
        self.conf = conf
        self.start_rsyncd()
        self.config = self.work.join("pampero.yaml")
        with open(self.config, "w") as f:
            f.write("blocklists:\n"
                    "  - zone: zen.test\n    target: client_ip\n    file: mirrors/zen.ip4set\n"
                    f"    sync: rsync://127.0.0.1:{self.port}/zones/zen.ip4set\n    rule: Z\n    score: 1\n"
                    "  - zone: multi.test\n    target: uri_domain\n    file: mirrors/multi.dnset\n"
                    f"    sync: rsync://127.0.0.1:{self.port}/zones/multi.dnset\n    rule: M\n    score: 1\n")

    def start_rsyncd(self):
        self.rsyncd = subprocess.Popen(["rsync", "--daemon", "--no-detach", f"--config={self.conf}",
                                        f"--port={self.port}", "--address=127.0.0.1"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness.wait_for_port(self.port, proc=self.rsyncd)

    def tearDown(self):
        stop(self.rsyncd)
        self.work.close()

    def serve(self, name, text):
        path = os.path.join(self.served, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        # A distinct mtime each time, so rsync's quick check never mistakes a new file.
        t = time.time() + getattr(self, "_bump", 0)
        self._bump = getattr(self, "_bump", 0) + 10
        os.utime(path, (t, t))

    def sync(self, *extra):
        return subprocess.run([PAMPEROCTL, "-c", self.config, "mirror", "sync", *extra], capture_output=True,
                              text=True, timeout=300)

    def mirror(self, name):
        with open(os.path.join(self.mirrors, name)) as f:
            return f.read()

    def big_zone(self, n, extra=""):
        return "".join(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}\n" for i in range(n)) + extra

    def test_sync_success_truncated_broken_and_server_down(self):
        good = self.big_zone(1000, "127.0.0.2\n")
        self.serve("zen.ip4set", good)
        self.serve("multi.dnset", "test\nexample-spam.test :8\n")
        out = self.sync()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("zen.test updated", out.stdout)
        self.assertIn("(1001 entries, was 0)", out.stdout)
        self.assertIn("multi.test updated", out.stdout)
        self.assertEqual(self.mirror("zen.ip4set"), good)
        self.assertEqual(self.mirror("multi.dnset"), "test\nexample-spam.test :8\n")
        # The synced files answer through the library.
        look = subprocess.run([PAMPEROCTL, "-c", self.config, "blocklist", "lookup", "10.0.3.7", "www.test",
                               "example-spam.test"], capture_output=True, text=True, timeout=60)
        self.assertEqual(look.returncode, 0, look.stderr)
        self.assertIn("zen.test mirror 10.0.3.7 listed 127.0.0.2 rules=Z", look.stdout)
        self.assertIn("multi.test mirror example-spam.test listed 127.0.0.8 rules=M", look.stdout)
        self.assertIn("multi.test mirror www.test not-listed -", look.stdout)

        # Nothing changed on the server: nothing replaced.
        ino = os.stat(os.path.join(self.mirrors, "zen.ip4set")).st_ino
        out = self.sync("--zone", "zen.test")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("zen.test unchanged", out.stdout)
        self.assertEqual(os.stat(os.path.join(self.mirrors, "zen.ip4set")).st_ino, ino)

        # A truncated file (fewer than half the entries) is refused; the old one stays.
        self.serve("zen.ip4set", self.big_zone(400))
        out = self.sync("--zone", "zen.test")
        self.assertEqual(out.returncode, 75)
        self.assertEqual(out.stderr.count("\n"), 1, out.stderr)
        self.assertIn("pamperoctl: mirror sync zen.test: downloaded file refused: 400 entries against 1001 now",
                      out.stderr)
        self.assertEqual(self.mirror("zen.ip4set"), good)
        # ... unless the admin lowers the ratio on purpose.
        out = self.sync("--zone", "zen.test", "--min-ratio", "0.3")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.mirror("zen.ip4set"), self.big_zone(400))
        self.serve("zen.ip4set", good)
        self.assertEqual(self.sync("--zone", "zen.test").returncode, 0)

        # A file cut in the middle of a line no longer parses: refused, named by line.
        self.serve("zen.ip4set", "".join(good.splitlines(True)[:900]) + "10.0.1.")
        out = self.sync("--zone", "zen.test")
        self.assertEqual(out.returncode, 75)
        self.assertRegex(out.stderr, r"^pamperoctl: mirror sync zen\.test: downloaded file refused: .*zen\.ip4set:901: "
                                     r"invalid address '10\.0\.1\.'\n$")
        self.assertEqual(self.mirror("zen.ip4set"), good)

        # A file the server does not have.
        with open(self.config, "a") as f:
            f.write(f"  - zone: gone.test\n    target: client_ip\n    file: mirrors/gone.ip4set\n"
                    f"    sync: rsync://127.0.0.1:{self.port}/zones/gone.ip4set\n    rule: G\n    score: 1\n")
        out = self.sync("--zone", "gone.test")
        self.assertEqual(out.returncode, 75)
        self.assertRegex(out.stderr, r"^pamperoctl: mirror sync gone\.test: rsync failed \(exit \d+\)")
        self.assertFalse(os.path.exists(os.path.join(self.mirrors, "gone.ip4set")))

        # The server is down: every list fails, one line each, the old files stay.
        stop(self.rsyncd)
        self.serve("zen.ip4set", self.big_zone(2000))
        out = self.sync()
        self.assertEqual(out.returncode, 75)
        lines = out.stderr.splitlines()
        self.assertEqual(len(lines), 3, out.stderr)
        for line in lines:
            self.assertRegex(line, r"^pamperoctl: mirror sync \S+: rsync failed")
        self.assertEqual(self.mirror("zen.ip4set"), good)
        self.assertEqual(self.mirror("multi.dnset"), "test\nexample-spam.test :8\n")
        # No temporary files are left beside the mirrors.
        leftovers = [n for n in os.listdir(self.mirrors) if n.startswith(".pampero-sync-")]
        self.assertEqual(leftovers, [])

        # Back up: the pending change goes through.
        self.start_rsyncd()
        out = self.sync("--zone", "zen.test")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("(2000 entries, was 1001)", out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
