"""farm.py - a small pampero farm on this machine, for test_farm.py.

    Redis (the state) and MariaDB (the directory), each one private server;
    two MX nodes, each a private Postfix (127.0.0.1, its own port) with its own
    pampero-milter and pampero-policyd (RADIUS listener and admin socket included);
    two storage nodes (pampero-store n1 and n2, each its own mail root), the users split
    between them by the directory's `node` column and reached through store.nodes;
    a Dovecot (IMAP, POP3) on each storage node over the Maildirs pampero-store writes,
    and one front-end Dovecot proxying logins to the user's node: the shipped
    conf/dovecot/ files, with this machine's paths, ports and accounts put in.

Every node has its own pampero.yaml (as every box of a real farm would) naming the same
directory and state. MX 1's Postfix asks storage node n1's socketmap where a mailbox
lives, MX 2's asks n2's: either answers for every user, from the shared directory.

Nodes are told apart by port, all on 127.0.0.1 (Postfix instances listen there only);
SMTP clients come from other 127.x addresses, as the tests' clients always have.
Everything started here is stopped by PID (harness.Daemon, the instance scripts).
"""
import os
import pwd
import shutil
import subprocess

import harness as h

DOMAIN = "example.org"
FOREIGN = "example.net"
RADIUS_SECRET = "farm-radius-secret"
PASSWORD = "secret"  # every mail user's, in the storage nodes' passwd-file
NODES = ("n1", "n2")
CACHE_TTL = 2  # directory_cache_ttl on every node: small, so the test waits little
GUARD = {"unknown_limit": 3, "window": 600, "ban": 3600}

DOVECOT_CONF = os.path.join(h.SOURCE, "conf", "dovecot")


def shipped(name, replacements):
    """conf/dovecot/NAME as shipped, each old -> new made (every old must be there)."""
    with open(os.path.join(DOVECOT_CONF, name)) as f:
        text = f.read()
    for old, new in replacements.items():
        assert old in text, f"conf/dovecot/{name} no longer contains {old!r}"
        text = text.replace(old, new)
    return text


class Node:
    """One box's folder and pampero.yaml."""

    def __init__(self, farm, name, extra):
        self.name = name
        self.dir = os.path.join(farm.work.path, name)
        os.makedirs(self.dir)
        shutil.copy(os.path.join(h.SOURCE, "conf", "levels.yaml"), os.path.join(self.dir, "levels.yaml"))
        shutil.copytree(os.path.join(h.SOURCE, "conf", "rules.d"), os.path.join(self.dir, "rules.d"))
        with open(os.path.join(self.dir, "rules.d", "90-test.yaml"), "w") as f:
            f.write(h.RULES_SCORE_SEVEN)
        h.write_verdict_keys(self.dir)  # the same key on every node
        g = GUARD
        self.config = os.path.join(self.dir, "pampero.yaml")
        with open(self.config, "w") as f:
            f.write(f"directory: {farm.directory}\n"
                    f"directory_cache_ttl: {CACHE_TTL}\n"
                    f"state: {farm.state}\n"
                    "rules_dir: rules.d\nlevels: levels.yaml\nverdict_keys: verdict.keys\n"
                    f"guard:\n  unknown_limit: {g['unknown_limit']}\n  window: {g['window']}\n"
                    f"  ban: {g['ban']}\n" + extra)

    def ctl(self, *args, check=True):
        return h.pamperoctl(self.config, *args, check=check)

    def log(self, name):
        return os.path.join(self.dir, name + ".log")


class StorageNode(Node):
    def __init__(self, farm, name, lmtp_ports):
        self.lmtp_port, self.socketmap_port = lmtp_ports[name], h.free_port()
        self.mail_root = os.path.join(farm.work.path, name + "-mail")
        os.makedirs(self.mail_root)
        nodes = "".join(f"    {n}: inet:{p}@127.0.0.1\n" for n, p in lmtp_ports.items())
        super().__init__(farm, name, (
            f"store:\n  lmtp: inet:{self.lmtp_port}@127.0.0.1\n"
            f"  socketmap: inet:{self.socketmap_port}@127.0.0.1\n"
            f"  node: {name}\n  mail_root: {self.mail_root}\n  default_quota: 300M\n"
            f"  nodes:\n{nodes}"))
        self.store = None
        self.dovecot = None

    def start(self):
        # As vmail would, and as Dovecot (which will not open mail as root) reads it.
        subprocess.run(["chown", "-R", "nobody:nogroup", self.dir, self.mail_root], check=True)
        self.store = h.start_store(self.config, self.lmtp_port, self.dir, name="store",
                                   as_user="nobody")
        h.wait_for_port(self.socketmap_port, proc=self.store.proc, logs=[self.store.log_path])

    def maildir(self, address, folder=""):
        return h.maildir(self.mail_root, address, folder)

    def messages(self, address, folder=""):
        return h.maildir_messages(self.maildir(address, folder))


