-- pampero directory, SQLite backend (the embedded default).
-- pamperoctl applies this to a new file; the daemons open the file read-only.
-- Addresses, domains and patterns are stored normalized (lowercase).
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS domains (
    name TEXT PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS users (
    address TEXT PRIMARY KEY,
    domain  TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    level   INTEGER,                        -- NULL: the default level
    quota   INTEGER,                        -- bytes; NULL: the configured default
    node    TEXT NOT NULL DEFAULT 'local',  -- storage node holding the mailbox
    maildir TEXT NOT NULL                   -- relative to the store's mail_root
);
CREATE INDEX IF NOT EXISTS users_domain ON users(domain);

-- During a migration, a mailbox's second location: pampero-store delivers to both.
CREATE TABLE IF NOT EXISTS migrations (
    address TEXT PRIMARY KEY REFERENCES users(address) ON DELETE CASCADE,
    node    TEXT NOT NULL,
    maildir TEXT NOT NULL                   -- relative to that node's mail_root
);

-- A user's own outbound rate limits; NULL (or no row): the site's (ratelimit:), 0: none.
-- A table of its own so that a database made before it gets it from CREATE ... IF NOT
-- EXISTS (pamperoctl applies this file on every writable open); the daemons, which open
-- read-only, look the table up and do without it until then.
CREATE TABLE IF NOT EXISTS user_limits (
    address                TEXT PRIMARY KEY REFERENCES users(address) ON DELETE CASCADE,
    messages_per_hour      INTEGER,
    recipients_per_hour    INTEGER,
    recipients_per_message INTEGER
);

CREATE TABLE IF NOT EXISTS aliases (
    address TEXT NOT NULL,
    target  TEXT NOT NULL,
    PRIMARY KEY (address, target)
);

-- White and black lists. user = '' is the global list; pattern is an address or @domain.
CREATE TABLE IF NOT EXISTS lists (
    kind    TEXT NOT NULL CHECK (kind IN ('white', 'black')),
    user    TEXT NOT NULL DEFAULT '',
    pattern TEXT NOT NULL,
    PRIMARY KEY (user, pattern, kind)
);

-- The user's address book: every contact skips scoring for that user.
CREATE TABLE IF NOT EXISTS contacts (
    user    TEXT NOT NULL,
    address TEXT NOT NULL,
    name    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user, address)
);

PRAGMA user_version = 1;
