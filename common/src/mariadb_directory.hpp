// mariadb_directory.hpp - the Directory on a MariaDB (or MySQL) server, for a farm whose
// nodes share one directory. Internal: reached through open_directory() (directory.hpp).
//
// Spec (a URL; user and password percent-encoded when they hold ":@/?&%"):
//   mariadb://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAM=VALUE&...]   TCP (PORT default 3306;
//                                                                 HOST may be [IPv6])
//   mariadb://USER[:PASSWORD]@localhost/DB?socket=/run/mysqld/mysqld.sock   unix socket
// Params: socket=PATH (use this unix socket, HOST is ignored), password_file=PATH (the
// password is the file's first line, read at every new connection so it can be rotated;
// overrides one in the URL; at most 4096 bytes), timeout=SECONDS (connect, read, write and
// the wait for a pooled connection, 1..300, default 5), pool=N (connections at most, 1..64,
// default 8). Without socket= the connection is always TCP.
//
// Errors: a malformed spec is ErrorKind::config at open. Anything the server or the
// network does (down, restarting, wrong password, timeout, schema missing or older than
// this build in read_only mode) is ErrorKind::temporary, never a "no such user"; bad
// admin input (duplicate, unknown domain, no such row, value too long) is permanent.
// Messages name the server as mariadb://USER@HOST:PORT/DB, never with the password.
// Thread-safety: every call is safe from many threads; each borrows a pooled connection.
#pragma once

#include <memory>
#include <string>

#include "pampero/common/directory.hpp"

namespace pampero {

// read_write connects at once (pamperoctl: errors show now) and applies the missing schema
// versions of conf/schema/mariadb.sql; read_only connects on first use (a daemon starts
// while the server is down and defers mail until it is back).
Result<std::unique_ptr<DirectoryAdmin>> open_mariadb_directory(const std::string& spec,
                                                               OpenMode mode);

}  // namespace pampero