class MxNode(Node):
    def __init__(self, farm, name, storage):
        self.milter_port, self.policyd_port, self.radius_port = (h.free_port() for _ in range(3))
        self.admin = os.path.join(farm.work.path, name, "policyd-admin.sock")
        self.storage = storage  # whose socketmap and LMTP this MX's Postfix uses
        super().__init__(farm, name, (
            f"milter:\n  socket: inet:{self.milter_port}@127.0.0.1\n"
            f"policyd:\n  socket: inet:{self.policyd_port}@127.0.0.1\n  timeout: 60\n"
            f"  admin_socket: {self.admin}\n"
            "radius:\n"
            f"  listen: 127.0.0.1:{self.radius_port}\n"
            f"  clients:\n    - {{ address: 127.0.0.1, secret: {RADIUS_SECRET} }}\n"
            "  session_ttl: 3600\n"))
        self.milter = self.policyd = self.postfix = None

    def main_cf(self):
        """The shipped snippets, as an MX node's main.cf gets them, with this farm's sockets."""
        milter = h.shipped_milter_snippet(f"inet:127.0.0.1:{self.milter_port}")
        policyd = h.shipped_snippet("main.cf.policyd", {
            "inet:127.0.0.1:10031": f"inet:127.0.0.1:{self.policyd_port}",
            # The instance's mynetworks (TEST-NET-1) stays: no 127.x client is in it.
            "mynetworks_style = host\n": ""})
        # The LMTP socket first: "inet:127.0.0.1:24" is also the start of a socketmap
        # socket whose port begins with 24.
        store = h.shipped_snippet("main.cf-store", {
            "inet:127.0.0.1:24\n": f"inet:127.0.0.1:{self.storage.lmtp_port}\n",
            "inet:127.0.0.1:10026": f"inet:127.0.0.1:{self.storage.socketmap_port}"})
        # Mail relayed abroad is discarded here (loopback only), after every check.
        # Deferred mail is retried within seconds, not minutes: a test waits for it.
        return (milter + policyd + store + "\ndefault_transport = discard\n"
                "relay_transport = discard\nqueue_run_delay = 1s\nminimal_backoff_time = 1s\n"
                "maximal_backoff_time = 2s\n")

    def start(self):
        self.milter = h.Daemon([os.path.join(h.BIN, "pampero-milter"), "-f", "-c", self.config],
                               self.log("milter"))
        self.policyd = h.Daemon([os.path.join(h.BIN, "pampero-policyd"), "-f", "-d", "-c", self.config],
                                self.log("policyd"))
        h.wait_for_port(self.milter_port, proc=self.milter.proc, logs=[self.milter.log_path])
        h.wait_for_port(self.policyd_port, proc=self.policyd.proc, logs=[self.policyd.log_path])
        h.wait_until(lambda: os.path.exists(self.admin) or not self.policyd.alive(), 20,
                     f"{self.name}'s policyd admin socket")
        assert self.policyd.alive(), self.policyd.output()
        os.makedirs(os.path.join(self.dir, "pf"))
        self.postfix = h.Postfix(os.path.join(self.dir, "pf"), main_cf=self.main_cf())

    def smtp(self, client_ip):
        return self.postfix.smtp(client_ip)

    def queued(self):
        """Queue ids of the messages Postfix holds (any queue)."""
        p = subprocess.run(["postqueue", "-c", os.path.join(self.postfix.dir, "etc"), "-j"],
                           capture_output=True, text=True, timeout=30)
        return [line for line in p.stdout.splitlines() if line.strip()]


