"""pampero-milter behind a real Sendmail (Debian's sendmail-bin 8.17, built with MILTER).

Covers the "A real Sendmail" part of issue 13: the SMTP scenarios of the Postfix tests
(test_milter.py, test_antivirus.py, test_milter_sasl.py), run against the MTA that defined
the milter protocol: unknown user 550 5.1.1, the dictionary-attack ban (421), per-recipient
levels with one recipient removed (smfi_delrcpt), GTUBE 550, forged X-Spam-* stripped, a
virus 554, SMTP AUTH ({auth_authen}) not scored, Sendmail's queue id ({i}) in the milter's
log, the milter down -> 4xx (F=T), and relay decided by the milter (milter.relay_check):
refused to a client with no login and no RADIUS session, allowed after SMTP AUTH.

sendmail-bin conflicts with the postfix package the other tests need, so Sendmail runs in
a Debian 12 chroot made once by scripts/sendmail-chroot (a cached tarball; scripts/test
makes it before ctest). Each test process unpacks a fresh copy into a temporary folder,
writes a sendmail.mc that includes the SHIPPED conf/sendmail/pampero.mc lines as they are
(only the milter port substituted), builds sendmail.cf with m4 inside the chroot and runs
`sendmail -bD` (foreground) there as a harness.Daemon. The chroot shares this machine's
network namespace: Sendmail listens on 127.0.0.1:PORT and reaches pampero-milter, run from
the build tree on the host, at 127.0.0.1:MPORT. Accepted mail goes to /var/mail/USER
inside the chroot (mail.local). Sendmail's syslog lines arrive on a datagram socket this
test binds at the chroot's /dev/log (no /dev or /proc mount is made). Whatever still runs
inside the chroot at the end is found through /proc/PID/root and ended by PID.
Sendmail runs with FEATURE(`promiscuous_relay'): who may relay is pampero's decision
(milter.relay_check, the same decision pampero-policyd gives Postfix), as on a Sendmail
relay for an ISP's customers that Sendmail alone cannot tell apart.

Skips (loudly) only where no chroot can be made: not root. Where the tarball is missing and
scripts/sendmail-chroot cannot make it, the test fails with the script's words.
"""
import base64
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import unittest

import harness as h

DOMAIN = "demo.test"
USERS = {"alice": 1, "bob": 3, "carol": 5}  # tolerant, standard, paranoid: as test_milter.py
HOSTNAME = "pampero-sendmail.test"
SASL_USER, SASL_PASSWORD = "alice", "secret"  # alice@demo.test in the chroot's /etc/sasldb2

TEST_RULES = h.RULES_SCORE_SEVEN

# Assembled at run time so this file is no EICAR carrier itself (as test_antivirus.py).
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def ndb(name, text):
    return f"{name}:0:*:{text.encode().hex()}\n"


def chroot_tarball():
    """The cached chroot tarball's path from scripts/sendmail-chroot, which makes it when it
    is missing (scripts/test has it made before ctest; this is for a test run on its own).
    Raises when making it fails: where root can make a chroot, a missing Sendmail is a
    failure, not a skip."""
    p = subprocess.run([os.path.join(h.SOURCE, "scripts", "sendmail-chroot")],
                       capture_output=True, text=True, timeout=540)
    if p.returncode != 0:
        raise RuntimeError(f"scripts/sendmail-chroot failed ({p.returncode}): {p.stderr[-3000:]}")
    return p.stdout.strip().splitlines()[-1]


# The one place this test skips: chroot(2), the chroot's files and Sendmail need root.
WHY_NOT = "" if os.geteuid() == 0 else "not root: chroot(2), the chroot's files and Sendmail need root"
if WHY_NOT:
    print(f"\n*** test_sendmail SKIPPED: no Sendmail chroot here: {WHY_NOT}\n", file=sys.stderr, flush=True)


