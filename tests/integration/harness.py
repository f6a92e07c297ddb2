"""harness.py - what pampero's integration tests share.

Real servers only: a private Postfix instance (scripts/postfix-instance), pampero's own
daemons from the build tree, started and stopped by PID. Ports come from the kernel
(free_port), so tests can run in parallel. Nothing here skips: a missing binary or server
raises, and the test fails.

Environment (set by ctest): PAMPERO_BUILD (build dir with bin/), PAMPERO_SOURCE (repo).
"""
import atexit
import base64
import fcntl
import hashlib
import hmac
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import time

SOURCE = os.environ.get("PAMPERO_SOURCE") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("PAMPERO_BUILD") or os.path.join(SOURCE, "build")
BIN = os.path.join(BUILD, "bin")
CORPUS = os.path.abspath(os.path.join(SOURCE, "..", "shared", "corpus"))

# A rules.d file with one rule: a body marker worth 7 points (the Spam folder at the
# default level 3: tag 5, cutoff 15). Append "  - name: ..." entries to extend it.
RULES_SCORE_SEVEN = """rules:
  - name: TEST_SCORE_SEVEN
    target: body
    regex: 'PAMPERO-TEST-SCORE-SEVEN'
    score: 7
    description: test rule worth 7 points
"""

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


PORT_LOCKS = os.path.join(tempfile.gettempdir(), "pampero-test-ports")
_held_ports = []  # open, flock()ed files: each port is this process's until it exits


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now, and that no other test process
    will be handed until this one exits.

    Random rather than the kernel's bind(0) choice: tests run in parallel processes, and
    the kernel hands the same just-released ephemeral port to the next caller. Random is
    not enough either: between the check here and the server's own bind (a second or more
    for Postfix or Dovecot, more under the sanitizer build) another test could draw the
    same number. So each port drawn is also claimed with flock() on a file named after it,
    held for the life of this process (the kernel drops the lock when it exits, so a
    crashed test leaves no stale claim)."""
    os.makedirs(PORT_LOCKS, exist_ok=True)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(20000, 32000)  # below Linux's ephemeral range (32768-60999)
        claim = open(os.path.join(PORT_LOCKS, str(port)), "a")
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            claim.close()  # another test process (or this one) has it
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                claim.close()
                continue
        _held_ports.append(claim)
        return port
    raise RuntimeError("no free TCP port found")


def free_udp_port():
    """A port from free_port() that is also free for UDP on 127.0.0.1 (a DNS server's)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free UDP port")


def maildir(root, address, folder=""):
    """The store's Maildir of `address` under mail root `root` (domain/local, as the test
    directories set it), or its Maildir++ folder `folder` (root/.Folder)."""
    local, domain = address.split("@")
    base = os.path.join(root, domain, local)
    return os.path.join(base, "." + folder) if folder else base


def shipped_snippet(name, replacements):
    """conf/postfix/NAME as shipped, with each of `replacements` (old -> new) made; every
    old string must be in the file, so a changed snippet fails here rather than being
    half-used."""
    with open(os.path.join(SOURCE, "conf", "postfix", name)) as f:
        text = f.read()
    for old, new in replacements.items():
        assert old in text, f"conf/postfix/{name} no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def shipped_milter_snippet(socket_spec):
    """conf/postfix/main.cf.milter as shipped, with its socket (smtpd_milters and
    non_smtpd_milters) replaced by `socket_spec`: the one edit its comment asks for."""
    return shipped_snippet("main.cf.milter", {"inet:127.0.0.1:10025": socket_spec})


# A raw milter peer (the MTA's side), for tests that speak the protocol byte by byte.
def milter_packet(cmd, data=b""):
    """One milter packet: 4-octet big-endian length (command included), command, data."""
    return struct.pack(">I", len(data) + 1) + cmd + data


def read_milter_packet(sock):
    """One packet from the milter: (command byte, data); (None, b"") when it hung up."""
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    head = exactly(4)
    if head is None:
        return None, b""
    body = exactly(struct.unpack(">I", head)[0])
    if body is None:
        return None, b""
    return body[:1], body[1:]


def milter_message(sock, subject, body=b"hello\r\n"):
    """One header, end of headers, body and end of message on a negotiated, connected raw
    milter connection with a transaction open (NR_HDR, NR_BODY and NR_EOH negotiated: only
    the end of message is answered). Returns the commands the milter sent, its final reply
    (c, a, y, t or r) last; raises AssertionError when it hung up before that."""
    sock.sendall(milter_packet(b"L", b"Subject\x00 " + subject + b"\x00") + milter_packet(b"N") +
                 milter_packet(b"B", body) + milter_packet(b"E"))
    seen = []
    while True:
        cmd, _ = read_milter_packet(sock)
        if cmd is None:
            raise AssertionError(f"closed before the verdict, after {seen}")
        seen.append(cmd)
        if cmd in (b"c", b"a", b"y", b"t", b"r"):
            return seen


def milter_negotiate(sock):
    """Offers every action and protocol flag (version 6), as Postfix does; returns the reply."""
    sock.sendall(milter_packet(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF)))
    cmd, data = read_milter_packet(sock)
    assert cmd == b"O", (cmd, data)
    return data


