-- pampero directory, MariaDB backend (a farm's shared directory): the same tables as
-- conf/schema/sqlite.sql, the same schema versions.
--
-- pamperoctl (which opens the directory writable) applies every "-- @version N" block
-- newer than the database's schema_version, in order, then records N; the daemons (which
-- open it read-only) refuse a database without schema_version or older than this file's
-- last version, naming both, until pamperoctl has run once. A new migration is a new
-- block at the end with the next number (and the same change in sqlite.sql); a block
-- already released never changes. Statements end with ";" at the end of a line.
--
-- Addresses, domains and patterns are stored normalized (lowercase, see address.hpp) and
-- compared byte for byte, as SQLite's BINARY collation does: utf8mb4_nopad_bin (no
-- case folding, and a trailing blank is not ignored, unlike the PAD SPACE collations).
-- VARCHAR(320): more than any address pamperoctl accepts (254 octets, address.hpp); the
-- widest key, lists' (320 + 320 + 5) characters at 4 bytes each, stays under InnoDB's
-- 3072-byte limit. A longer value is refused (strict mode), never cut short.

-- @version 1
CREATE TABLE IF NOT EXISTS schema_version (
    version INT NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS domains (
    name VARCHAR(255) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS users (
    address VARCHAR(320) NOT NULL PRIMARY KEY,
    domain  VARCHAR(255) NOT NULL,
    level   INT NULL,                              -- NULL: the default level
    quota   BIGINT UNSIGNED NULL,                  -- bytes; NULL: the configured default
    node    VARCHAR(255) NOT NULL DEFAULT 'local', -- storage node holding the mailbox
    maildir VARCHAR(4096) NOT NULL,                -- relative to the store's mail_root
    KEY users_domain (domain),
    CONSTRAINT users_domain_fk FOREIGN KEY (domain) REFERENCES domains(name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- During a migration, a mailbox's second location: pampero-store delivers to both.
CREATE TABLE IF NOT EXISTS migrations (
    address VARCHAR(320) NOT NULL PRIMARY KEY,
    node    VARCHAR(255) NOT NULL,
    maildir VARCHAR(4096) NOT NULL,                -- relative to that node's mail_root
    CONSTRAINT migrations_user_fk FOREIGN KEY (address) REFERENCES users(address)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- A user's own outbound rate limits; NULL (or no row): the site's (ratelimit:), 0: none.
CREATE TABLE IF NOT EXISTS user_limits (
    address                VARCHAR(320) NOT NULL PRIMARY KEY,
    messages_per_hour      INT NULL,
    recipients_per_hour    INT NULL,
    recipients_per_message INT NULL,
    CONSTRAINT user_limits_user_fk FOREIGN KEY (address) REFERENCES users(address)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS aliases (
    address VARCHAR(320) NOT NULL,
    target  VARCHAR(320) NOT NULL,
    PRIMARY KEY (address, target)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- White and black lists. user = '' is the global list; pattern is an address or @domain.
CREATE TABLE IF NOT EXISTS lists (
    kind    VARCHAR(5) NOT NULL CHECK (kind IN ('white', 'black')),
    `user`  VARCHAR(320) NOT NULL DEFAULT '',
    pattern VARCHAR(320) NOT NULL,
    PRIMARY KEY (`user`, pattern, kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- The user's address book: every contact skips scoring for that user.
CREATE TABLE IF NOT EXISTS contacts (
    `user`  VARCHAR(320) NOT NULL,
    address VARCHAR(320) NOT NULL,
    name    VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (`user`, address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