def write_milter_config(workdir, milter_port):
    """pampero.yaml for pampero-milter behind Sendmail: the harness's, with ClamAV test
    signatures (one place to adjust for keys the harness does not write)."""
    sigs = os.path.join(workdir, "signatures")
    os.makedirs(sigs, exist_ok=True)
    with open(os.path.join(sigs, "eicar.ndb"), "w") as f:
        f.write(ndb("Pampero.Test.EICAR", EICAR))
    os.makedirs(os.path.join(workdir, "rules.d"), exist_ok=True)
    shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"), os.path.join(workdir, "rules.d"))
    with open(os.path.join(workdir, "rules.d", "90-test.yaml"), "w") as f:
        f.write(TEST_RULES)
    path = h.write_config(workdir, milter_port,
                          extra="antivirus:\n  signatures: signatures\n  max_size: 10M\n")
    with open(path) as f:
        text = f.read()
    assert text.startswith("milter:\n"), "harness.write_config() no longer starts with milter:"
    with open(path, "w") as f:  # relay is the milter's decision (module docstring)
        f.write(text.replace("milter:\n", "milter:\n  relay_check: true\n", 1))
    return path


def crlf(data):
    """The message with CRLF line ends only: Sendmail 8.17.1.9-2+deb12u2 refuses bare LF
    (421 4.5.0, its SMTP smuggling fix), and harness.message() bodies end in a bare LF."""
    return re.sub(r"(?<!\r)\n", "\r\n", data)


def send(smtp, sender, recipients, data):
    return h.send(smtp, sender, recipients, crlf(data))


def sendmail_mc(port, milter_port):
    """sendmail.mc: a minimal local-delivery Sendmail around the shipped pampero.mc lines."""
    with open(os.path.join(h.SOURCE, "conf", "sendmail", "pampero.mc")) as f:
        shipped = f.read()
    assert "inet:10025@127.0.0.1" in shipped, "conf/sendmail/pampero.mc no longer has the socket this test edits"
    shipped = shipped.replace("inet:10025@127.0.0.1", f"inet:{milter_port}@127.0.0.1")
    return f"""divert(-1)dnl
divert(0)dnl
include(`/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(`pampero integration test')dnl
OSTYPE(`debian')dnl
define(`confDOMAIN_NAME', `{HOSTNAME}')dnl
define(`confSERVICE_SWITCH_FILE', `/etc/mail/service.switch-nodns')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confTO_IDENT', `0s')dnl
dnl The queue folder is smmta's (2750), as Debian's own sendmail.mc (DOMAIN debian-mta) says.
define(`confTRUSTED_USER', `smmta')dnl
define(`confDELIVERY_MODE', `interactive')dnl
define(`confLOG_LEVEL', `14')dnl
define(`confREFUSE_LA', `999')dnl
define(`confQUEUE_LA', `999')dnl
define(`confDELAY_LA', `0')dnl
define(`confCONNECTION_RATE_THROTTLE', `0')dnl
define(`confPID_FILE', `/run/sendmail-test.pid')dnl
dnl SMTP AUTH (Cyrus SASL, sasldb): {{auth_authen}} reaches the milter (shipped ENVFROM line).
define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl
TRUST_AUTH_MECH(`PLAIN LOGIN')dnl
define(`LOCAL_MAILER_PATH', `/usr/libexec/sendmail/mail.local')dnl
define(`LOCAL_MAILER_ARGS', `mail.local -d $u')dnl
define(`LUSER_RELAY', `local:catchall')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`accept_unresolvable_domains')dnl
dnl Who may relay is pampero's decision (milter.relay_check), not Sendmail's.
FEATURE(`promiscuous_relay')dnl
DAEMON_OPTIONS(`Family=inet, Name=MTA-v4, Port={port}, Addr=127.0.0.1')dnl
LOCAL_DOMAIN(`{DOMAIN}')dnl
dnl --- conf/sendmail/pampero.mc as shipped (port substituted):
{shipped}dnl ---
MAILER(`local')dnl
MAILER(`smtp')dnl
"""


class SyslogSink:
    """A datagram socket at `path` (the chroot's /dev/log) that writes every line to a file."""

    def __init__(self, path, out):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.out = open(out, "a")
        self.closing = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)  # so close() is seen: closing does not wake a blocked recv
        while not self.closing:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.out.write(data.decode("utf-8", "replace") + "\n")
            self.out.flush()

    def close(self):
        self.closing = True
        self.thread.join(5)
        self.sock.close()
        self.out.close()


