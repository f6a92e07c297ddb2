"""pampero-milter behind a real Postfix on the paths the README promises and no other test
drives: the shipped conf/postfix/main.cf.milter used as it is (only the socket changed, as
its comment says), the milter on a unix socket, an IPv6 client ([::1]), 50 concurrent SMTP
sessions through one milter with every verdict checked, a message far larger than
scan_limit (many body chunks, delivered intact, scored on its first scan_limit bytes),
Received-hop and URI-IP blocklists (mirror mode), DNS-mode blocklists answered by a
real rbldnsd, and the directory cache: a user added with pamperoctl is refused until the
TTL has passed, and accepted after it.

One stack for the whole file: starting Postfix is the slow part."""
import hashlib
import os
import shutil
import subprocess
import threading
import unittest

import harness as h

TEST_RULES = h.RULES_SCORE_SEVEN

DOMAIN = "demo.test"
USERS = {"alice": 1, "bob": 3}  # tolerant (tag 8), standard (tag 5)
SCAN_LIMIT = 256 * 1024
CACHE_TTL = 2  # seconds (the harness sets 0; the shipped default is 30)

# Mirror lists (one file, one code per address, so the rule names the address looked up)
# and DNS lists served by rbldnsd.
HOPS = "185.199.108.153 :2:\n45.33.32.156 :3:\n192.168.1.5 :4:\n"
DNS_CLIENTS = "127.0.0.70 :2:\n"
DNS_DROP = "127.0.0.71 :2:\n"
DNS_DOMAINS = "dns-bad-example.com :2:\n"


def lists_yaml(dns_port):
    def mirror(zone, target, prefix):
        return (f"  - zone: {zone}\n    target: {target}\n    mode: mirror\n    file: hops.ip4set\n"
                f"    returns:\n      127.0.0.2: {{ rule: {prefix}_REAL, score: 1.0 }}\n"
                f"      127.0.0.3: {{ rule: {prefix}_OLDER, score: 1.0 }}\n"
                f"      127.0.0.4: {{ rule: {prefix}_PRIVATE, score: 1.0 }}\n")

    dns = f"    mode: dns\n    resolver: 127.0.0.1:{dns_port}\n    timeout_ms: 2000\n"
    return ("blocklists:\n" + mirror("hops.test", "received_ip", "HOP") + mirror("uris.test", "uri_ip", "URIIP") +
            "  - zone: clients.dns.test\n    target: client_ip\n" + dns +
            "    returns:\n      127.0.0.2: { rule: RCVD_IN_DNS_TEST, score: 3.0 }\n"
            "  - zone: drop.dns.test\n    target: client_ip\n" + dns +
            "    returns:\n      127.0.0.2: { rule: RCVD_IN_DNS_DROP, score: 5.0 }\n    action: reject\n"
            "  - zone: domains.dns.test\n    target: uri_domain\n" + dns +
            "    rule: URIBL_DNS_TEST\n    score: 2.5\n")


class DualStackPostfix(h.Postfix):
    """The harness's private Postfix with a second smtpd listener on [::1], same port."""

    MASTER_CF_EXTRA = "[::1]:{port} inet n - n - - smtpd\n"


