"""pamperoctl on a MariaDB directory (a real private mariadbd, scripts/mariadb-instance):

- every pamperoctl directory command gives the same exit code, output and error on SQLite
  and on MariaDB (the same script run against both, compared line by line);
- `pamperoctl migrate-directory sqlite:... mariadb://...` copies everything (domains, users
  with level, quota, node, maildir, migration and limits, aliases, list entries, contacts),
  after which pamperoctl reading the MariaDB directory prints what it printed from SQLite;
  a non-empty target is refused unless --force; a server that is down is a failure (75);
- the password comes from directory_password_file, out of the YAML."""
import os
import unittest

import harness as h


def config_for(workdir, name, directory_lines):
    """pampero.yaml under workdir/name whose directory is given by directory_lines."""
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    path = h.write_config(d, h.free_port())
    with open(path) as f:
        text = f.read()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("directory:"))
    with open(path, "w") as f:
        f.write(directory_lines + text + "\n")
    return path


# A script of every pamperoctl directory command, good and bad input both.
def script(work):
    vcf = os.path.join(work, "c.vcf")
    with open(vcf, "w") as f:
        f.write("BEGIN:VCARD\nVERSION:3.0\nFN:Ann Ö\nEMAIL:ann@one.example\nEND:VCARD\n")
    csv = os.path.join(work, "c.csv")
    with open(csv, "w") as f:
        f.write("Name,E-mail Address\nCy,cy@two.example\nJunk,not-an-address\n")
    return [
        ("domain", "add", "Example.ORG"),
        ("domain", "add", "example.net"),
        ("domain", "add", "example.org"),
        ("domain", "add", "bad domain"),
        ("domain", "list"),
        ("user", "add", "Alice@example.org", "--level", "2", "--quota", "500M"),
        ("user", "add", "bob@example.org"),
        ("user", "add", "carol@example.net", "--node", "n2", "--maildir", "net/carol/"),
        ("user", "add", "alice@example.org"),
        ("user", "add", "x@unknown.example"),
        ("user", "add", "not-an-address"),
        ("user", "set-level", "bob@example.org", "5"),
        ("user", "set-level", "bob@example.org", "9"),
        ("user", "set-level", "ghost@example.org", "3"),
        ("user", "set-limits", "alice@example.org", "--messages-per-hour", "10",
         "--recipients-per-message", "0"),
        ("user", "set-limits", "ghost@example.org", "--messages-per-hour", "1"),
        ("user", "migrate", "carol@example.net", "--node", "n3"),
        ("user", "show", "alice@EXAMPLE.org"),
        ("user", "show", "bob@example.org"),
        ("user", "show", "carol@example.net"),
        ("user", "show", "ghost@example.org"),
        ("user", "list"),
        ("user", "list", "example.net"),
        ("alias", "add", "postmaster@example.org", "alice@example.org"),
        ("alias", "add", "postmaster@example.org", "alice@example.org"),
        ("alias", "add", "info@example.org", "bob@example.org"),
        ("alias", "add", "x@remote.example", "bob@example.org"),
        ("alias", "del", "info@example.org"),
        ("alias", "del", "info@example.org"),
        ("list", "add", "black", "@Spam.Example"),
        ("list", "add", "black", "@spam.example"),
        ("list", "add", "white", "boss@partner.example"),
        ("list", "add", "white", "--user", "bob@example.org", "Friend@Spam.Example"),
        ("list", "add", "white", "--user", "ghost@example.org", "a@b.example"),
        ("list", "add", "grey", "x@y.example"),
        ("list", "show"),
        ("list", "show", "--user", "bob@example.org"),
        ("list", "del", "white", "boss@partner.example"),
        ("list", "del", "white", "boss@partner.example"),
        ("list", "show"),
        ("contacts", "import", "bob@example.org", vcf),
        ("contacts", "import", "bob@example.org", csv),
        ("contacts", "import", "ghost@example.org", csv),
        ("contacts", "show", "bob@example.org"),
        ("contacts", "show", "ghost@example.org"),
        ("level", "list"),
        ("user", "migrate", "carol@example.net", "--finish"),
        ("user", "show", "carol@example.net"),
        ("user", "add", "dave@example.org", "--level", "1"),
        ("user", "del", "dave@example.org"),
        ("user", "del", "dave@example.org"),
        ("domain", "add", "gone.example"),
        ("domain", "del", "gone.example"),
        ("domain", "del", "gone.example"),
        ("domain", "list"),
        ("user", "list"),
    ]


# What pamperoctl prints of a whole directory (compared after migrate-directory).
READS = [
    ("domain", "list"),
    ("user", "list"),
    ("user", "show", "alice@example.org"),
    ("user", "show", "bob@example.org"),
    ("user", "show", "carol@example.net"),
    ("list", "show"),
    ("list", "show", "--user", "bob@example.org"),
    ("contacts", "show", "bob@example.org"),
]