class SendmailChroot:
    """A fresh copy of the cached chroot with Sendmail in it, listening on 127.0.0.1:port."""

    def __init__(self, workdir, tarball, milter_port, users):
        self.workdir = workdir
        # Real path: /proc/PID/root of the processes inside says it so (kill_inside).
        self.dir = os.path.realpath(os.path.join(workdir, "chroot"))
        self.log_path = os.path.join(workdir, "sendmail.log")
        self.port = h.free_port()
        self.daemon = None
        self.sink = None
        os.makedirs(self.dir)
        h._started.append(self)  # stopped at exit even when the test process dies
        try:
            self._start(tarball, milter_port, users)
        except BaseException:
            self.stop()  # nothing left running inside before the folder is removed
            raise

    def _start(self, tarball, milter_port, users):
        subprocess.run(["tar", "-C", self.dir, "-xf", tarball], check=True, timeout=300)
        os.chmod(self.dir, 0o755)  # the tarball's "./" may be 0700: users inside need to pass
        with open(self.path("etc/hosts"), "w") as f:
            f.write(f"127.0.0.1\tlocalhost {HOSTNAME} pampero-sendmail {socket.gethostname()}\n")
        with open(self.path("etc/passwd"), "a") as f:
            for i, u in enumerate(list(users) + ["catchall"]):
                f.write(f"{u}:x:{3001 + i}:100:{u}:/nonexistent:/usr/sbin/nologin\n")
        with open(self.path("etc/mail/sendmail.mc"), "w") as f:
            f.write(sendmail_mc(self.port, milter_port))
        os.makedirs(self.path("etc/sasl2"), exist_ok=True)
        with open(self.path("etc/sasl2/Sendmail.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n")
        self.inside(f"echo {SASL_PASSWORD} | saslpasswd2 -p -c -u {DOMAIN} {SASL_USER}")
        self.inside("m4 /etc/mail/sendmail.mc > /etc/mail/sendmail.cf")
        if os.path.lexists(self.path("dev/log")):
            os.unlink(self.path("dev/log"))
        self.sink = SyslogSink(self.path("dev/log"), self.log_path)
        # -bD: the daemon in the foreground, so harness.Daemon holds its PID.
        self.daemon = h.Daemon(["chroot", self.dir, "/usr/sbin/sendmail", "-bD", "-C/etc/mail/sendmail.cf"],
                               os.path.join(self.workdir, "sendmail.out"),
                               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        h.wait_for_port(self.port, timeout=60, proc=self.daemon.proc,
                        logs=[self.log_path, self.daemon.log_path])

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def inside(self, script):
        p = subprocess.run(["chroot", self.dir, "/bin/sh", "-c", script], capture_output=True, text=True,
                           timeout=120, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
        if p.returncode != 0:
            raise RuntimeError(f"in the chroot: {script}: {p.returncode}\n{p.stdout}{p.stderr}")
        return p.stdout

    def pids_inside(self):
        out = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.readlink(f"/proc/{pid}/root") == self.dir:
                        out.append(int(pid))
                except OSError:
                    pass
        return out

    def kill_inside(self):
        for pid in self.pids_inside():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        # Connection and delivery children the daemon did not take with it.
        self.kill_inside()
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        if self in h._started:
            h._started.remove(self)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def mailbox(self, user):
        p = self.path(f"var/mail/{user}")
        if not os.path.exists(p):
            return []
        with open(p, errors="replace") as f:
            text = f.read()
        return [m for m in re.split(r"(?m)^From ", text) if m.strip()]

    def smtp(self, client_ip="127.0.0.1"):
        s = smtplib.SMTP(timeout=90, source_address=(client_ip, 0))
        s.connect("127.0.0.1", self.port)
        s.ehlo("client.example")
        return s


@unittest.skipIf(WHY_NOT, f"no Sendmail chroot: {WHY_NOT}")
class MilterBehindSendmail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir("pampero-sendmail-")
        w = cls.work.path
        cls.sendmail = None
        cls.milter = None
        try:
            cls.milter_port = h.free_port()
            cls.config = write_milter_config(w, cls.milter_port)
            h.pamperoctl(cls.config, "domain", "add", DOMAIN)
            for user, level in USERS.items():
                h.pamperoctl(cls.config, "user", "add", f"{user}@{DOMAIN}", "--level", str(level))
            cls.milter = h.start_milter(cls.config, cls.milter_port, w)
            cls.sendmail = SendmailChroot(w, chroot_tarball(), cls.milter_port, USERS)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.sendmail is not None:
            cls.sendmail.stop()
        if cls.milter is not None:
            cls.milter.stop()
        cls.work.close()

    def run(self, result=None):
        # On failure, both sides' own words.
        n = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > n:
            print(h.tail_of([self.sendmail.log_path, self.milter.log_path], 6000), file=sys.stderr)
        return out

    def wait_delivered(self, user, marker):
        return h.wait_until(lambda: [m for m in self.sendmail.mailbox(user) if marker in m],
                            what=f"delivery of {marker} to {user}")

    def test_clean_message_delivered_with_queue_id_in_milter_log(self):
        rcpt = [f"alice@{DOMAIN}"]
        with self.sendmail.smtp("127.0.0.2") as s:
            r, data = send(s, "friend@example.org", rcpt,
                           h.message("friend@example.org", rcpt, subject="sm-clean"))
        self.assertEqual(r[0][0], 250, r)
        self.assertEqual(data[0], 250, data)
        msg = self.wait_delivered("alice", "sm-clean")[0]
        self.assertIn("X-Spam-Score: 0.0", msg)
        # Sendmail's queue id ({i}) names the message in pampero-milter's log lines.
        qid = re.search(r"2\.0\.0 (\w+) Message accepted", data[1]).group(1)
        h.wait_until(lambda: re.search(rf"(?m)\b{qid}: ", self.milter.output()), 10,
                     f"a milter log line with Sendmail's queue id {qid}")

    def test_unknown_recipient_is_refused_with_550_511(self):
        with self.sendmail.smtp("127.0.0.3") as s:
            s.mail("someone@example.org")
            code, text = s.rcpt(f"nobody@{DOMAIN}")
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.1.1", text)
            code, text = s.rcpt(f"alice@{DOMAIN}")  # the session goes on
            self.assertEqual(code, 250, text)

    def test_dictionary_attack_is_banned_and_next_connection_refused(self):
        ip = "127.0.0.4"
        codes = []
        with self.sendmail.smtp(ip) as s:
            s.mail("guesser@example.org")
            for i in range(5):
                try:
                    codes.append(s.rcpt(f"guess{i}@{DOMAIN}"))
                except smtplib.SMTPServerDisconnected:
                    break
        self.assertEqual([c for c, _ in codes[:4]], [550] * 4, codes)
        self.assertEqual(codes[4][0], 421, codes)
        self.assertIn(b"4.7.0", codes[4][1])
        # A new connection from the same IP is refused, at the greeting or the first command.
        s = smtplib.SMTP(timeout=30, source_address=(ip, 0))
        try:
            code, text = s.connect("127.0.0.1", self.sendmail.port)
            if code == 220:
                code, text = s.ehlo("again.example")
                if code == 250:
                    code, text = s.mail("guesser@example.org")
        except smtplib.SMTPServerDisconnected as e:
            code, text = 421, str(e).encode()
        finally:
            s.close()
        self.assertEqual(code, 421, text)
        with self.sendmail.smtp("127.0.0.5") as s2:  # another client is not affected
            s2.mail("other@example.org")
            self.assertEqual(s2.rcpt(f"alice@{DOMAIN}")[0], 250)

    def test_gtube_is_refused_with_550_571(self):
        rcpt = [f"alice@{DOMAIN}"]
        with self.sendmail.smtp("127.0.0.6") as s:
            r, data = send(s, "spammer@example.org", rcpt,
                             h.message("spammer@example.org", rcpt, subject="sm-gtube", body=h.GTUBE + "\n"))
        self.assertEqual(r[0][0], 250, r)
        self.assertEqual(data[0], 550, data)
        self.assertIn("5.7.1", data[1])
        self.assertEqual([m for m in self.sendmail.mailbox("alice") if "sm-gtube" in m], [])

    def test_levels_decide_per_recipient_and_one_is_removed(self):
        rcpts = [f"{u}@{DOMAIN}" for u in ("alice", "bob", "carol")]
        body = "Offer inside. PAMPERO-TEST-SCORE-SEVEN\n"
        with self.sendmail.smtp("127.0.0.7") as s:
            r, data = send(s, "bulk@example.org", rcpts,
                             h.message("bulk@example.org", rcpts, subject="sm-levels-7", body=body))
        self.assertEqual([c for c, _ in r], [250, 250, 250])
        self.assertEqual(data[0], 250, data)
        a = self.wait_delivered("alice", "sm-levels-7")[0]
        b = self.wait_delivered("bob", "sm-levels-7")[0]
        self.assertIn("X-Spam-Status: Yes, score=7.0", a)
        self.assertIn("tests=TEST_SCORE_SEVEN", b)
        # carol was removed (smfi_delrcpt): once Sendmail is done with the message, she has nothing.
        qid = re.search(r"2\.0\.0 (\w+) Message accepted", data[1]).group(1)
        h.wait_until(lambda: re.search(rf"{qid}: done;", self.sendmail.log()), 30, f"Sendmail done with {qid}")
        self.assertEqual([m for m in self.sendmail.mailbox("carol") if "sm-levels-7" in m], [])
        self.assertEqual([m for m in self.sendmail.mailbox("catchall") if "sm-levels-7" in m], [])
        self.assertRegex(self.milter.output(), r"<carol@demo\.test>:reject")
        self.assertRegex(self.milter.output(), r"<bob@demo\.test>:spam")
        self.assertRegex(self.milter.output(), r"<alice@demo\.test>:inbox")
        self.assertTrue(re.search(rf"{qid}: Milter \(pampero\) delete: rcpt <carol@demo\.test>",
                                  self.sendmail.log()),
                        "no 'Milter (pampero) delete: rcpt <carol@demo.test>' in Sendmail's log")
        self.assertFalse(re.search(rf"{qid}: to=<carol@demo\.test>", self.sendmail.log()),
                         "Sendmail delivered to carol after all")

    def test_forged_spam_headers_are_removed(self):
        forged = "X-Spam-Score: -100\r\nX-Spam-Status: No, FORGEDVALUE\r\nx-spam-flag: NO\r\n"
        rcpt = [f"alice@{DOMAIN}"]
        with self.sendmail.smtp("127.0.0.8") as s:
            r, data = send(s, "forger@example.org", rcpt,
                             h.message("forger@example.org", rcpt, subject="sm-forged", extra_headers=forged))
        self.assertEqual(data[0], 250, data)
        msg = self.wait_delivered("alice", "sm-forged")[0]
        head = msg.split("\n\n")[0]
        self.assertNotIn("-100", head)
        self.assertNotIn("FORGEDVALUE", head)
        self.assertNotIn("x-spam-flag", head.lower())
        self.assertEqual(head.count("X-Spam-Score:"), 1)

    def test_virus_is_refused_with_554(self):
        b64 = base64.b64encode(EICAR.encode()).decode()
        body = ("--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                "--B\r\nContent-Type: application/octet-stream; name=x.com\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--B--\r\n")
        rcpt = [f"alice@{DOMAIN}"]
        with self.sendmail.smtp("127.0.0.9") as s:
            r, data = send(s, "a@example.org", rcpt, h.message(
                "a@example.org", rcpt, subject="sm-virus", body=body,
                extra_headers="MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n"))
        self.assertEqual(data[0], 554, data)
        self.assertIn("5.7.1", data[1])
        self.assertIn("Pampero.Test.EICAR", data[1])
        self.assertEqual([m for m in self.sendmail.mailbox("alice") if "sm-virus" in m], [])

    def test_authenticated_sender_is_not_scored(self):
        """SMTP AUTH through Sendmail: {auth_authen} (the shipped confMILTER_MACROS_ENVFROM)
        tells the milter the sender authenticated, and GTUBE from it is not refused; the
        same message without AUTH is (test_gtube_is_refused_with_550_571)."""
        rcpt = [f"bob@{DOMAIN}"]
        sender = f"{SASL_USER}@{DOMAIN}"
        with self.sendmail.smtp("127.0.0.11") as s:
            self.assertTrue(s.has_extn("auth"), s.esmtp_features)
            code, text = s.login(sender, SASL_PASSWORD)
            self.assertEqual(code, 235, text)
            r, data = send(s, sender, rcpt, h.message(sender, rcpt, subject="sm-sasl", body=h.GTUBE + "\n"))
        self.assertEqual(data[0], 250, data)
        self.wait_delivered("bob", "sm-sasl")
        qid = re.search(r"2\.0\.0 (\w+) Message accepted", data[1]).group(1)
        h.wait_until(lambda: re.search(rf"{qid}: from=<alice@demo\.test> client=127\.0\.0\.11 authenticated, "
                                       r"not scored", self.milter.output()),
                     10, "the milter's log line for the authenticated message")
        h.wait_until(lambda: re.search(rf"AUTH=server, relay=\[127\.0\.0\.11\], authid={sender}",
                                       self.sendmail.log()), 10, "Sendmail's AUTH log line")

    def test_relay_without_login_is_refused_by_the_milter(self):
        """No SMTP AUTH and no RADIUS session: relaying abroad is refused 554 5.7.1 from
        every client address (Sendmail itself would relay: promiscuous_relay), while mail
        for the local domain in the same session goes on."""
        for ip in ("127.0.0.21", "127.0.0.22", "127.0.0.23"):
            with self.subTest(ip=ip), self.sendmail.smtp(ip) as s:
                s.mail("someone@example.org")
                code, text = s.rcpt("victim@elsewhere.example")
                self.assertEqual(code, 554, text)
                self.assertIn(b"5.7.1", text)
                code, text = s.rcpt(f"alice@{DOMAIN}")
                self.assertEqual(code, 250, text)
        h.wait_until(lambda: re.search(r"relay.*elsewhere\.example|elsewhere\.example.*relay",
                                       self.milter.output(), re.I),
                     10, "the milter's log line for the refused relay")

    def test_relay_after_login_is_accepted(self):
        sender = f"{SASL_USER}@{DOMAIN}"
        with self.sendmail.smtp("127.0.0.24") as s:
            code, text = s.login(sender, SASL_PASSWORD)
            self.assertEqual(code, 235, text)
            s.mail(sender)
            code, text = s.rcpt("friend@elsewhere.example")
            self.assertEqual(code, 250, text)

    def test_zz_milter_down_is_a_tempfail(self):
        """F=T in the shipped line: with pampero-milter down, Sendmail answers 4xx and
        accepts nothing (runs last: it stops and restarts the milter)."""
        cls = type(self)
        cls.milter.stop()
        try:
            replies = []
            rcpt = [f"alice@{DOMAIN}"]
            s = smtplib.SMTP(timeout=90, source_address=("127.0.0.10", 0))
            try:
                replies.append(s.connect("127.0.0.1", self.sendmail.port))
                if replies[-1][0] == 220:
                    replies.append(s.ehlo("client.example"))
                    r, data = send(s, "a@example.org", rcpt, h.message("a@example.org", rcpt, subject="sm-down"))
                    replies += r + [data]
            except smtplib.SMTPServerDisconnected as e:
                replies.append((None, str(e)))
            finally:
                s.close()
            codes = [c for c, _ in replies if c is not None]
            self.assertTrue(any(400 <= c < 500 for c in codes), replies)
            self.assertFalse(any(c >= 500 for c in codes), replies)
            self.assertEqual([m for m in self.sendmail.mailbox("alice") if "sm-down" in m], [])
            # Sendmail's syslog lines reach the sink a moment after the replies.
            h.wait_until(lambda: re.search(r"Milter \(pampero\): to error state", self.sendmail.log()), 10,
                         "'Milter (pampero): to error state' in Sendmail's log")
        finally:
            cls.milter = h.start_milter(cls.config, cls.milter_port, cls.work.path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