class MilterPathsBehindPostfix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        cls.rbldnsd = None
        os.makedirs(os.path.join(w, "rules.d"))
        shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"), os.path.join(w, "rules.d"))
        with open(os.path.join(w, "rules.d", "90-test.yaml"), "w") as f:
            f.write(TEST_RULES)
        for name, text in (("hops.ip4set", HOPS), ("clients.ip4set", DNS_CLIENTS), ("drop.ip4set", DNS_DROP),
                           ("domains.dnset", DNS_DOMAINS)):
            with open(os.path.join(w, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(w, name), 0o644)
        # A real rbldnsd for the dns-mode lists.
        cls.dns_port = h.free_udp_port()
        # A harness Daemon: stopped when this process exits, even when setUpClass fails.
        cls.rbldnsd = h.Daemon(
            ["rbldnsd", "-n", "-4", "-b", f"127.0.0.1/{cls.dns_port}", "-w", w, "-t", "60", "-c", "0",
             "clients.dns.test:ip4set:clients.ip4set", "drop.dns.test:ip4set:drop.ip4set",
             "domains.dns.test:dnset:domains.dnset"],
            os.path.join(w, "rbldnsd.log"))
        h.wait_until(lambda: cls.dig("70.0.0.127.clients.dns.test") or not cls.rbldnsd.alive(),
                     timeout=20, what="rbldnsd to answer")
        if not cls.rbldnsd.alive():
            raise RuntimeError("rbldnsd exited: " + cls.rbldnsd.output())

        # The milter on a unix socket, with a small scan limit.
        cls.sock = os.path.join(w, "milter.sock")
        unused = h.free_port()
        cls.config = h.write_config(w, unused, extra=lists_yaml(cls.dns_port))
        with open(cls.config) as f:
            text = f.read()
        inet = f"socket: inet:{unused}@127.0.0.1\n"
        assert text.count(inet) == 1, text
        ttl = "directory_cache_ttl: 0\n"
        assert text.count(ttl) == 1, text
        text = text.replace(ttl, f"directory_cache_ttl: {CACHE_TTL}\n")
        with open(cls.config, "w") as f:
            f.write(text.replace(inet, f"socket: unix:{cls.sock}\n  scan_limit: {SCAN_LIMIT}\n"))
        h.pamperoctl(cls.config, "domain", "add", DOMAIN)
        for user, level in USERS.items():
            h.pamperoctl(cls.config, "user", "add", f"{user}@{DOMAIN}", "--level", str(level))
        cls.milter = h.Daemon([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", cls.config],
                              os.path.join(w, "milter.log"))
        h.wait_until(lambda: os.path.exists(cls.sock) or not cls.milter.alive(), 30, "the milter's socket")
        if not cls.milter.alive():
            raise RuntimeError("pampero-milter exited: " + cls.milter.output())

        main_cf = (h.shipped_milter_snippet(f"unix:{cls.sock}") +
                   "\ninet_protocols = all\ninet_interfaces = 127.0.0.1, [::1]\n"
                   # 50 sessions at once need 50 smtpd processes (the instance allows 20).
                   "default_process_limit = 60\n")
        cls.postfix = DualStackPostfix(w, main_cf=main_cf, domains=[DOMAIN],
                                       mailboxes=[f"{u}@{DOMAIN}" for u in USERS])

    @classmethod
    def tearDownClass(cls):
        for stop in (lambda: cls.postfix.stop(), lambda: cls.milter.stop()):
            try:
                stop()
            except AttributeError:
                pass
        if cls.rbldnsd is not None:
            cls.rbldnsd.stop()
        cls.work.close()

    @classmethod
    def dig(cls, name):
        p = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p", str(cls.dns_port), "@127.0.0.1", name, "A"],
                           capture_output=True, text=True, timeout=10)
        return p.stdout.strip()

    def wait_delivered(self, user, marker, timeout=60):
        return h.wait_until(lambda: [m for m in self.postfix.delivered(f"{user}@{DOMAIN}") if marker in m],
                            timeout, f"delivery of {marker} to {user}")[0]

    def send_one(self, ip, rcpts, subject, body, sender="friend@example.org", extra_headers=""):
        with self.postfix.smtp(ip) as s:
            return h.send(s, sender, rcpts, h.message(sender, rcpts, subject=subject, body=body,
                                                     extra_headers=extra_headers))

    # --- the shipped snippet and the unix socket -------------------------------------

    def test_shipped_snippet_and_unix_socket_carry_the_verdicts(self):
        # Postfix runs with the snippet's settings (postconf reads them back) ...
        p = subprocess.run(["postconf", "-c", os.path.join(self.postfix.dir, "etc"), "-h",
                            "smtpd_milters", "milter_default_action", "milter_rcpt_macros", "non_smtpd_milters"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.stdout.splitlines()[:2], [f"unix:{self.sock}", "tempfail"], p.stdout)
        self.assertIn("{rcpt_mailer}", p.stdout)
        # ... and the unix socket is the one it talks to: refusals come from the milter.
        rcpt, data = self.send_one("127.0.0.20", [f"alice@{DOMAIN}"], "unix-clean", "Just words.\r\n")
        self.assertEqual(data[0], 250, data)
        self.assertIn("X-Spam-Score: 0.0", self.wait_delivered("alice", "unix-clean"))
        with self.postfix.smtp("127.0.0.21") as s:
            s.mail("someone@example.org")
            code, text = s.rcpt(f"nobody@{DOMAIN}")
        self.assertEqual((code, text[:5]), (550, b"5.1.1"))
        rcpt, data = self.send_one("127.0.0.22", [f"alice@{DOMAIN}"], "unix-gtube", h.GTUBE + "\r\n")
        self.assertEqual(data[0], 550, data)
        self.assertIn("5.7.1", data[1])
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o660)

    # --- IPv6 ----------------------------------------------------------------------------

    def test_ipv6_client(self):
        s = h.smtplib.SMTP(timeout=90)
        code, _ = s.connect("::1", self.postfix.port)
        self.assertEqual(code, 220)
        s.ehlo("v6.example")
        try:
            rcpt, data = h.send(s, "v6@example.org", [f"alice@{DOMAIN}", f"ghost@{DOMAIN}"],
                                h.message("v6@example.org", [f"alice@{DOMAIN}"], subject="v6-clean"))
            self.assertEqual([c for c, _ in rcpt], [250, 550], rcpt)
            self.assertEqual(data[0], 250, data)
            rcpt, data = h.send(s, "v6@example.org", [f"alice@{DOMAIN}"],
                                h.message("v6@example.org", [f"alice@{DOMAIN}"], subject="v6-gtube",
                                          body=h.GTUBE + "\r\n"))
            self.assertEqual(data[0], 550, data)
        finally:
            s.close()
        msg = self.wait_delivered("alice", "v6-clean")
        self.assertIn("[IPv6:::1]", msg)  # Postfix's own Received: it came over IPv6
        self.assertIn("X-Spam-Score: 0.0", msg)
        # An IPv6 client is looked up in no IPv4 list, and that is no error.
        self.assertNotIn("RCVD_IN_DNS", msg)
        # The milter saw the client's real address, in both verdicts.
        log = self.milter.output()
        self.assertRegex(log, r"from=<v6@example\.org> client=::1 score=0\.0 ")
        self.assertRegex(log, r"from=<v6@example\.org> client=::1 score=1000\.0 ")

    # --- 50 concurrent sessions ----------------------------------------------------------

    def test_fifty_concurrent_sessions_each_get_their_verdict(self):
        n = 50
        barrier = threading.Barrier(n)
        results = [None] * n
        kinds = ["clean", "spam7", "gtube", "unknown", "mixed"]

        def session(i):
            kind = kinds[i % len(kinds)]
            subject = f"conc-{i}-{kind}"
            body = {"spam7": "Offer. PAMPERO-TEST-SCORE-SEVEN\r\n", "gtube": h.GTUBE + "\r\n"}.get(kind, "words\r\n")
            rcpts = {"unknown": [f"ghost{i}@{DOMAIN}"], "mixed": [f"ghost{i}@{DOMAIN}", f"bob@{DOMAIN}"],
                     "spam7": [f"alice@{DOMAIN}", f"bob@{DOMAIN}"]}.get(kind, [f"alice@{DOMAIN}"])
            try:
                # A client address each: the guard counts unknown recipients per address.
                with self.postfix.smtp(f"127.0.1.{i + 1}") as s:
                    barrier.wait(timeout=180)  # all 50 sessions are open (milter connected)
                    results[i] = (kind, subject, h.send(s, "c@example.org", rcpts,
                                                        h.message("c@example.org", rcpts, subject=subject, body=body)))
            except Exception as e:  # recorded, asserted below
                results[i] = (kind, subject, e)

        threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertFalse(any(t.is_alive() for t in threads), "a session never finished")
        errors = [r for r in results if isinstance(r[2], Exception)]
        self.assertEqual(errors, [])
        for kind, subject, (rcpt, data) in results:
            codes = [c for c, _ in rcpt]
            with self.subTest(subject=subject):
                if kind == "clean":
                    self.assertEqual((codes, data[0]), ([250], 250), (rcpt, data))
                elif kind == "spam7":  # 7 points: tagged for both levels, refused by none
                    self.assertEqual((codes, data[0]), ([250, 250], 250), (rcpt, data))
                elif kind == "gtube":
                    self.assertEqual((codes, data[0]), ([250], 550), (rcpt, data))
                    self.assertIn("5.7.1", data[1])
                elif kind == "unknown":
                    self.assertEqual((codes, data[0]), ([550], None), (rcpt, data))
                    self.assertIn("5.1.1", rcpt[0][1])
                else:
                    self.assertEqual((codes, data[0]), ([550, 250], 250), (rcpt, data))
        # Every accepted message was delivered once, with its own verdict in its headers.
        for kind, subject, _ in results:
            if kind == "clean":
                self.assertIn("X-Spam-Score: 0.0", self.wait_delivered("alice", subject + "\n"))
            elif kind == "mixed":
                self.assertIn("X-Spam-Score: 0.0", self.wait_delivered("bob", subject + "\n"))
            elif kind == "spam7":
                for user in ("alice", "bob"):
                    m = self.wait_delivered(user, subject + "\n")
                    self.assertIn("X-Spam-Score: 7.0", m)
                    self.assertIn("tests=TEST_SCORE_SEVEN", m)
        for user in ("alice", "bob"):
            subjects = [line for m in self.postfix.delivered(f"{user}@{DOMAIN}")
                        for line in m.splitlines() if line.startswith("Subject: conc-")]
            self.assertEqual(len(subjects), len(set(subjects)), f"a message delivered twice to {user}")
            self.assertFalse([s for s in subjects if "gtube" in s or "unknown" in s], subjects)

    # --- a message much larger than scan_limit --------------------------------------------

    def test_message_larger_than_scan_limit_in_many_chunks(self):
        # ~3 MiB: Postfix hands it to the milter in body chunks of at most 64 KiB (~50).
        line = "The quick brown fox jumps over the lazy dog 0123456789.\r\n"
        filler = line * (3 * 1024 * 1024 // len(line))
        # The marker within scan_limit scores; the same marker past it is never seen.
        early = "PAMPERO-TEST-SCORE-SEVEN\r\n" + filler
        late = filler + "PAMPERO-TEST-SCORE-SEVEN\r\n"
        for subject, body, score in (("big-early", early, "7.0"), ("big-late", late, "0.0")):
            rcpt, data = self.send_one("127.0.0.30", [f"bob@{DOMAIN}"], subject, body)
            self.assertEqual(data[0], 250, data)
            msg = self.wait_delivered("bob", subject)
            self.assertIn(f"X-Spam-Score: {score}", msg)
            # Delivered whole: the body Postfix stored is the body sent.
            got = msg.split("\n\n", 1)[1].replace("\r\n", "\n")
            self.assertEqual(hashlib.sha256(got.encode()).hexdigest(),
                             hashlib.sha256(body.replace("\r\n", "\n").encode()).hexdigest(), subject)
        # GTUBE at the start of a big message is refused like a small one.
        rcpt, data = self.send_one("127.0.0.31", [f"bob@{DOMAIN}"], "big-gtube", h.GTUBE + "\r\n" + filler)
        self.assertEqual(data[0], 550, data)

    # --- Received hop and URI IP lists (mirror mode) --------------------------------------

    def test_received_hop_and_uri_ips_score_in_the_milter(self):
        hops = ("Received: from lan.example (lan.example [192.168.1.5])\r\n\tby gw.example; Mon, 23 Nov 2026\r\n"
                "Received: from relay.example (relay.example [185.199.108.153])\r\n\tby lan.example; Mon, 23 Nov 2026\r\n"
                "Received: from forged.example (forged.example [45.33.32.156])\r\n\tby relay.example; Mon, 23 Nov 2026\r\n")
        body = "Log in at http://45.33.32.156/bank now.\r\n"
        rcpt, data = self.send_one("127.0.0.40", [f"alice@{DOMAIN}"], "hops-1", body, extra_headers=hops)
        self.assertEqual(data[0], 250, data)
        msg = self.wait_delivered("alice", "hops-1")
        status = next(l for l in msg.replace("\n\t", " ").splitlines() if l.startswith("X-Spam-Status:"))
        # Postfix's own hop (127.0.0.40) and the private one are skipped; the relay is
        # looked up; the older, forgeable hop is not. The URI IP is.
        self.assertIn("HOP_REAL", status)
        self.assertIn("URIIP_OLDER", status)
        for absent in ("HOP_OLDER", "HOP_PRIVATE", "URIIP_REAL"):
            self.assertNotIn(absent, status)
        self.assertIn("X-Spam-Score: 2.0", msg)

    # --- DNS-mode lists (rbldnsd) ---------------------------------------------------------

    def test_dns_mode_lists_in_the_milter(self):
        # A scoring client list and a URI domain list, answered by rbldnsd.
        rcpt, data = self.send_one("127.0.0.70", [f"alice@{DOMAIN}"], "dns-1",
                                   "See http://www.dns-bad-example.com/offer and http://example.net/\r\n")
        self.assertEqual(data[0], 250, data)
        msg = self.wait_delivered("alice", "dns-1")
        self.assertIn("RCVD_IN_DNS_TEST", msg)
        self.assertIn("URIBL_DNS_TEST", msg)
        self.assertIn("X-Spam-Score: 5.5", msg)
        # A reject list in dns mode refuses at RCPT, naming the zone.
        with self.postfix.smtp("127.0.0.71") as s:
            s.mail("x@example.org")
            code, text = s.rcpt(f"alice@{DOMAIN}")
        self.assertEqual(code, 554, text)
        self.assertIn(b"drop.dns.test", text)
        # An address rbldnsd does not list: nothing from the dns lists.
        rcpt, data = self.send_one("127.0.0.72", [f"alice@{DOMAIN}"], "dns-2", "words\r\n")
        self.assertEqual(data[0], 250, data)
        msg = self.wait_delivered("alice", "dns-2")
        self.assertNotIn("DNS_TEST", msg)
        self.assertIn("X-Spam-Score: 0.0", msg)


    # --- the directory cache, end to end -------------------------------------------------

    def test_directory_change_takes_effect_after_the_ttl(self):
        import time
        rcpt_ips = (f"127.0.2.{i}" for i in range(1, 250))  # one guess per client address

        def rcpt(address):
            with self.postfix.smtp(next(rcpt_ips)) as s:
                s.mail("x@example.org")
                return s.rcpt(address)[0]

        t0 = time.monotonic()
        self.assertEqual(rcpt(f"newbie@{DOMAIN}"), 550)  # the negative answer is cached now
        h.pamperoctl(self.config, "user", "add", f"newbie@{DOMAIN}")
        code = rcpt(f"newbie@{DOMAIN}")
        if time.monotonic() - t0 < CACHE_TTL:  # a machine slower than the TTL cannot tell
            self.assertEqual(code, 550, "a directory change seen before the cache TTL")
        code = h.wait_until(lambda: rcpt(f"newbie@{DOMAIN}") == 250 or None, 30, "the new user after the TTL")
        self.assertGreaterEqual(time.monotonic() - t0, CACHE_TTL)


if __name__ == "__main__":
    unittest.main(verbosity=2)