def tail_of(paths, size=4000):
    """The last `size` bytes of each file that exists, for a failure message."""
    out = ""
    for p in paths:
        if os.path.exists(p):
            with open(p, "rb") as f:
                f.seek(max(0, os.path.getsize(p) - size))
                out += f"\n--- {p}:\n" + f.read().decode("utf-8", "replace")
    return out


def wait_for_port(port, host="127.0.0.1", timeout=20.0, proc=None, logs=()):
    """Waits until host:port accepts connections; raises if it never does, with the end
    of each file in `logs` (the server's own words on why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}" +
                               tail_of(logs))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s" + tail_of(logs))


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class WorkDir:
    """A temporary folder removed at close (kept when PAMPERO_KEEP is set)."""

    def __init__(self, prefix="pampero-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.path, 0o755)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def close(self):
        if not os.environ.get("PAMPERO_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)


# Every server a test started and has not stopped: stopped when the test process exits,
# so a failing setUp (whose tearDown never runs) leaves no daemon behind.
_started = []


@atexit.register
def _report_postfix_retries():
    if Postfix.RETRIES:
        print(f"harness: {len(Postfix.RETRIES)} Postfix start(s) failed and were retried in this "
              "test process (reports above)", file=sys.stderr, flush=True)


@atexit.register
def _stop_leftovers():
    for server in reversed(_started[:]):
        try:
            server.stop()
        except Exception as e:  # one that will not stop must not keep the others running
            print(f"harness: stopping a leftover server: {e}", file=sys.stderr)


class Daemon:
    """A pampero daemon (or any server) in the foreground, stopped by its PID."""

    def __init__(self, argv, log_path, env=None):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        _started.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=10.0):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()
        if self in _started:
            _started.remove(self)
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# --- a private redis-server (scripts/redis-instance): the shared state of issue 12 ----

class RedisServer:
    """A private redis-server on 127.0.0.1:PORT and DIR/redis.sock, nothing on disk.

    start(dir, port=None, *options) starts it (a free port when none is given; options
    such as "--requirepass", "pw" go to redis-server) and waits until it answers;
    stop() ends it by its PID; restart() starts it again on the same folder, port and
    options (empty: no persistence). A missing redis-server raises."""

    SCRIPT = os.path.join(SOURCE, "scripts", "redis-instance")

    def __init__(self):
        self.dir, self.port, self.options, self.running = None, None, (), False

    def start(self, dir, port=None, *options):
        self.dir, self.port, self.options = dir, port or free_port(), tuple(options)
        return self.restart()

    def restart(self):
        if self.running:
            self.stop()
        subprocess.run([self.SCRIPT, "start", self.dir, str(self.port), *self.options],
                       check=True, timeout=30)
        self.running = True
        _started.append(self)
        return self

    def stop(self):
        if self in _started:
            _started.remove(self)
        if self.running:
            self.running = False
            subprocess.run([self.SCRIPT, "stop", self.dir], check=True, timeout=30)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    @property
    def socket(self):
        return os.path.join(self.dir, "redis.sock")

    def pid(self):
        with open(os.path.join(self.dir, "redis.pid")) as f:
            return int(f.read())

    def cli(self, *args, password=None):
        """redis-cli's output for one command (raises if redis-cli fails)."""
        env = dict(os.environ, REDISCLI_AUTH=password) if password else None
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], check=True,
                              timeout=10, capture_output=True, text=True, env=env).stdout