class MariaDBDirectory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = h.WorkDir()
        cls.db = h.MariaDBServer().start(cls.work.join("mariadb"))
        cls.pwfile = cls.work.join("db.password")
        with open(cls.pwfile, "w") as f:
            f.write("pampero-test\n")
        os.chmod(cls.pwfile, 0o600)
        cls.url = f"mariadb://pampero@127.0.0.1:{cls.db.port}/pampero"

    @classmethod
    def tearDownClass(cls):
        cls.db.stop()
        cls.work.close()

    def setUp(self):
        self.db.sql("DROP DATABASE IF EXISTS pampero; CREATE DATABASE pampero;", database="mysql")
        name = self.id().rsplit(".", 1)[-1]
        self.sqlite_cfg = config_for(self.work.path, f"{name}-sqlite",
                                     f"directory: sqlite:{name}.db\n")
        self.mariadb_cfg = config_for(self.work.path, f"{name}-mariadb",
                                      f"directory: {self.url}\n"
                                      f"directory_password_file: {self.pwfile}\n"
                                      "directory_timeout: 5\n")

    def run_ctl(self, config, args):
        p = h.pamperoctl(config, *args, check=False)
        return (p.returncode, p.stdout, p.stderr)

    def test_every_directory_command_answers_the_same_on_both_backends(self):
        differences = []
        for args in script(self.work.path):
            a = self.run_ctl(self.sqlite_cfg, args)
            b = self.run_ctl(self.mariadb_cfg, args)
            if a != b:
                differences.append(f"{' '.join(args)}:\n  sqlite:  {a}\n  mariadb: {b}")
        self.assertEqual(differences, [], "\n".join(differences))
        # The script did what it says (not two backends failing alike).
        rc, out, _ = self.run_ctl(self.mariadb_cfg, ("user", "show", "carol@example.net"))
        self.assertEqual(rc, 0)
        self.assertIn("node:    n3", out)
        rc, out, _ = self.run_ctl(self.mariadb_cfg, ("contacts", "show", "bob@example.org"))
        self.assertIn("ann@one.example  Ann Ö", out)
        rc, out, err = self.run_ctl(self.mariadb_cfg, ("user", "add", "alice@example.org"))
        self.assertEqual(rc, 1, err)
        self.assertIn("exists", err)

    def test_migrate_directory_copies_everything_and_reads_back_the_same(self):
        for args in script(self.work.path):
            self.run_ctl(self.sqlite_cfg, args)
        # A user mid-migration and one with limits, so both travel.
        h.pamperoctl(self.sqlite_cfg, "user", "migrate", "bob@example.org", "--node", "n9",
                     "--maildir", "moved/bob/")
        sqlite_db = os.path.join(os.path.dirname(self.sqlite_cfg), "test_migrate_directory_"
                                 "copies_everything_and_reads_back_the_same.db")
        self.assertTrue(os.path.exists(sqlite_db))
        to = f"{self.url}?password_file={self.pwfile}"
        p = h.pamperoctl(self.sqlite_cfg, "migrate-directory", f"sqlite:{sqlite_db}", to)
        self.assertIn("copied 2 domains, 3 users, 1 aliases, 2 list entries, 2 contacts",
                      p.stdout)
        for args in READS:
            self.assertEqual(self.run_ctl(self.sqlite_cfg, args),
                             self.run_ctl(self.mariadb_cfg, args), args)
        self.assertIn("migrating to: node n9 maildir moved/bob/",
                      self.run_ctl(self.mariadb_cfg, ("user", "show", "bob@example.org"))[1])
        self.assertIn("messages_per_hour:      10",
                      self.run_ctl(self.mariadb_cfg, ("user", "show", "alice@example.org"))[1])
        self.assertIn(f"alias <postmaster@example.org>: alias exists",
                      self.run_ctl(self.mariadb_cfg, ("alias", "add", "postmaster@example.org",
                                                      "alice@example.org"))[2])

        # A non-empty target: refused, saying what it holds, unless --force.
        again = h.pamperoctl(self.sqlite_cfg, "migrate-directory", f"sqlite:{sqlite_db}", to,
                             check=False)
        self.assertEqual(again.returncode, 1, again.stderr)
        self.assertIn("is not empty (2 domains, 3 users", again.stderr)
        self.assertIn("3 of its users are also in", again.stderr)
        self.assertNotIn("pampero-test", again.stderr)
        h.pamperoctl(self.sqlite_cfg, "user", "set-level", "bob@example.org", "1")
        forced = h.pamperoctl(self.sqlite_cfg, "migrate-directory", "--force",
                              f"sqlite:{sqlite_db}", to)
        self.assertIn("copied 2 domains, 3 users", forced.stdout)
        self.assertIn("level:   1", self.run_ctl(self.mariadb_cfg,
                                                 ("user", "show", "bob@example.org"))[1])

    def test_migrate_directory_failures_exit_non_zero(self):
        h.pamperoctl(self.sqlite_cfg, "domain", "add", "example.org")
        sqlite_db = os.path.join(os.path.dirname(self.sqlite_cfg),
                                 "test_migrate_directory_failures_exit_non_zero.db")
        bad_pw = f"mariadb://pampero:wrong@127.0.0.1:{self.db.port}/pampero"
        p = h.pamperoctl(self.sqlite_cfg, "migrate-directory", f"sqlite:{sqlite_db}", bad_pw,
                         check=False)
        self.assertEqual(p.returncode, 75, p.stderr)
        self.assertIn("Access denied", p.stderr)
        self.assertNotIn("wrong", p.stderr.replace("Access denied", ""))
        p = h.pamperoctl(self.sqlite_cfg, "migrate-directory", "sqlite:/nonexistent/d.db",
                         f"{self.url}?password_file={self.pwfile}", check=False)
        self.assertEqual(p.returncode, 75, p.stderr)
        self.db.stop()
        try:
            p = h.pamperoctl(self.sqlite_cfg, "migrate-directory", f"sqlite:{sqlite_db}",
                             f"{self.url}?password_file={self.pwfile}&timeout=2", check=False)
            self.assertEqual(p.returncode, 75, p.stderr)
            # The daemons' view during the outage: a temporary error, never "no such user".
            p = h.pamperoctl(self.mariadb_cfg, "user", "show", "alice@example.org", check=False)
            self.assertEqual(p.returncode, 75, p.stderr)
            self.assertNotIn("no such user", p.stderr)
        finally:
            self.db.start(self.db.dir, self.db.port)


if __name__ == "__main__":
    unittest.main(verbosity=2)