class DovecotInstance:
    """A private Dovecot on 127.0.0.1 (free IMAP and POP3 ports) running `body`: the
    instance's own paths and listeners are written here, the rest is shipped text."""

    def __init__(self, workdir, name, body):
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        self.imap_port, self.pop3_port = h.free_port(), h.free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
instance_name = pampero-farm-{os.getpid()}-{self.imap_port}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
{h.dovecot_login_listeners(self.imap_port, self.pop3_port)}""" + body)
        self.daemon = h.Daemon(["dovecot", "-F", "-c", self.conf], os.path.join(self.dir, "stdout.log"))
        for port in (self.imap_port, self.pop3_port):
            h.wait_for_port(port, proc=self.daemon.proc,
                            logs=[self.daemon.log_path, os.path.join(self.dir, "dovecot.log")])

    def stop(self):
        return self.daemon.stop()

    def log(self):
        return h.tail_of([os.path.join(self.dir, "dovecot.log"), self.daemon.log_path], 8000)


class Farm:
    """Start with Farm(workdir).start(users) where users maps address -> node."""

    def __init__(self, work):
        self.work = work
        self.redis = h.RedisServer().start(work.join("redis"))
        self.mariadb = h.MariaDBServer().start(work.join("mariadb"))
        self.directory = self.mariadb.url
        self.state = self.redis.url
        self.lmtp_ports = {n: h.free_port() for n in NODES}
        self.stores = [StorageNode(self, n, self.lmtp_ports) for n in NODES]
        self.mxs = [MxNode(self, f"mx{i + 1}", self.stores[i]) for i in range(2)]
        self.dovecots = []
        self.proxy = None

    def store(self, name):
        return next(s for s in self.stores if s.name == name)

    def start(self, users):
        ctl = self.mxs[0].ctl
        ctl("domain", "add", DOMAIN)
        for address, node in users.items():
            ctl("user", "add", address, "--node", node)
        for s in self.stores:
            s.start()
        for m in self.mxs:
            m.start()

    def start_dovecot(self, users):
        """A Dovecot on each storage node and the front-end proxy, from conf/dovecot/."""
        nobody = pwd.getpwnam("nobody")
        connect = (f"host=127.0.0.1 port={self.mariadb.port} dbname=pampero "
                   "user=pampero password=pampero-test")
        mariadb_connect = "host=127.0.0.1 port=3306 dbname=pampero user=dovecot password=CHANGE-ME"
        for s in self.stores:
            d = os.path.join(self.work.path, f"dovecot-{s.name}")
            os.makedirs(d)
            passwd = os.path.join(d, "users")  # the site's own passdb: here, a passwd-file
            with open(passwd, "w") as f:
                f.writelines(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in users)
            sql = os.path.join(d, "pampero-storage-sql.conf.ext")
            with open(sql, "w") as f:
                f.write(shipped("pampero-storage-sql.conf.ext", {
                    mariadb_connect: connect,
                    "'/var/mail/pampero/'": f"'{s.mail_root}/'",
                    "node = 'store1'": f"node = '{s.name}'"}))
            body = shipped("pampero-storage.conf", {
                "/etc/dovecot/pampero-storage-sql.conf.ext": sql,
                "mail_uid = vmail": f"mail_uid = {nobody.pw_uid}",
                "mail_gid = vmail": f"mail_gid = {nobody.pw_gid}",
                "login_trusted_networks = 10.0.0.5 10.0.0.6": "login_trusted_networks = 127.0.0.1"})
            body += ("passdb {\n  driver = passwd-file\n"
                     f"  args = scheme=PLAIN username_format=%Lu {passwd}\n}}\n")
            s.dovecot = DovecotInstance(self.work.path, f"dovecot-{s.name}", body)
            self.dovecots.append(s.dovecot)
        with open(os.path.join(DOVECOT_CONF, "mail-nodes.sql")) as f:
            self.mariadb.sql(f.read())
        self.mariadb.sql("".join(
            f"INSERT INTO mail_nodes (node, host, imap_port, pop3_port) VALUES "
            f"('{s.name}', '127.0.0.1', {s.dovecot.imap_port}, {s.dovecot.pop3_port});\n"
            for s in self.stores))
        d = os.path.join(self.work.path, "dovecot-proxy")
        os.makedirs(d)
        sql = os.path.join(d, "pampero-proxy-sql.conf.ext")
        with open(sql, "w") as f:
            f.write(shipped("pampero-proxy-sql.conf.ext", {mariadb_connect: connect}))
        body = shipped("pampero-proxy.conf", {
            "/etc/dovecot/pampero-proxy-sql.conf.ext": sql,
            "uid=dovecot gid=dovecot": f"uid={nobody.pw_uid} gid={nobody.pw_gid}"})
        self.proxy = DovecotInstance(self.work.path, "dovecot-proxy", body)
        self.dovecots.append(self.proxy)

    def stop(self):
        for d in self.dovecots:
            d.stop()
        for m in self.mxs:
            for part in (m.postfix, m.policyd, m.milter):
                if part:
                    part.stop()
        for s in self.stores:
            if s.store:
                s.store.stop()
        self.mariadb.stop()
        self.redis.stop()
