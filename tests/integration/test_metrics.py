"""Prometheus endpoints of pampero-milter and pampero-store behind a real Postfix.

One private Postfix runs pampero-milter in the SMTP session and delivers over LMTP to
pampero-store (socketmap lookups, lmtp_send_xforward_command = yes). Mail of known fate is
sent through it and both /metrics pages are scraped before and after: every counter must
have moved by exactly what that mail explains. Also: garbage, other paths and methods get
their 4xx and the endpoint keeps serving; every store log line about a delivered message
names Postfix's queue id, the RCPT-time ones too (they can only have it from XFORWARD).
"""
import grp
import os
import re
import shutil
import socket
import subprocess
import unittest
import urllib.error
import urllib.request

import harness as h

TEST_RULES = """rules:
  - name: TEST_SCORE_SEVEN
    target: body
    regex: 'PAMPERO-TEST-SCORE-SEVEN'
    score: 7
    description: test rule worth 7 points
"""

LISTS = """blocklists:
  - zone: score.example
    target: client_ip
    mode: mirror
    file: mirrors/score.ip4set
    rule: RCVD_IN_TEST_SCORE
    score: 3.0
"""

DOMAIN = "demo.test"
LISTED_CLIENT = "127.0.0.61"


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse_page(r.read().decode())


