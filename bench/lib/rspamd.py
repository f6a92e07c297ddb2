"""rspamd.py - Debian's rspamd in the foreground with a private configuration, for the peer
side of the pipeline benchmarks.

Debian's shipped tree (/etc/rspamd: rules, scores, modules) is used as is, through a
top-level rspamd.conf of our own that binds only the workers we ask for on loopback, and a
private LOCAL_CONFDIR (local.d/override.d) that turns off everything that needs the network,
DNS or Redis: DNS lists (rbl, which also runs the SURBL/URIBL URL checks), SPF, DKIM, DMARC,
ARC, fuzzy_check, ASN, emails, DCC, external services, antivirus, MX check, hfilter (DNS
checks of HELO/hostnames), greylist, ratelimit, neural, reputation, history, replies,
URL redirector, clickhouse/elastic/metadata exporters, BIMI, the remote-map modules
(multimap's freemail maps, whitelist's maps, rspamd_update), once_received (a PTR lookup
of the client for every message that comes without a hostname); the Redis Bayes
classifier has no Redis and stays off by itself.
What is left is rspamd's own local rules: regexp (its SpamAssassin-like rule set), MIME,
HTML, URL and header checks, composites, chartable, mid, phishing (its local checks;
phishtank's DNS lookups off), forged_recipients, mime_types, maillist, force_actions, milter_headers.
DNS itself points at a loopback port nobody answers, with a short timeout, so nothing that
is left can reach or wait for a resolver. Run, db and log folders are under the work folder;
workers run as _rspamd.
"""
import os
import pwd
import re
import shutil
import time

import benchlib as b

OFF = ["rbl", "surbl", "spf", "dkim", "dmarc", "arc", "fuzzy_check", "asn", "emails", "dcc",
       "external_services", "antivirus", "mx_check", "hfilter", "greylist", "ratelimit",
       "neural", "reputation", "history_redis", "replies", "url_redirector", "clickhouse",
       "elastic", "metadata_exporter", "dkim_signing", "bimi", "whitelist", "multimap",
       "rspamd_update", "p0f", "spamtrap", "aws_s3", "metric_exporter", "external_relay",
       "ip_score", "dynamic_conf", "clustering", "fuzzy_collect", "bayes_expiry",
       "http_headers", "maps_stats",
       # once_received resolves the client's PTR for every message without a hostname
       "once_received"]