# --- the signed spam verdict (scanners/verdict/include/pampero/verdict/verdict_signature.hpp)
# Every configuration write_config makes names verdict.keys beside it, holding this one
# key, so the milter and every store node of a test share it as a real farm would.
VERDICT_KEY_ID = "it"
VERDICT_SECRET = bytes(range(1, 33))  # 32 bytes
VERDICT_KEYS_TEXT = f"# test key\n{VERDICT_KEY_ID} {VERDICT_SECRET.hex()}\n"


def write_verdict_keys(workdir, text=VERDICT_KEYS_TEXT):
    path = os.path.join(workdir, "verdict.keys")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def _strip_ws(v):
    return "".join(c for c in v if c not in " \t\r\n")


def verdict_body_hash(body):
    """SHA-256 of the body with SP, HT, CR, LF removed, base64: an independent
    implementation of scan::body_hash()."""
    raw = body.encode() if isinstance(body, str) else body
    raw = bytes(b for b in raw if b not in b" \t\r\n")
    return base64.b64encode(hashlib.sha256(raw).digest()).decode()


def sign_verdict(score, status, subject, message_id, body, t=None, key_id=VERDICT_KEY_ID,
                 secret=VERDICT_SECRET):
    """The X-Spam-Signature value pampero-milter would write (scan::sign_verdict)."""
    t = int(time.time()) if t is None else t
    bh = verdict_body_hash(body)
    text = (f"pampero-verdict-v1\nk={key_id}\nt={t}\nscore={_strip_ws(score)}\n"
            f"status={_strip_ws(status)}\nsubject={_strip_ws(subject)}\n"
            f"message-id={_strip_ws(message_id)}\nbh={bh}\n")
    mac = base64.b64encode(hmac.new(secret, text.encode(), hashlib.sha256).digest()).decode()
    return f"v=1; k={key_id}; t={t}; bh={bh}; s={mac}"


def signed_message(subject, score, body, extra_headers="", message_id="", **kw):
    """A message (LF line ends) carrying a valid signed verdict for `score`, as it
    reaches pampero-store from Postfix after pampero-milter."""
    status = f"{'Yes' if float(score) >= 5 else 'No'}, score={score} tag=5.0 tests=none"
    mid = f"Message-ID: {message_id}\n" if message_id else ""
    return (f"Subject: {subject}\n{mid}{extra_headers}X-Spam-Score: {score}\n"
            f"X-Spam-Status: {status}\n"
            f"X-Spam-Signature: {sign_verdict(score, status, subject, message_id, body, **kw)}\n"
            f"\n{body}")


