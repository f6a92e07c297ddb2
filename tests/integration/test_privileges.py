"""Issue 8, files and privileges, spoken as a raw milter peer against the real daemons:
a daemon started as root drops to `user:`/`group:` after binding; a directory file that
is deleted defers mail (4xx) and, recreated by pamperoctl, is read again without SIGHUP;
IPv6 clients of one /64 are counted and banned together."""
import os
import pwd
import grp
import socket
import struct
import unittest

import harness as h

NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrnam("nogroup")


def proc_ids(pid):
    """(real, effective, saved, fs) uids and gids, and the supplementary groups of pid."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return ([int(x) for x in fields["Uid"]], [int(x) for x in fields["Gid"]],
            [int(x) for x in fields["Groups"]])


class Privileges(unittest.TestCase):
    def setUp(self):
        self.assertEqual(os.geteuid(), 0, "these tests start the daemons as root")
        self.work = h.WorkDir()
        # The documented layout: the directory's folder belongs to the daemons' group
        # (StateDirectory= in the units), so they can make the -wal/-shm of the database.
        self.dbdir = self.work.join("db")
        os.mkdir(self.dbdir)
        os.chown(self.dbdir, 0, NOGROUP.gr_gid)
        os.chmod(self.dbdir, 0o2770)
        self.port = h.free_port()
        self.config = h.write_config(
            self.work.path, self.port, directory="db/directory.db",
            guard={"unknown_limit": 3},
            extra="user: nobody\ngroup: nogroup\n")
        h.pamperoctl(self.config, "domain", "add", "demo.test")
        h.pamperoctl(self.config, "user", "add", "alice@demo.test")
        self.milter = None
        self.store = None

    def tearDown(self):
        for d in (self.milter, self.store):
            if d:
                d.stop()
        self.work.close()

    def session(self, ip, family=b"4"):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        h.milter_negotiate(s)
        s.sendall(h.milter_packet(b"C", b"client.example\x00" + family + struct.pack(">H", 4242) +
                                ip.encode() + b"\x00"))
        return s, h.read_milter_packet(s)

    def rcpt(self, s, rcpt):
        s.sendall(h.milter_packet(b"M", b"<a@example.org>\x00") +
                  h.milter_packet(b"R", f"<{rcpt}>\x00".encode()))
        return h.read_milter_packet(s)

    def test_database_is_created_for_the_daemons_group(self):
        db = os.path.join(self.dbdir, "directory.db")
        st = os.stat(db)
        self.assertEqual(st.st_mode & 0o7777, 0o660)
        self.assertEqual(st.st_gid, NOGROUP.gr_gid)

    def test_milter_started_as_root_runs_as_the_configured_user(self):
        self.milter = h.start_milter(self.config, self.port, self.work.path)
        uids, gids, groups = proc_ids(self.milter.pid)
        self.assertEqual(uids, [NOBODY.pw_uid] * 4, self.milter.output())
        self.assertEqual(gids, [NOGROUP.gr_gid] * 4)
        self.assertNotIn(0, groups)
        self.assertIn("running as user nobody", self.milter.output())
        # It still does its job as nobody: reads the directory, answers per recipient.
        s, (cmd, _) = self.session("192.0.2.10")
        self.assertEqual(cmd, b"c")
        self.assertEqual(self.rcpt(s, "alice@demo.test")[0], b"c")
        cmd, data = self.rcpt(s, "nobody@demo.test")
        self.assertEqual(cmd, b"y")
        self.assertTrue(data.startswith(b"550 5.1.1"), data)
        s.close()

    def test_store_started_as_root_runs_as_the_configured_user(self):
        mail_root = self.work.join("mail")
        os.mkdir(mail_root)
        os.chown(mail_root, NOBODY.pw_uid, NOGROUP.gr_gid)
        lmtp = h.free_port()
        config = h.store_config(self.work.path, lmtp, h.free_port(), mail_root,
                                directory="db/directory.db")
        with open(config, "a") as f:
            f.write("user: nobody\ngroup: nogroup\n")
        self.store = h.start_store(config, lmtp, self.work.path)
        uids, gids, _ = proc_ids(self.store.pid)
        self.assertEqual(uids, [NOBODY.pw_uid] * 4, self.store.output())
        self.assertEqual(gids, [NOGROUP.gr_gid] * 4)

    def test_recreated_directory_is_read_again_without_sighup(self):
        self.milter = h.start_milter(self.config, self.port, self.work.path)
        s, _ = self.session("192.0.2.11")
        self.assertEqual(self.rcpt(s, "alice@demo.test")[0], b"c")
        for suffix in ("", "-wal", "-shm"):
            path = os.path.join(self.dbdir, "directory.db" + suffix)
            if os.path.exists(path):
                os.remove(path)
        # Deleted: mail is deferred, not refused as "unknown" (which would feed the ban).
        cmd, data = self.rcpt(s, "alice@demo.test")
        self.assertEqual(cmd, b"y")
        self.assertTrue(data.startswith(b"451"), data)
        h.pamperoctl(self.config, "domain", "add", "demo.test")
        h.pamperoctl(self.config, "user", "add", "alice@demo.test")
        self.assertEqual(self.rcpt(s, "alice@demo.test")[0], b"c", self.milter.output())
        s.close()

    def test_ipv6_clients_of_one_prefix_are_banned_together(self):
        self.milter = h.start_milter(self.config, self.port, self.work.path)
        for i in range(1, 4):  # unknown_limit 3: each address of the /64 guesses once
            s, (cmd, _) = self.session(f"2001:db8:1:2::{i:x}", b"6")
            self.assertEqual(cmd, b"c")
            cmd, data = self.rcpt(s, f"guess{i}@demo.test")
            self.assertEqual(cmd, b"y")
            self.assertTrue(data.startswith(b"421" if i == 3 else b"550"), (i, data))
            s.close()
        s, (cmd, data) = self.session("2001:db8:1:2:ffff:ffff:ffff:ffff", b"6")
        self.assertEqual(cmd, b"y", "another address of the banned /64 got in")
        self.assertTrue(data.startswith(b"421 4.7.0"), data)
        s.close()
        s, (cmd, _) = self.session("2001:db8:1:3::1", b"6")
        self.assertEqual(cmd, b"c", "the next /64 is another client")
        s.close()


if __name__ == "__main__":
    unittest.main()