class Rspamd:
    """normal: a normal worker (HTTP /checkv2, for rspamc) on self.normal_port; proxy: a list
    of milter sockets ("inet" for a free port, "unix:PATH") for one self-scanning
    rspamd_proxy worker; workers: processes of each scanning worker (default: the cores)."""

    def __init__(self, work, normal=True, proxy=None, workers=None, name="rspamd"):
        exe = b.need_tool("rspamd", "install it: scripts/deps (scripts/deps.d/bench.txt)")
        workers = workers or os.cpu_count() or 2
        self.dir = os.path.join(work.path, name)
        local = os.path.join(self.dir, "local")
        for sub in ("run", "db", "log", "local/local.d", "local/override.d"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        pw = pwd.getpwnam("_rspamd")
        for sub in ("run", "db", "log"):
            os.chown(os.path.join(self.dir, sub), pw.pw_uid, pw.pw_gid)
        # Hyperscan databases compiled by rspamd are kept between runs (they only depend on
        # Debian's rules): a cold start compiles for about a minute on this machine.
        cache = os.environ.get("RSPAMD_HS_CACHE", "/var/tmp/pampero-bench-rspamd-hs")
        os.makedirs(cache, exist_ok=True)
        os.chown(cache, pw.pw_uid, pw.pw_gid)
        self.dns_port = b.free_port()  # nothing listens there
        self.normal_port = b.free_port() if normal else None
        # proxy: None, or a list of "inet" (a free port) and/or "unix:PATH"; one rspamd_proxy
        # worker listens on all of them. self.milters maps "inet"/"unix" to what Postfix's
        # smtpd_milters takes.
        self.milters = {}
        proxy_bind = []
        waits = []
        for spec in proxy or []:
            if spec == "inet":
                port = b.free_port()
                proxy_bind.append(f"127.0.0.1:{port}")
                self.milters["inet"] = f"inet:127.0.0.1:{port}"
                waits.append(("port", port))
            elif spec.startswith("unix:"):
                path = spec[5:]
                proxy_bind.append(f"{path} mode=0666 owner=_rspamd")
                self.milters["unix"] = spec
                waits.append(("unix", path))
            else:
                raise ValueError(spec)
        conf = os.path.join(self.dir, "rspamd.conf")
        with open(conf, "w") as f:
            f.write('.include "$CONFDIR/common.conf"\n'
                    'options {\n  pidfile = "$RUNDIR/rspamd.pid";\n'
                    '  .include "$CONFDIR/options.inc"\n'
                    '  .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"\n}\n'
                    'logging {\n  type = "file";\n  filename = "$LOGDIR/rspamd.log";\n'
                    '  .include "$CONFDIR/logging.inc"\n}\n')
            if normal:
                f.write(f'worker "normal" {{\n  bind_socket = "127.0.0.1:{self.normal_port}";\n'
                        '  .include "$CONFDIR/worker-normal.inc"\n'
                        f'  count = {workers};\n  task_timeout = 60s;\n}}\n')
            if proxy_bind:
                # Debian's worker-proxy.inc, with self_scan (the proxy scans in-process, no
                # upstream hop) and one process a core instead of its count = 1.
                binds = "".join(f'  bind_socket = "{x}";\n' for x in proxy_bind)
                f.write(f'worker "rspamd_proxy" {{\n{binds}'
                        '  milter = yes;\n  timeout = 120s;\n'
                        '  upstream "local" {\n    default = yes;\n    self_scan = yes;\n  }\n'
                        f'  count = {workers};\n  max_retries = 5;\n'
                        '  discard_on_reject = false;\n  quarantine_on_reject = false;\n'
                        '  spam_header = "X-Spam";\n  reject_message = "Spam message rejected";\n}\n')
        with open(os.path.join(local, "local.d", "options.inc"), "w") as f:
            f.write(f'dns {{\n  nameserver = ["127.0.0.1:{self.dns_port}"];\n'
                    '  timeout = 0.2s;\n  retransmits = 1;\n}\n'
                    f'local_addrs = "127.0.0.0/8";\n'
                    f'hs_cache_dir = "{cache}";\n')
        for m in OFF:
            with open(os.path.join(local, "override.d", f"{m}.conf"), "w") as f:
                f.write("enabled = false;\n")
        # phishing's local checks stay; its phishtank lookups (DNS, one per URL) go.
        with open(os.path.join(local, "local.d", "phishing.conf"), "w") as f:
            f.write("phishtank_enabled = false;\nopenphish_enabled = false;\n")
        self.log_path = os.path.join(self.dir, "log", "rspamd.log")
        self.scanners = (workers if normal else 0) + (workers if proxy_bind else 0)
        argv = [exe, "-f", "-c", conf, "-u", "_rspamd", "-g", "_rspamd",
                "--var", "CONFDIR=/etc/rspamd", "--var", f"LOCAL_CONFDIR={local}",
                "--var", f"RUNDIR={self.dir}/run", "--var", f"DBDIR={self.dir}/db",
                "--var", f"LOGDIR={self.dir}/log"]
        self.proc = b.Proc(argv, os.path.join(self.dir, "stdout.log"), "rspamd")
        if normal:
            b.wait_for_port(self.normal_port, timeout=90, proc=self.proc.proc, what="rspamd")
        for kind, where in waits:
            if kind == "port":
                b.wait_for_port(where, timeout=90, proc=self.proc.proc, what="rspamd proxy")
            else:
                b.wait_for_unix(where, timeout=90, proc=self.proc.proc, what="rspamd proxy")
        self.wait_hyperscan()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_hyperscan(self, timeout=240):
        """rspamd compiles its regexps for Hyperscan in a helper process after start and
        scans with PCRE until each worker has loaded the compiled database: wait until every
        scanning process says so (or the main process loaded them from the cache before
        forking), so that the figures are its steady state."""
        want = self.scanners
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                b.die(f"rspamd exited ({self.proc.proc.returncode}): {self.proc.tail()}\n"
                      f"{self.log()[-2000:]}")
            text = self.log()
            loaded = set(re.findall(r"#(\d+)\((?:normal|rspamd_proxy)\).*full hyperscan database of "
                                    r"\d+ regexps has been loaded", text))
            if len(loaded) >= want:
                return True
            # With the databases already cached, the main process loads them before it
            # forks the workers, which then have them from the start.
            if re.search(r"\(main\).*full hyperscan database of \d+ regexps has been loaded", text):
                return True
            if "not compiled with hyperscan" in text.lower():
                return False
            time.sleep(0.25)
        b.note("rspamd: not every worker reported loaded Hyperscan databases; measuring anyway")
        return False

    def stop(self):
        self.proc.stop()
