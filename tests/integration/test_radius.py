"""RADIUS accounting in pampero-policyd against a real NAS-side client, FreeRADIUS's
radclient: Start, Interim-Update, Stop, Accounting-On/Off with the right and a wrong
secret, over IPv4 and IPv6; garbage datagrams; a retransmission answered again without
being recorded twice; the sessions seen through `pamperoctl sessions`."""
import os
import random
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import radius_client as rc  # noqa: E402

SECRET = "s3cret-v4"
SECRET6 = "s3cret-v6"


def radclient(port, secret, attrs, host="127.0.0.1"):
    """radclient sends one Accounting-Request; True when an authentic answer came back
    (radclient checks the Response Authenticator and exits 0)."""
    text = "\n".join(f"{k} = {v}" for k, v in attrs.items()) + "\n"
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    p = subprocess.run(["radclient", "-r", "1", "-t", "2", target, "acct", secret],
                       input=text, capture_output=True, text=True, timeout=30)
    return p.returncode == 0


class RadiusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = harness.WorkDir()
        cls.port = harness.free_port()
        cls.port6 = harness.free_port()
        cls.admin = cls.work.join("policyd-admin.sock")
        extra = (
            "radius:\n"
            f"  listen: [127.0.0.1:{cls.port}, \"[::1]:{cls.port6}\"]\n"
            "  clients:\n"
            f"    - {{ address: 127.0.0.1, secret: {SECRET} }}\n"
            f"    - {{ address: ::1, secret: {SECRET6} }}\n"
            "  session_ttl: 3600\n"
            f"  admin_socket: {cls.admin}\n"
        )
        cls.config = harness.write_config(cls.work.path, harness.free_port(), extra=extra)
        cls.daemon = harness.Daemon(
            [os.path.join(harness.BIN, "pampero-policyd"), "-f", "-c", cls.config],
            cls.work.join("policyd.log"))
        harness.wait_until(lambda: os.path.exists(cls.admin) or not cls.daemon.alive(),
                           what="pampero-policyd's admin socket")
        assert cls.daemon.alive(), cls.daemon.output()

    @classmethod
    def tearDownClass(cls):
        rc_ = cls.daemon.stop()
        cls.work.close()
        assert rc_ == 0, f"pampero-policyd exited {rc_}"

    def show(self, ip):
        p = harness.pamperoctl(self.config, "sessions", "show", ip, check=False)
        if p.returncode != 0:
            self.assertIn("no session", p.stderr)
            return None
        return dict(line.split(": ", 1) for line in p.stdout.splitlines())

    def start(self, user, ip, session, status="Start", secret=SECRET, **extra):
        attrs = {"Acct-Status-Type": status, "User-Name": f'"{user}"',
                 "Framed-IP-Address": ip, "Acct-Session-Id": f'"{session}"'}
        attrs.update(extra)
        return radclient(self.port, secret, attrs)

    def test_start_interim_stop(self):
        self.assertTrue(self.start("alice", "10.1.0.1", "a-1", **{"Acct-Interim-Interval": 300}))
        s = self.show("10.1.0.1")
        self.assertEqual((s["user"], s["nas"], s["session"]), ("alice", "127.0.0.1", "a-1"))
        listing = harness.pamperoctl(self.config, "sessions").stdout
        self.assertIn("10.1.0.1 alice nas=127.0.0.1 session=a-1", listing)
        self.assertTrue(self.start("alice", "10.1.0.1", "a-1", status="Interim-Update"))
        self.assertEqual(self.show("10.1.0.1")["user"], "alice")
        # A Stop of another (older) session for the address: answered, the session stays.
        self.assertTrue(self.start("alice", "10.1.0.1", "a-0", status="Stop"))
        self.assertEqual(self.show("10.1.0.1")["user"], "alice")
        self.assertTrue(self.start("alice", "10.1.0.1", "a-1", status="Stop"))
        self.assertIsNone(self.show("10.1.0.1"))

    def test_wrong_secret_is_dropped_unanswered(self):
        for status in ("Start", "Interim-Update", "Stop", "Accounting-On", "Accounting-Off"):
            self.assertFalse(self.start("mallory", "10.1.0.66", "m-1", status=status,
                                        secret="not-the-secret"), status)
        self.assertIsNone(self.show("10.1.0.66"))
        self.assertIn("bad authenticator", self.daemon.output())
        self.assertTrue(self.daemon.alive())

    def test_accounting_on_and_off_drop_the_nas_sessions(self):
        for i in range(1, 6):
            self.assertTrue(self.start(f"u{i}", f"10.2.0.{i}", f"s{i}"))
        self.assertTrue(radclient(self.port, "wrong", {"Acct-Status-Type": "Accounting-On"}) is False)
        self.assertEqual(self.show("10.2.0.3")["user"], "u3")  # a forged On changes nothing
        self.assertTrue(radclient(self.port, SECRET, {"Acct-Status-Type": "Accounting-On"}))
        for i in range(1, 6):
            self.assertIsNone(self.show(f"10.2.0.{i}"))
        self.assertTrue(self.start("v", "10.2.0.9", "v1"))
        self.assertTrue(radclient(self.port, SECRET, {"Acct-Status-Type": "Accounting-Off"}))
        self.assertIsNone(self.show("10.2.0.9"))

    def test_ipv6_listener_and_framed_ipv6(self):
        attrs = {"Acct-Status-Type": "Start", "User-Name": '"six"',
                 "Framed-IPv6-Address": "2001:db8::42", "Acct-Session-Id": '"six-1"'}
        self.assertTrue(radclient(self.port6, SECRET6, attrs, host="::1"))
        s = self.show("2001:db8:0::42")
        self.assertEqual((s["user"], s["nas"]), ("six", "::1"))
        # The v4 secret is not ::1's.
        attrs["User-Name"] = '"other"'
        self.assertFalse(radclient(self.port6, SECRET, attrs, host="::1"))
        self.assertEqual(self.show("2001:db8::42")["user"], "six")

    def test_retransmission_answered_again_not_recorded_twice(self):
        c = rc.Client(self.port)
        try:
            on = rc.request(SECRET, 77, rc.ON)
            reply = c.exchange(on)
            self.assertTrue(reply and rc.response_ok(reply, on, SECRET))
            # A session starts; then the On is sent again (its answer "was lost").
            self.assertTrue(self.start("late", "10.3.0.1", "l-1"))
            again = c.exchange(on)
            self.assertTrue(again and rc.response_ok(again, on, SECRET))
            self.assertEqual(self.show("10.3.0.1")["user"], "late")
        finally:
            c.close()

    def test_garbage_and_unknown_clients_never_stop_it(self):
        rng = random.Random(10)
        c = rc.Client(self.port, timeout=0.2)
        stranger = rc.Client(self.port, source="127.0.0.2", timeout=1.0)
        try:
            for d in rc.garbage(rng, 2000):
                c.send(d)
            # A well-signed packet from an address in no radius.clients entry: no answer.
            pkt = rc.request(SECRET, 5, rc.START, user="x", ip="10.4.0.1", session="x")
            self.assertIsNone(stranger.exchange(pkt))
            self.assertIsNone(self.show("10.4.0.1"))
            # ... and everything keeps being served.
            self.assertTrue(self.start("after", "10.4.0.2", "g-1"))
            self.assertEqual(self.show("10.4.0.2")["user"], "after")
        finally:
            c.close()
            stranger.close()
        self.assertTrue(self.daemon.alive())
        out = self.daemon.output()
        self.assertIn("malformed packet", out)
        self.assertIn("unknown client", out)
        # Throttled: 2000 malformed datagrams are not 2000 lines.
        self.assertLess(out.count("malformed packet"), 100)

    def test_cli_says_when_there_is_no_admin_socket(self):
        work = harness.WorkDir()
        try:
            bare = harness.write_config(work.path, harness.free_port(),
                                        extra="radius:\n  clients: []\n")
            p = harness.pamperoctl(bare, "sessions", check=False)
            self.assertEqual(p.returncode, 78, p.stderr)
            self.assertIn("policyd.admin_socket is not set", p.stderr)
            # A socket nobody serves: a temporary failure, said so.
            gone = harness.write_config(
                work.path, harness.free_port(),
                extra=f"radius:\n  admin_socket: {work.join('nobody.sock')}\n")
            p = harness.pamperoctl(gone, "sessions", "show", "10.0.0.1", check=False)
            self.assertEqual(p.returncode, 75, p.stderr)
            self.assertIn("cannot reach pampero-policyd", p.stderr)
        finally:
            work.close()

    def test_sighup_reloads_secrets(self):
        with open(self.config) as f:
            text = f.read()
        try:
            with open(self.config, "w") as f:
                f.write(text.replace(SECRET6, "rotated-v6"))
            before = self.daemon.output().count("radius: reloaded")
            self.daemon.signal(signal.SIGHUP)
            harness.wait_until(lambda: self.daemon.output().count("radius: reloaded") > before,
                               what="the reload")
            attrs = {"Acct-Status-Type": "Start", "User-Name": '"rot"',
                     "Framed-IPv6-Address": "2001:db8::77", "Acct-Session-Id": '"r-1"'}
            self.assertFalse(radclient(self.port6, SECRET6, attrs, host="::1"))
            self.assertTrue(radclient(self.port6, "rotated-v6", attrs, host="::1"))
        finally:
            with open(self.config, "w") as f:
                f.write(text)
            before = self.daemon.output().count("radius: reloaded")
            self.daemon.signal(signal.SIGHUP)
            harness.wait_until(lambda: self.daemon.output().count("radius: reloaded") > before,
                               what="the second reload")



