"""The shipped systemd units (issue 8): ExecStart where the README installs, the hardening
the daemons are known to work under, and `systemd-analyze security --offline=yes` below a
bound (before issue 8: 8.5, 8.5 and 8.7, 'EXPOSED')."""
import os
import re
import subprocess
import unittest

import harness as h

UNITS = os.path.join(h.SOURCE, "conf", "systemd")
HARDENING = ["CapabilityBoundingSet", "RestrictAddressFamilies", "PrivateDevices",
             "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
             "SystemCallFilter", "UMask", "NoNewPrivileges", "ProtectSystem"]
MAX_EXPOSURE = 2.5


def unit_keys(name):
    keys = {}
    with open(os.path.join(UNITS, name)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, _, v = line.partition("=")
                keys.setdefault(k, []).append(v)
    return keys


def services():
    return sorted(n for n in os.listdir(UNITS) if n.endswith(".service"))


class SystemdUnits(unittest.TestCase):
    def test_exec_start_is_where_the_readme_installs(self):
        with open(os.path.join(h.SOURCE, "README.md")) as f:
            m = re.search(r"install -m 755 build/bin/\S+ .* (/\S+)/\n", f.read())
        self.assertIsNotNone(m, "the README's install line")
        sbin = m.group(1)
        for name in services():
            exe = unit_keys(name)["ExecStart"][0].split()[0]
            self.assertEqual(os.path.dirname(exe), sbin, name)

    def test_hardening_options(self):
        for name in services():
            keys = unit_keys(name)
            for k in HARDENING:
                self.assertIn(k, keys, f"{name}: {k}")
            self.assertEqual(keys["SystemCallFilter"], ["@system-service"], name)
        for name in ("pampero-milter.service", "pampero-store.service"):
            keys = unit_keys(name)
            self.assertEqual(keys["LimitNOFILE"], ["65536"], name)
        milter = unit_keys("pampero-milter.service")
        # The documented antivirus.tmpdir must be writable under ProtectSystem=strict.
        self.assertIn("pampero/clamav", milter["RuntimeDirectory"][0].split())
        # ... and libclamav's per-scan folders go there (tmpfs) without an antivirus.tmpdir.
        self.assertIn("TMPDIR=/run/pampero/clamav", milter["Environment"])
        self.assertEqual(milter["CapabilityBoundingSet"], [""])
        store = unit_keys("pampero-store.service")
        self.assertEqual(store["CapabilityBoundingSet"], ["CAP_NET_BIND_SERVICE"])
        self.assertIn("/var/mail/pampero", store["ReadWritePaths"][0].split())

    def test_exposure_scores(self):
        for name in services():
            p = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                                os.path.join(UNITS, name)],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
            self.assertIsNotNone(m, p.stdout + p.stderr)
            print(f"{name}: exposure {m.group(1)}")
            self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, name)


if __name__ == "__main__":
    unittest.main()
