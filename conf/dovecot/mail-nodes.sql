-- mail-nodes.sql - where the front-end Dovecot (pampero-proxy.conf) sends each storage
-- node's IMAP and POP3 logins. Apply it once to pampero's MariaDB database, beside the
-- directory's own tables (conf/schema/mariadb.sql; pamperoctl never touches this table):
--   mariadb pampero < /usr/share/doc/pampero/examples/dovecot/mail-nodes.sql
--
-- One row per storage node, `node` spelt as in the directory's users.node (and in
-- store.nodes of pampero.yaml, where pampero-store finds the same node's LMTP socket).
-- `host` is the address the proxy connects to (an IP address, or a name the proxies
-- resolve); the ports are that node's Dovecot listeners. Adding a storage node is one
-- INSERT here and one line in store.nodes; moving users between nodes needs no change
-- here (pamperoctl user migrate changes users.node when the move is finished).
-- Character set and collation as users.node's (conf/schema/mariadb.sql), so the join
-- compares them without a collation mix.
CREATE TABLE IF NOT EXISTS mail_nodes (
    node      VARCHAR(255) NOT NULL PRIMARY KEY,
    host      VARCHAR(255) NOT NULL,
    imap_port INT          NOT NULL DEFAULT 143,
    pop3_port INT          NOT NULL DEFAULT 110
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- For example:
--   INSERT INTO mail_nodes (node, host) VALUES ('store1', '10.0.0.11'), ('store2', '10.0.0.12');
--
-- The proxies and storage nodes read with an account that may only read:
--   CREATE USER 'dovecot'@'10.0.0.%' IDENTIFIED BY '...';
--   GRANT SELECT ON pampero.users TO 'dovecot'@'10.0.0.%';
--   GRANT SELECT ON pampero.mail_nodes TO 'dovecot'@'10.0.0.%';