class SessionsGauge(unittest.TestCase):
    """pampero_radius_sessions on policyd.metrics: the sessions live in the state, as
    Start, Stop and Accounting-Off change them."""

    def test_gauge_follows_start_stop_and_off(self):
        from test_metrics import scrape
        work = harness.WorkDir()
        port, metrics = harness.free_port(), harness.free_port()
        extra = (f"policyd:\n  socket: inet:{harness.free_port()}@127.0.0.1\n"
                 f"  metrics: inet:{metrics}@127.0.0.1\n"
                 f"radius:\n  listen: 127.0.0.1:{port}\n"
                 f"  clients:\n    - {{ address: 127.0.0.1, secret: {SECRET} }}\n")
        config = harness.write_config(work.path, harness.free_port(), extra=extra)
        daemon = harness.Daemon(
            [os.path.join(harness.BIN, "pampero-policyd"), "-f", "-c", config],
            work.join("policyd.log"))
        try:
            harness.wait_for_port(metrics, proc=daemon.proc, logs=[daemon.log_path])

            def sessions():
                return scrape(metrics).get("pampero_radius_sessions")

            def send(status, user="", ip="", session=""):
                attrs = {"Acct-Status-Type": status}
                if user:
                    attrs.update({"User-Name": f'"{user}"', "Framed-IP-Address": ip,
                                  "Acct-Session-Id": f'"{session}"'})
                self.assertTrue(radclient(port, SECRET, attrs), status)

            self.assertEqual(sessions(), 0)
            send("Start", "a", "10.9.0.1", "a-1")
            send("Start", "b", "10.9.0.2", "b-1")
            send("Interim-Update", "b", "10.9.0.2", "b-1")  # the same session: still two
            self.assertEqual(sessions(), 2)
            send("Stop", "a", "10.9.0.1", "a-1")
            self.assertEqual(sessions(), 1)
            send("Accounting-Off")
            self.assertEqual(sessions(), 0)
        finally:
            rc_ = daemon.stop()
            work.close()
        self.assertEqual(rc_, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
