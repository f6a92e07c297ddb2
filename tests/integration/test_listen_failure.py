"""A socket that cannot be bound gives the same exit code in every daemon: EX_UNAVAILABLE
(69), which the systemd units restart on (the port is often held by the previous
instance, still stopping); a malformed socket stays EX_CONFIG (78), which they do not
(common/daemon.hpp, listen_failure_exit_code). Each daemon is started with one of its
ports already taken by this test: pampero-milter's milter socket, pampero-store's LMTP
socket, pampero-policyd's policy socket, its RADIUS port (UDP), and a metrics port.
"""
import os
import socket
import subprocess
import unittest

import harness as h

EX_UNAVAILABLE = 69
EX_CONFIG = 78


def hold_tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def hold_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


class ListenFailure(unittest.TestCase):
    def setUp(self):
        self.work = h.WorkDir()
        self.held = []

    def tearDown(self):
        for s in self.held:
            s.close()
        self.work.close()

    def hold(self, kind=hold_tcp):
        s, port = kind()
        self.held.append(s)
        return port

    def run_daemon(self, daemon, config):
        return subprocess.run([os.path.join(h.BIN, daemon), "-f", "-c", config],
                              capture_output=True, text=True, timeout=60)

    def store_section(self, lmtp, metrics=None):
        text = (f"store:\n  lmtp: inet:{lmtp}@127.0.0.1\n"
                f"  socketmap: inet:{h.free_port()}@127.0.0.1\n"
                f"  mail_root: {self.work.join('mail')}\n")
        if metrics:
            text += f"  metrics: {metrics}\n"
        return text

    def assert_exit(self, p, code, names):
        self.assertEqual(p.returncode, code, p.stderr)
        self.assertIn(names, p.stderr)

    def test_milter_socket_in_use(self):
        port = self.hold()
        config = h.write_config(self.work.path, port)
        self.assert_exit(self.run_daemon("pampero-milter", config), EX_UNAVAILABLE, str(port))

    def test_store_lmtp_socket_in_use(self):
        port = self.hold()
        config = h.write_config(self.work.path, h.free_port(), extra=self.store_section(port))
        self.assert_exit(self.run_daemon("pampero-store", config), EX_UNAVAILABLE, str(port))

    def test_policy_socket_in_use(self):
        port = self.hold()
        config = h.write_config(self.work.path, h.free_port(),
                                extra=f"policyd:\n  socket: inet:{port}@127.0.0.1\n")
        self.assert_exit(self.run_daemon("pampero-policyd", config), EX_UNAVAILABLE,
                         "policy socket")

    def test_radius_port_in_use(self):
        port = self.hold(hold_udp)
        config = h.write_config(
            self.work.path, h.free_port(),
            extra=(f"policyd:\n  socket: inet:{h.free_port()}@127.0.0.1\n"
                   f"radius:\n  listen: 127.0.0.1:{port}\n"
                   "  clients:\n    - { address: 127.0.0.1, secret: S }\n"))
        self.assert_exit(self.run_daemon("pampero-policyd", config), EX_UNAVAILABLE,
                         f"radius.listen 127.0.0.1:{port}")

    def test_metrics_port_in_use_and_a_malformed_one(self):
        port = self.hold()
        config = h.write_config(
            self.work.path, h.free_port(),
            extra=(f"policyd:\n  socket: inet:{h.free_port()}@127.0.0.1\n"
                   f"  metrics: inet:{port}@127.0.0.1\n"))
        self.assert_exit(self.run_daemon("pampero-policyd", config), EX_UNAVAILABLE,
                         "policyd.metrics")
        config = h.write_config(
            self.work.path, h.free_port(),
            extra=self.store_section(h.free_port(), metrics=f"inet:{port}@127.0.0.1"))
        self.assert_exit(self.run_daemon("pampero-store", config), EX_UNAVAILABLE,
                         "store.metrics")
        # Malformed: the configuration's fault, not restarted.
        config = h.write_config(
            self.work.path, h.free_port(),
            extra=(f"policyd:\n  socket: inet:{h.free_port()}@127.0.0.1\n"
                   "  metrics: inet:99999@127.0.0.1\n"))
        self.assert_exit(self.run_daemon("pampero-policyd", config), EX_CONFIG,
                         "policyd.metrics")


if __name__ == "__main__":
    unittest.main()
