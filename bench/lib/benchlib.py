"""benchlib.py - what bench/scan-vs-rspamd, bench/smtp-pipeline and bench/milter-latency share.

Everything a benchmark starts runs on 127.0.0.1 (or a unix socket) under one temporary
work folder, is registered here, and is stopped by its PID when the script exits, however
it exits (normal end, an error, SIGINT/SIGTERM, the overall time limit). Nothing is
stopped by name.

Environment: BUILD (build dir with bin/, default SOURCE/build), PAMPERO_KEEP=1 keeps the
work folder for a look afterwards.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
SOURCE = os.path.dirname(BENCH)
CORPUS = os.path.abspath(os.path.join(SOURCE, "..", "shared", "corpus"))
PROG = os.path.basename(sys.argv[0])

EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def die(msg, code=1):
    print(f"{PROG}: {msg}", file=sys.stderr)
    raise SystemExit(code)


def note(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def build_dir():
    b = os.environ.get("BUILD") or os.environ.get("PAMPERO_BUILD") or os.path.join(SOURCE, "build")
    return os.path.abspath(b if os.path.isabs(b) else os.path.join(SOURCE, b))


def binary(name, build=None):
    """bin/NAME of the build tree: `build` (a --baseline tree), else BUILD= or build/."""
    path = os.path.join(os.path.abspath(build) if build else build_dir(), "bin", name)
    if not os.access(path, os.X_OK):
        die(f"{path} is not built (build it, or point BUILD=dir at a build tree with bin/{name})")
    return path


def need_tool(name, hint):
    path = shutil.which(name) or (os.path.exists(f"/usr/sbin/{name}") and f"/usr/sbin/{name}")
    if not path:
        die(f"{name} missing ({hint})")
    return path


def corpus_files():
    """All development-corpus messages (ham then spam, sorted); stops clearly when absent."""
    files = []
    for kind in ("ham", "spam"):
        d = os.path.join(CORPUS, kind)
        if os.path.isdir(d):
            files += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".eml"))
    if not files:
        die(f"the development corpus is absent ({CORPUS}/{{ham,spam}}/*.eml): this benchmark "
            "measures over it and cannot run without it")
    return files


def mean_size(files):
    return int(sum(os.path.getsize(f) for f in files) / len(files))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system CPU seconds the process `pid` has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_port(port, timeout=30.0, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            die(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    die(f"{what}: nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_for_unix(path, timeout=30.0, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            die(f"{what} exited with {proc.returncode} before listening on {path}")
        if os.path.exists(path):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(0.5)
                    s.connect(path)
                    return
            except OSError:
                pass
        time.sleep(0.05)
    die(f"{what}: nothing listens on {path} after {timeout}s")


# ---------------------------------------------------------------- process registry
_cleanups = []  # callables, run last-registered first


def on_exit(fn):
    _cleanups.append(fn)
    return fn


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep stopping the rest
            print(f"{PROG}: cleanup: {e}", file=sys.stderr)


def _on_signal(signum, _frame):
    raise SystemExit(f"{PROG}: stopped by signal {signum}")


def setup(time_limit):
    """Installs the exit/signal handlers and an overall time limit (seconds)."""
    atexit.register(_run_cleanups)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    def _alarm(_s, _f):
        raise SystemExit(f"{PROG}: overall time limit of {time_limit}s reached; stopping")
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(time_limit))


class Proc:
    """A server in the foreground, in its own session, stopped by its PID at exit."""

    def __init__(self, argv, log_path, what, env=None, cwd=None):
        self.what = what
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=cwd, start_new_session=True)
        on_exit(self.stop)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=15.0):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()

    def tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


class WorkDir:
    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BENCH_TMP", "/var/tmp"))
        os.chmod(self.path, 0o755)
        on_exit(self.close)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def close(self):
        if os.environ.get("PAMPERO_KEEP"):
            note(f"work folder kept: {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------- Postfix and friends
class Postfix:
    """A private Postfix (scripts/postfix-instance) relaying `relay_domain` to a sink port.

    milters: Postfix smtpd_milters value ("" for none). Stopped with `postfix stop` and,
    if its master is still there, by the master's PID.
    """

    def __init__(self, work, name, relay_domain, sink_port, milters="", extra=""):
        self.dir = os.path.join(work.path, name)
        self.port = free_port()
        os.makedirs(self.dir, exist_ok=True)
        transport = os.path.join(work.path, f"{name}-transport")
        with open(transport, "w") as f:
            f.write(f"{relay_domain} smtp:[127.0.0.1]:{sink_port}\n")
        cf = os.path.join(work.path, f"{name}-extra.cf")
        with open(cf, "w") as f:
            f.write(f"relay_domains = {relay_domain}\n"
                    f"transport_maps = texthash:{transport}\n"
                    "smtp_tls_security_level = none\n"
                    "smtpd_tls_security_level = none\n"
                    "smtp_host_lookup = native\n"
                    "disable_dns_lookups = yes\n"
                    "smtpd_peername_lookup = no\n"
                    "default_destination_concurrency_limit = 20\n"
                    "initial_destination_concurrency = 20\n"
                    "smtp_connection_cache_on_demand = yes\n"
                    "milter_connect_timeout = 10s\n")
            if milters:
                f.write(f"smtpd_milters = {milters}\n")
            f.write(extra)
        script = os.path.join(SOURCE, "scripts", "postfix-instance")
        p = subprocess.run([script, "create", self.dir, str(self.port), cf], capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            die(f"postfix-instance create failed: {p.stderr.strip()}")
        p = subprocess.run([script, "start", self.dir], capture_output=True, text=True, timeout=120)
        on_exit(self.stop)
        if p.returncode != 0:
            die(f"postfix start failed: {p.stdout}{p.stderr}")
        wait_for_port(self.port, what=f"postfix ({name})")
        self.master_pid = self._master_pid()

    def _master_pid(self):
        try:
            with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        subprocess.run([os.path.join(SOURCE, "scripts", "postfix-instance"), "stop", self.dir],
                       capture_output=True, timeout=120)
        pid = self.master_pid
        if pid:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def set_milters(self, milters):
        """Points smtpd_milters at `milters` ("" for none) and restarts the instance (same
        queue, same port), so every smtpd process has the new setting."""
        etc = os.path.join(self.dir, "etc")
        p = subprocess.run(["postconf", "-c", etc, "-e", f"smtpd_milters = {milters}"],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            die(f"postconf failed: {p.stderr.strip()}")
        self.stop()
        script = os.path.join(SOURCE, "scripts", "postfix-instance")
        p = subprocess.run([script, "start", self.dir], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            die(f"postfix restart failed: {p.stdout}{p.stderr}")
        wait_for_port(self.port, what="postfix")
        self.master_pid = self._master_pid()

    def log_offset(self):
        try:
            return os.path.getsize(os.path.join(self.dir, "log", "maillog"))
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(os.path.join(self.dir, "log", "maillog"), "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def queue_size(self):
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _root, _dirs, names in os.walk(os.path.join(self.dir, "queue", sub)):
                n += len(names)
        return n

    def log(self):
        try:
            with open(os.path.join(self.dir, "log", "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_drained(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue_size() == 0:
                return True
            time.sleep(0.1)
        return False


def smtp_sink(work, name="sink"):
    """smtp-sink on a free port: accepts everything, keeps nothing."""
    port = free_port()
    exe = need_tool("smtp-sink", "install postfix: scripts/deps")
    p = Proc([exe, "-u", "nobody", f"127.0.0.1:{port}", "256"], work.join(f"{name}.log"), "smtp-sink")
    wait_for_port(port, proc=p.proc, what="smtp-sink")
    return port, p


def smtp_source(port, messages, sessions, size, sender, rcpt, timeout, extra=()):
    """Runs smtp-source; returns (elapsed seconds, stderr text). Dies on failure."""
    exe = need_tool("smtp-source", "install postfix: scripts/deps")
    argv = [exe, "-s", str(sessions), "-m", str(messages), "-l", str(size), "-f", sender,
            "-t", rcpt, "-M", "bench.client.example", *extra, f"127.0.0.1:{port}"]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        die(f"smtp-source did not finish within {timeout}s")
    elapsed = time.monotonic() - t0
    if p.returncode != 0 or p.stderr.strip():
        die(f"smtp-source to port {port} failed ({p.returncode}): {p.stderr.strip()[:1500]}")
    return elapsed


# ---------------------------------------------------------------- pampero
class Pampero:
    """pampero-milter with the shipped rules (conf/rules.d, conf/levels.yaml) copied into
    the work folder, a directory with `domain` and `user`, and optional extras (YAML text:
    blocklists:, antivirus:)."""

    def __init__(self, work, socket_spec, domain, user, extra="", name="pampero", build=None):
        self.dir = os.path.join(work.path, name)
        os.makedirs(self.dir, exist_ok=True)
        shutil.copy(os.path.join(SOURCE, "conf", "levels.yaml"), os.path.join(self.dir, "levels.yaml"))
        shutil.copytree(os.path.join(SOURCE, "conf", "rules.d"), os.path.join(self.dir, "rules.d"))
        self.config = os.path.join(self.dir, "pampero.yaml")
        self.socket_spec = socket_spec
        with open(self.config, "w") as f:
            f.write(f"milter:\n  socket: {socket_spec}\n"
                    "directory: sqlite:directory.db\n"
                    "state: memory\n"
                    "rules_dir: rules.d\nlevels: levels.yaml\n" + extra)
        ctl = binary("pamperoctl", build)
        for args in (["domain", "add", domain], ["user", "add", user]):
            p = subprocess.run([ctl, "-c", self.config, *args], capture_output=True, text=True,
                               timeout=60)
            if p.returncode != 0:
                die(f"pamperoctl {' '.join(args)} failed: {p.stderr.strip()}")
        # MILTER_LD_PRELOAD / MILTER_TMPDIR: diagnostics only (bench/lib/diag/), given to
        # pampero-milter and nothing else; unset for the real figures.
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if os.environ.get("MILTER_LD_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["MILTER_LD_PRELOAD"]
        if os.environ.get("MILTER_TMPDIR"):
            env["TMPDIR"] = os.environ["MILTER_TMPDIR"]
        self.proc = Proc([binary("pampero-milter", build), "-f", "-c", self.config],
                         os.path.join(self.dir, "milter.log"), "pampero-milter", env=env,
                         cwd=self.dir)
        if socket_spec.startswith("inet:"):
            port = int(socket_spec[5:].split("@")[0])
            wait_for_port(port, proc=self.proc.proc, what="pampero-milter")
            self.postfix_spec = f"inet:127.0.0.1:{port}"
        else:
            path = socket_spec[5:]
            wait_for_unix(path, proc=self.proc.proc, what="pampero-milter")
            os.chmod(path, 0o666)
            self.postfix_spec = f"unix:{path}"

    def stop(self):
        self.proc.stop()


def write_signatures(folder):
    """An .ndb with an EICAR signature (ClamAV's own DB format), written here: no download."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "bench-eicar.ndb"), "w") as f:
        f.write(f"Pampero.Bench.EICAR:0:*:{EICAR.encode().hex()}\n")


def write_mirror(path, entries=100000):
    """An rbldnsd ip4set of `entries` /32s inside 198.18.0.0/15 (benchmark space), never
    matching the loopback client: every lookup walks the table and misses."""
    with open(path, "w") as f:
        f.write(":127.0.0.2:Listed\n")
        for i in range(entries):
            f.write(f"198.{18 + (i >> 16 & 1)}.{i >> 8 & 255}.{i & 255}\n")


def pampero_extra_yaml(work, blocklists=True, antivirus=True):
    """The blocklists:/antivirus: YAML for a 'full' pampero, files written under work."""
    text = ""
    if blocklists:
        zone = work.join("mirror-zen.ip4set")
        write_mirror(zone)
        text += ("blocklists:\n"
                 "  - zone: zen.bench.example\n    target: client_ip\n    mode: mirror\n"
                 f"    file: {zone}\n"
                 "    returns:\n      127.0.0.2: { rule: RCVD_IN_BENCH, score: 4.0 }\n"
                 "  - zone: zen.bench.example\n    target: received_ip\n    mode: mirror\n"
                 f"    file: {zone}\n"
                 "    returns:\n      127.0.0.2: { rule: RCVD_HOP_IN_BENCH, score: 2.0 }\n")
    if antivirus:
        sigs = work.join("signatures")
        write_signatures(sigs)
        text += f"antivirus:\n  signatures: {sigs}\n  max_size: 25M\n  on_error: tempfail\n"
        if os.path.isdir("/dev/shm"):  # libclamav's temp files on tmpfs, as conf/pampero.yaml advises
            shm = tempfile.mkdtemp(prefix="pampero-bench-clamav-", dir="/dev/shm")
            atexit.register(shutil.rmtree, shm, True)
            text += f"  tmpdir: {shm}\n"
    return text


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [line.format(*headers), line.format(*["-" * w for w in widths])]
    out += [line.format(*[str(c) for c in r]) for r in rows]
    print("\n".join(out), flush=True)


def send_and_count(pf, messages, sessions, size, sender, rcpt, timeout, extra=()):
    """smtp-source into Postfix `pf`, then waits (bounded) for its queue to drain into the
    sink. Returns dict: seconds (smtp-source's wall time: every message accepted or refused
    by then), accepted (queued by Postfix), sent (relayed to the sink), rejected (refused in
    the session: 4xx/5xx, milter or not), drained (queue empty in time)."""
    off = pf.log_offset()
    elapsed = smtp_source(pf.port, messages, sessions, size, sender, rcpt, timeout, extra)
    drained = pf.wait_drained(timeout)
    time.sleep(0.3)  # postlogd writes asynchronously
    log = pf.log_since(off)
    return {"seconds": elapsed,
            "accepted": log.count("(queue active)"),
            "sent": log.count("status=sent"),
            "rejected": sum(1 for ln in log.splitlines()
                            if "milter-reject:" in ln or " reject: " in ln),
            "drained": drained,
            "log": log}