def write_config(workdir, milter_port, extra=None, directory="directory.db", state="memory",
                 guard=None):
    """pampero.yaml in workdir with the repo's levels and rules copied beside it, and
    the shared test verdict key (verdict.keys).

    `extra` is YAML text appended as is (store:, blocklists: ...).
    """
    shutil.copy(os.path.join(SOURCE, "conf", "levels.yaml"), os.path.join(workdir, "levels.yaml"))
    rules = os.path.join(workdir, "rules.d")
    if not os.path.exists(rules):
        shutil.copytree(os.path.join(SOURCE, "conf", "rules.d"), rules)
    g = {"unknown_limit": 5, "window": 600, "ban": 3600}
    g.update(guard or {})
    text = (
        f"milter:\n  socket: inet:{milter_port}@127.0.0.1\n"
        f"directory: sqlite:{directory}\n"
        f"directory_cache_ttl: 0\n"
        f"state: {state}\n"
        f"rules_dir: rules.d\nlevels: levels.yaml\n"
        f"verdict_keys: verdict.keys\n"
        f"guard:\n  unknown_limit: {g['unknown_limit']}\n  window: {g['window']}\n  ban: {g['ban']}\n"
    )
    if extra:
        text += extra
    if not os.path.exists(os.path.join(workdir, "verdict.keys")):
        write_verdict_keys(workdir)
    path = os.path.join(workdir, "pampero.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def pamperoctl(config, *args, check=True):
    """Runs pamperoctl -c config args...; returns the CompletedProcess."""
    p = subprocess.run([os.path.join(BIN, "pamperoctl"), "-c", config, *args],
                       capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"pamperoctl {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def start_milter(config, port, workdir):
    d = Daemon([os.path.join(BIN, "pampero-milter"), "-f", "-c", config],
               os.path.join(workdir, "milter.log"))
    wait_for_port(port, proc=d.proc, logs=[d.log_path])
    return d


class Postfix:
    """A private Postfix instance listening on 127.0.0.1:self.port.

    domains/mailboxes feed virtual(8) delivery into Maildirs under DIR/mail;
    main_cf is extra main.cf text (smtpd_milters, transport_maps ...).
    """

    # An instance that has not greeted within GREETING_WAIT seconds is stopped and a fresh
    # one (new folder, new port) started, at most STARTS times. Seen under ASan load in CI:
    # `postfix start` succeeded, the port accepted connections, yet no smtpd ever said 220
    # and not even master's "daemon started" reached the log. Each failed start is reported
    # on stderr with what was found, so a flaky peer is visible, never silent; a Postfix
    # that fails every time still fails the test.
    #
    # A start that failed for a cause of ours is not retried: the test fails at once with
    # the log lines that say so (see our_fault()). Retries are counted in RETRIES and the
    # count is printed when the test process exits.
    GREETING_WAIT = 75.0
    STARTS = 3
    # Lines added to master.cf after `create` ({port}: the instance's port), for a
    # subclass that needs another listener.
    MASTER_CF_EXTRA = ""
    RETRIES = []  # one report per failed start that was retried, for the whole process

    # Log lines that put the failure on us rather than on the machine: a fatal error (a
    # main.cf or map we wrote), or a socketmap/milter/LMTP peer of ours that refused,
    # closed or answered badly while smtpd started. A watchdog timeout is the machine's
    # load, not a cause of ours.
    OUR_FAULT = re.compile(r"^(?!.*watchdog).*(fatal: |(warning|error): .*(socketmap|milter|lmtp)).*$",
                           re.M | re.I)

    def __init__(self, workdir, main_cf="", domains=(), mailboxes=()):
        failures = []
        for attempt in range(1, self.STARTS + 1):
            self.dir = os.path.join(workdir, "postfix" if attempt == 1 else f"postfix-{attempt}")
            self.port = free_port()
            try:
                self._start(workdir, main_cf, domains, mailboxes)
                wait_for_port(self.port)
                self.wait_for_greeting(self.GREETING_WAIT)
                _started.append(self)
                return
            except RuntimeError as e:
                report = f"Postfix start {attempt}/{self.STARTS} failed: {e}\n{self.diagnostics()}"
                print(report, file=sys.stderr, flush=True)
                failures.append(report)
                ours = self.our_fault()
                self.stop()
                if ours:
                    raise RuntimeError("Postfix did not start, and its log blames our side "
                                       "(not retried):\n" + "\n".join(ours) + "\n" + report)
                if attempt < self.STARTS:
                    Postfix.RETRIES.append(report)
        raise RuntimeError("Postfix never came up:\n" + "\n".join(failures))

    def our_fault(self):
        """The lines of this instance's log that name a cause of ours (see OUR_FAULT)."""
        try:
            return [m.group(0) for m in self.OUR_FAULT.finditer(self.log())][:20]
        except OSError:
            return []

    def _start(self, workdir, main_cf, domains, mailboxes):
        extra = os.path.join(workdir, "postfix-extra.cf")
        with open(extra, "w") as f:
            f.write(main_cf)
        script = os.path.join(SOURCE, "scripts", "postfix-instance")
        subprocess.run([script, "create", self.dir, str(self.port), extra], check=True,
                       capture_output=True, text=True, timeout=120)
        if self.MASTER_CF_EXTRA:
            with open(os.path.join(self.dir, "etc", "master.cf"), "a") as f:
                f.write(self.MASTER_CF_EXTRA.format(port=self.port))
        with open(os.path.join(self.dir, "etc", "vdomains"), "w") as f:
            f.writelines(f"{d} OK\n" for d in domains)
        with open(os.path.join(self.dir, "etc", "vmailbox"), "w") as f:
            f.writelines(f"{m} {m.split('@')[1]}/{m.split('@')[0]}/\n" for m in mailboxes)
        p = subprocess.run([script, "start", self.dir], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"postfix start failed: {p.stdout}{p.stderr}")

    def wait_for_greeting(self, timeout=240.0):
        """Until smtpd answers 220. master listens before any smtpd runs, and on a loaded
        machine a first smtpd that fails to start is throttled by master for a minute."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                s = smtplib.SMTP(timeout=min(30.0, max(1.0, deadline - time.monotonic())))
                code, _ = s.connect("127.0.0.1", self.port)
                s.close()
                if code == 220:
                    return
            except (OSError, smtplib.SMTPException):
                pass
            time.sleep(1)
        raise RuntimeError(f"Postfix on {self.port} never greeted; its log:\n{self.log()[-4000:]}")

    def diagnostics(self):
        """What a person would look at: master's pid and state, who listens on the port."""
        out = []
        try:
            with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/status") as f:
                state = next((line.strip() for line in f if line.startswith("State:")), "?")
            out.append(f"master pid {pid}: {state}")
        except (OSError, ValueError) as e:
            out.append(f"master: {e}")
        for cmd in (["ss", "-ltnp", f"sport = :{self.port}"], ["ps", "-eo", "pid,stat,etime,args"]):
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
                text = p.stdout
                if cmd[0] == "ps":
                    text = "\n".join(l for l in text.splitlines() if self.dir in l or "postfix" in l)
                out.append(f"$ {' '.join(cmd)}\n{text}")
            except (OSError, subprocess.SubprocessError) as e:
                out.append(f"{cmd[0]}: {e}")
        return "\n".join(out)

    def stop(self):
        if self in _started:
            _started.remove(self)
        try:
            subprocess.run([os.path.join(SOURCE, "scripts", "postfix-instance"), "stop", self.dir],
                           capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            # A wedged instance must not outlive the test: end the master we started.
            try:
                with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def maildir(self, address, folder=""):
        local, domain = address.split("@")
        base = os.path.join(self.dir, "mail", domain, local)
        return os.path.join(base, "." + folder) if folder else base

    def delivered(self, address):
        """Messages in the address's Maildir new/ (contents)."""
        new = os.path.join(self.maildir(address), "new")
        if not os.path.isdir(new):
            return []
        out = []
        for name in sorted(os.listdir(new)):
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read().decode("utf-8", "replace"))
        return out

    def log(self):
        with open(os.path.join(self.dir, "log", "maillog"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def smtp(self, client_ip="127.0.0.1"):
        """An SMTP client connected from client_ip (any 127.x address works on Linux)."""
        s = smtplib.SMTP(timeout=90, source_address=(client_ip, 0))
        s.connect("127.0.0.1", self.port)
        s.ehlo("client.example")
        return s

    def wait_queue_empty(self, timeout=30.0):
        def empty():
            p = subprocess.run(["postqueue", "-c", os.path.join(self.dir, "etc"), "-p"],
                               capture_output=True, text=True)
            return "Mail queue is empty" in p.stdout
        wait_until(empty, timeout, "the Postfix queue to drain")


def message(sender, recipients, subject="Hello", body="Just a note.\n", extra_headers=""):
    to = ", ".join(recipients)
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{time.time_ns()}@example.org>\r\n"
            f"{extra_headers}\r\n{body}")


def send(smtp, sender, recipients, data):
    """MAIL/RCPT/DATA step by step; returns (rcpt_replies, data_reply) as (code, text) tuples.

    Unlike smtplib.sendmail it never raises on a refused recipient, so tests see each reply.
    """
    code, text = smtp.mail(sender)
    if code != 250:
        return [], (code, text.decode())
    rcpt = []
    for r in recipients:
        c, t = smtp.rcpt(r)
        rcpt.append((c, t.decode()))
        if c == 421:
            return rcpt, (c, t.decode())
    if not any(c == 250 for c, _ in rcpt):
        smtp.rset()
        return rcpt, (None, "")
    c, t = smtp.data(data.encode() if isinstance(data, str) else data)
    return rcpt, (c, t.decode())


# --- pampero-store (store agent) -----------------------------------------------------

def store_config(workdir, lmtp_port, socketmap_port, mail_root, node="n1", nodes=None,
                 directory="directory.db", quota="300M", extra_store=""):
    """pampero.yaml for pampero-store (and pamperoctl) in workdir; returns its path.

    `nodes` maps node names to LMTP ports on 127.0.0.1 (store.nodes)."""
    milter_port = free_port()  # unused by the store; the file is shared with pamperoctl
    store = (f"store:\n  lmtp: inet:{lmtp_port}@127.0.0.1\n"
             f"  socketmap: inet:{socketmap_port}@127.0.0.1\n"
             f"  node: {node}\n  mail_root: {mail_root}\n  default_quota: {quota}\n")
    if nodes:
        store += "  nodes:\n" + "".join(f"    {n}: inet:{p}@127.0.0.1\n" for n, p in nodes.items())
    store += extra_store
    return write_config(workdir, milter_port, extra=store, directory=directory)


def start_store(config, lmtp_port, workdir, name="store", as_user=None):
    """pampero-store -f -c config, waited for on its LMTP port.

    as_user runs it under that account (setpriv execs, so the PID stays the store's): the
    Dovecot tests use "nobody", as Dovecot will not open mail as root."""
    prefix = []
    if as_user:
        import pwd
        pw = pwd.getpwnam(as_user)
        prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
        keys = os.path.join(os.path.dirname(config), "verdict.keys")
        if os.path.exists(keys):
            os.chown(keys, pw.pw_uid, pw.pw_gid)  # its daemon's own, as in production
    d = Daemon(prefix + [os.path.join(BIN, "pampero-store"), "-f", "-c", config],
               os.path.join(workdir, f"{name}.log"))
    wait_for_port(lmtp_port, proc=d.proc, logs=[d.log_path])
    return d


class Lmtp:
    """A raw LMTP client that shows every reply, for protocol tests."""

    def __init__(self, port, host="127.0.0.1", timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """(code, [lines]) of one possibly multi-line reply."""
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def deliver(self, sender, recipients, data, lhlo=True):
        """One transaction; returns ([rcpt replies], [data replies, one per accepted rcpt])."""
        if lhlo:
            assert self.cmd("LHLO client.example")[0] == 250
        assert self.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        rcpt = [self.cmd(f"RCPT TO:<{r}>") for r in recipients]
        accepted = sum(1 for c, _ in rcpt if c == 250)
        if not accepted:
            self.cmd("RSET")
            return rcpt, []
        code, _ = self.cmd("DATA")
        assert code == 354, code
        body = data.replace("\r\n", "\n").replace("\n", "\r\n")
        body = "".join(("." + l if l.startswith(".") else l) for l in body.splitlines(True))
        if not body.endswith("\r\n"):
            body += "\r\n"
        self.send(body + ".\r\n")
        return rcpt, [self.reply() for _ in range(accepted)]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def maildir_messages(folder):
    """Contents of the messages in a Maildir folder's new/ and cur/, sorted by name."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(folder, sub)
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
    return out


def dovecot_login_listeners(imap_port, pop3_port):
    """dovecot.conf text: IMAP and POP3 on 127.0.0.1 at these ports, no TLS listeners."""
    return f"""service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


class Dovecot:
    """A private Dovecot (IMAP, POP3, LMTP on 127.0.0.1, free ports) on a mail root.

    Users live in a passwd-file (password "secret"); mail is maildir:MAIL_ROOT/%d/%n with
    Maildir++ quota read from maildirsize (no limits configured here: Dovecot takes
    them from the file pampero-store writes). `extra`: dovecot.conf text appended (a
    shipped snippet such as conf/dovecot/95-pampero-learn.conf). Stopped by PID."""

    def __init__(self, workdir, mail_root, users, fsync="optimized", protocols="imap pop3 lmtp",
                 mail_user="nobody", extra=""):
        import pwd
        pw = pwd.getpwnam(mail_user)
        self.dir = os.path.join(workdir, "dovecot")
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        self.imap_port, self.pop3_port, self.lmtp_port = free_port(), free_port(), free_port()
        passwd = os.path.join(self.dir, "users")
        with open(passwd, "w") as f:
            f.writelines(f"{u}:{{PLAIN}}secret::::::\n" for u in users)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
instance_name = pampero-test-{os.getpid()}-{self.imap_port}
protocols = {protocols}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail_root}/%d/%n
mail_fsync = {fsync}
mail_plugins = quota
lmtp_save_to_detail_mailbox = no
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
plugin {{
  quota = maildir:User quota
}}
namespace inbox {{
  inbox = yes
  separator = .
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={pw.pw_uid} gid={pw.pw_gid} home={mail_root}/%d/%n
}}
{dovecot_login_listeners(self.imap_port, self.pop3_port)}service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
""" + extra)
        self.daemon = Daemon(["dovecot", "-F", "-c", self.conf], os.path.join(self.dir, "stdout.log"))
        wait_for_port(self.imap_port, proc=self.daemon.proc,
                      logs=[self.daemon.log_path, os.path.join(self.dir, "dovecot.log")])

    def stop(self):
        return self.daemon.stop()

    def log(self):
        path = os.path.join(self.dir, "dovecot.log")
        if not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()


# --- a private MariaDB server (scripts/mariadb-instance) -------------------------------
class MariaDBServer:
    """A private mariadbd on 127.0.0.1:PORT and DIR/mysqld.sock with database and user
    `pampero` (password `pampero-test`). start(dir, port) initialises DIR on first use;
    restart() keeps the data and port. A server that will not start raises (never skips);
    one left running is stopped when the test process exits."""

    SCRIPT = os.path.join(SOURCE, "scripts", "mariadb-instance")

    def __init__(self):
        self.dir = self.port = None

    def _run(self, *args):
        r = subprocess.run([self.SCRIPT, *args], capture_output=True, text=True, timeout=150)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb-instance {' '.join(args)} failed:\n{r.stdout}{r.stderr}")

    def start(self, dir, port=None):
        self.dir, self.port = os.path.abspath(dir), port or free_port()
        self._run("start", self.dir, str(self.port))
        if self not in _started:
            _started.append(self)
        return self

    def stop(self):
        if self.dir:
            self._run("stop", self.dir)
        if self in _started:
            _started.remove(self)

    def restart(self):
        self.stop()
        self.start(self.dir, self.port)

    @property
    def socket(self):
        return os.path.join(self.dir, "mysqld.sock")

    @property
    def url(self):
        return f"mariadb://pampero:pampero-test@127.0.0.1:{self.port}/pampero"

    def sql(self, statements, database="pampero"):
        """Runs SQL as root over the socket; returns the tab-separated output."""
        r = subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket}", "--user=root",
                            "--batch", "--skip-column-names", database],
                           input=statements, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb: {r.stderr}")
        return r.stdout