def scrape_unix(path):
    """GET /metrics on a unix: metrics socket; the page's samples, as scrape()."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200") or head.startswith("HTTP/1.0 200"), head
    return parse_page(body)


def parse_page(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        out[series] = float(value)
    return out


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)  # all of it: the server reads on after answering, until we close
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk


class MetricsThroughPostfix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        w = cls.work.path
        os.makedirs(os.path.join(w, "rules.d"))
        os.makedirs(os.path.join(w, "mirrors"))
        shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"),
                    os.path.join(w, "rules.d"))
        with open(os.path.join(w, "rules.d", "90-test.yaml"), "w") as f:
            f.write(TEST_RULES)
        with open(os.path.join(w, "mirrors", "score.ip4set"), "w") as f:
            f.write(f":127.0.0.2:scored\n{LISTED_CLIENT}\n")
        (cls.milter_port, cls.lmtp_port, cls.map_port, cls.milter_metrics,
         cls.store_metrics) = (h.free_port() for _ in range(5))
        cls.mail_root = cls.work.join("mail")
        store = (f"store:\n  lmtp: inet:{cls.lmtp_port}@127.0.0.1\n"
                 f"  socketmap: inet:{cls.map_port}@127.0.0.1\n"
                 f"  node: n1\n  mail_root: {cls.mail_root}\n"
                 f"  metrics: inet:{cls.store_metrics}@127.0.0.1\n")
        cls.config = h.write_config(w, cls.milter_port, extra=store + LISTS)
        with open(cls.config) as f:
            text = f.read()
        milter_line = f"milter:\n  socket: inet:{cls.milter_port}@127.0.0.1\n"
        assert milter_line in text
        with open(cls.config, "w") as f:
            f.write(text.replace(milter_line, milter_line +
                                 f"  metrics: inet:{cls.milter_metrics}@127.0.0.1\n"))
        ctl = lambda *a: h.pamperoctl(cls.config, *a)
        ctl("domain", "add", DOMAIN)
        ctl("user", "add", f"alice@{DOMAIN}", "--level", "1")  # tolerant: Spam from 8
        ctl("user", "add", f"bob@{DOMAIN}", "--level", "3")    # standard: Spam from 5
        ctl("user", "add", f"dave@{DOMAIN}", "--quota", "1K")  # refused at RCPT by size
        cls.store = h.start_store(cls.config, cls.lmtp_port, w)
        cls.milter = h.start_milter(cls.config, cls.milter_port, w)
        h.wait_for_port(cls.map_port)
        h.wait_for_port(cls.milter_metrics)
        h.wait_for_port(cls.store_metrics)
        sm = f"socketmap:inet:127.0.0.1:{cls.map_port}"
        cls.postfix = h.Postfix(w, main_cf=(
            f"smtpd_milters = inet:127.0.0.1:{cls.milter_port}\n"
            f"virtual_mailbox_domains = {sm}:domain\n"
            f"virtual_mailbox_maps = {sm}:mailbox\n"
            f"virtual_transport = lmtp:inet:127.0.0.1:{cls.lmtp_port}\n"
            "lmtp_send_xforward_command = yes\n"))

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop()
        cls.milter.stop()
        cls.store.stop()
        cls.work.close()

    def send(self, rcpts, subject, body, client_ip="127.0.0.1"):
        smtp = self.postfix.smtp(client_ip)
        rcpt, (code, text) = h.send(smtp, "sender@other.org", rcpts,
                                    h.message("sender@other.org", rcpts, subject=subject,
                                              body=body))
        smtp.quit()
        return [c for c, _ in rcpt], code

    def delivered(self, address, folder=""):
        local, domain = address.split("@")
        base = os.path.join(self.mail_root, domain, local)
        return h.maildir_messages(os.path.join(base, "." + folder) if folder else base)

    def test_counters_move_by_exactly_what_the_mail_explains(self):
        m0, s0 = scrape(self.milter_metrics), scrape(self.store_metrics)
        # The fixed label sets are there from the start, at whatever they count.
        for k in ('pampero_milter_messages_total{verdict="virus"}',
                  'pampero_milter_tempfails_total{cause="directory"}',
                  'pampero_store_deliveries_total{folder="spam",result="over_quota"}',
                  'pampero_store_tempfails_total{cause="storage"}'):
            self.assertIn(k, m0 if k.startswith("pampero_milter") else s0)

        alice, bob, dave = (f"{u}@{DOMAIN}" for u in ("alice", "bob", "dave"))
        ghost = f"ghost@{DOMAIN}"
        # 1: clean, to alice and to nobody (550 at RCPT, counted).
        self.assertEqual(self.send([alice, ghost], "clean", "Hello.\n"), ([250, 550], 250))
        # 2: GTUBE: refused at end of data.
        self.assertEqual(self.send([alice], "gtube", h.GTUBE + "\n"), ([250], 550))
        # 3: 7 points: bob's Spam folder.
        self.assertEqual(self.send([bob], "seven", "PAMPERO-TEST-SCORE-SEVEN\n"), ([250], 250))
        # 4: from a listed client, 3 points: alice's Inbox.
        self.assertEqual(self.send([alice], "listed", "Hi.\n", client_ip=LISTED_CLIENT),
                         ([250], 250))
        # 5: to dave, whose 1K quota the message's SIZE exceeds: 552 at the store's RCPT.
        self.assertEqual(self.send([dave], "big", "x" * 3000 + "\n"), ([250], 250))
        # (Not the queue drained: dave's bounce to other.org stays queued.)
        lmtp_line = r"postfix/lmtp\[\d+\]: ([0-9A-Za-z]+): to=<([^>]+)>.*status=(\w+)"
        h.wait_until(lambda: len(re.findall(lmtp_line, self.postfix.log())) == 4, 120,
                     "Postfix's four LMTP deliveries")
        self.assertEqual(len(self.delivered(alice)), 2)
        self.assertEqual(len(self.delivered(bob, "Spam")), 1)

        m1, s1 = scrape(self.milter_metrics), scrape(self.store_metrics)

        def delta(after, before, key):
            return after.get(key, 0) - before.get(key, 0)

        milter_expected = {
            'pampero_milter_messages_total{verdict="inbox"}': 3,  # 1, 4, 5
            'pampero_milter_messages_total{verdict="spam"}': 1,
            'pampero_milter_messages_total{verdict="reject"}': 1,
            'pampero_milter_messages_total{verdict="virus"}': 0,
            'pampero_milter_messages_total{verdict="tempfail"}': 0,
            'pampero_milter_recipients_total{action="inbox"}': 3,
            'pampero_milter_recipients_total{action="spam"}': 1,
            'pampero_milter_recipients_total{action="reject"}': 1,
            'pampero_milter_rule_hits_total{rule="GTUBE"}': 1,
            'pampero_milter_rule_hits_total{rule="TEST_SCORE_SEVEN"}': 1,
            'pampero_milter_rule_hits_total{rule="RCVD_IN_TEST_SCORE"}': 1,
            'pampero_milter_blocklist_lookups_total{list="score.example"}': 5,
            'pampero_milter_blocklist_hits_total{list="score.example"}': 1,
            'pampero_milter_unknown_recipients_total': 1,
            'pampero_milter_bans_total': 0,
            'pampero_milter_viruses_total': 0,
            'pampero_milter_scan_seconds_count': 5,
            'pampero_milter_scan_seconds_bucket{le="+Inf"}': 5,
        }
        for k, v in milter_expected.items():
            self.assertEqual(delta(m1, m0, k), v, k)
        store_expected = {
            'pampero_store_deliveries_total{folder="inbox",result="delivered"}': 2,
            'pampero_store_deliveries_total{folder="spam",result="delivered"}': 1,
            'pampero_store_deliveries_total{folder="inbox",result="tempfail"}': 0,
            'pampero_store_recipients_refused_total{reason="over_quota"}': 1,
            'pampero_store_recipients_refused_total{reason="unknown"}': 0,
            'pampero_store_verdicts_total{signature="valid"}': 3,
            'pampero_store_fsync_seconds_count': 3,
            'pampero_store_fsync_seconds_bucket{le="+Inf"}': 3,
        }
        for k, v in store_expected.items():
            self.assertEqual(delta(s1, s0, k), v, k)
        for page in (m1, s1):
            for k in page:
                if "_tempfails_total" in k:
                    self.assertEqual(page[k], 0, k)
        self.assertGreater(s1["pampero_store_fsync_seconds_sum"],
                           s0.get("pampero_store_fsync_seconds_sum", 0))

        # Queue ids: every store line about these messages names Postfix's queue id.
        plog = self.postfix.log()
        store_log = self.store.output()
        lmtp = re.findall(lmtp_line, plog)
        self.assertEqual(sorted((r, s) for _, r, s in lmtp),
                         [(alice, "sent"), (alice, "sent"), (bob, "sent"), (dave, "bounced")],
                         plog)
        for qid, rcpt, status in lmtp:
            if status == "sent":
                self.assertIn(f"{qid}: to=<{rcpt}> user=<{rcpt}> folder=", store_log)
            else:
                # Refused at RCPT, before any header was read: only XFORWARD names it.
                self.assertIn(f"{qid}: from=<sender@other.org> to=<{rcpt}>: 552 5.2.2",
                              store_log)
        for line in store_log.splitlines():
            if DOMAIN in line or "verdict" in line:
                self.assertNotRegex(line, r": lmtp-[0-9a-f]+: ", line)

    def test_garbage_gets_400_and_the_endpoint_keeps_serving(self):
        for port in (self.milter_metrics, self.store_metrics):
            for junk in (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
                         b"hello there\r\n\r\n",
                         b"GET /metrics HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n"):
                self.assertTrue(raw_request(port, junk).startswith(b"HTTP/1.1 400 "), junk[:20])
            self.assertTrue(raw_request(port, b"POST /metrics HTTP/1.1\r\n\r\n")
                            .startswith(b"HTTP/1.1 405 "))
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
            self.assertEqual(e.exception.code, 404)
            # An idle connection holds a slot, not the server.
            with socket.create_connection(("127.0.0.1", port), timeout=30):
                self.assertTrue(scrape(port))
        self.assertTrue(self.milter.alive())
        self.assertTrue(self.store.alive())


class UnixMetricsSocket(unittest.TestCase):
    """A unix: metrics socket gets the owner, group and mode of the daemon's other unix
    sockets (milter.socket_*, store.socket_*, policyd.socket_*), never the
    umask's, and serves the page there."""

    def check(self, daemon, config, path, mode, also=()):
        d = h.Daemon([os.path.join(h.BIN, daemon), "-f", "-c", config],
                     path + ".log")
        try:
            h.wait_until(lambda: os.path.exists(path) or not d.alive(), 30,
                         f"{daemon}'s metrics socket")
            self.assertTrue(d.alive(), d.output())
            for p in [path, *also]:
                st = os.stat(p)
                self.assertEqual(oct(st.st_mode & 0o777), oct(mode), p)
                self.assertEqual(st.st_gid, grp.getgrnam("postfix").gr_gid, p)
            return scrape_unix(path)
        finally:
            d.stop()

    def test_milter_store_and_policyd(self):
        work = h.WorkDir()
        try:
            milter = work.join("milter-metrics.sock")
            config = h.write_config(work.path, h.free_port())
            with open(config) as f:
                text = f.read()
            with open(config, "w") as f:
                f.write(text.replace("milter:\n", f"milter:\n  socket_mode: \"0640\"\n"
                                                  f"  metrics: unix:{milter}\n"))
            page = self.check("pampero-milter", config, milter, 0o640)
            self.assertIn("pampero_milter_messages_total", " ".join(page))

            store = work.join("store-metrics.sock")
            config = h.write_config(
                work.path, h.free_port(),
                extra=(f"store:\n  lmtp: inet:{h.free_port()}@127.0.0.1\n"
                       f"  socketmap: inet:{h.free_port()}@127.0.0.1\n"
                       f"  mail_root: {work.join('mail')}\n  socket_mode: \"0600\"\n"
                       f"  metrics: unix:{store}\n"))
            self.check("pampero-store", config, store, 0o600)

            # policyd.socket_*: the policy socket Postfix connects to and the metrics one.
            policyd = work.join("policyd-metrics.sock")
            policy = work.join("policy.sock")
            config = h.write_config(
                work.path, h.free_port(),
                extra=(f"policyd:\n  socket: unix:{policy}\n  socket_mode: \"0640\"\n"
                       f"  metrics: unix:{policyd}\n"))
            page = self.check("pampero-policyd", config, policyd, 0o640,
                              also=[policy])
            self.assertIn('pampero_policyd_requests_total{action="permit"}', page)
        finally:
            work.close()


class BadMetricsSocket(unittest.TestCase):
    def test_a_malformed_metrics_socket_refuses_to_start(self):
        work = h.WorkDir()
        try:
            port = h.free_port()
            store = (f"store:\n  lmtp: inet:{h.free_port()}@127.0.0.1\n"
                     f"  socketmap: inet:{h.free_port()}@127.0.0.1\n"
                     f"  mail_root: {work.join('mail')}\n  metrics: nonsense:9425\n")
            config = h.write_config(work.path, port, extra=store)
            with open(config) as f:
                text = f.read()
            with open(config, "w") as f:
                f.write(text.replace("milter:\n", "milter:\n  metrics: inet:99999@127.0.0.1\n"))
            for daemon, key in (("pampero-milter", "milter.metrics"),
                                ("pampero-store", "store.metrics")):
                p = subprocess.run([os.path.join(h.BIN, daemon), "-f", "-c", config],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 78, p.stderr)  # EX_CONFIG
                self.assertIn(key, p.stderr)
        finally:
            work.close()


if __name__ == "__main__":
    unittest.main()
