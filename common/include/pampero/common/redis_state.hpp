// redis_state.hpp - the State of a farm: one Redis that every node reads and writes.
//
// Where it lives (state: in pampero.yaml):
//   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]   TCP; PORT 6379, DB 0 by default; an IPv6
//                                                HOST in brackets; USER and PASSWORD
//                                                percent-decoded (USER: a Redis 6 ACL user)
//   redis+unix:/PATH/redis.sock[?db=N]           a unix socket (a password from the file)
// The password may instead come from state_password_file (one line), so it stays out of
// the YAML; giving both is a config error.
// Semantics are state.hpp's, kept by these commands (KEY: state_prefix + the caller's key):
//   increment  MULTI; SET KEY 0 EX window NX; INCR KEY; EXEC   (one round trip, atomic:
//              the expiry is set only by the call that creates the key)
//   put        SET KEY VALUE EX ttl (ttl <= 0: DEL)          get  GET     remove  DEL
//   put_if_absent  SET KEY VALUE EX ttl NX (ttl at least 1 s): OK when it wrote, nil not
//   ttl        PTTL, rounded up to whole seconds
//   set_*      a sorted set scored by each member's expiry in Redis's own clock (ms), so
//              nodes with skewed clocks agree; set_add and set_members are one Lua
//              script each (EVALSHA; SCRIPT LOAD again when Redis answers NOSCRIPT after
//              a restart) that first drops expired members; set_add keeps the key's
//              expiry at its last member's.
// Errors: everything Redis can do wrong (refused, reset, timeout, an error reply, a key
// of the wrong type, a full pool) is ErrorKind::temporary, so upstream answers 4xx and
// never permits by accident. A malformed URL is Error::config (parse_redis_url).
// Connections (the shared RedisClient, redis_client.hpp): a pool of at most `pool` connections,
// opened when needed (none at start, so a daemon starts while Redis is down and serves once it is
// back). A connection that failed in a call is closed, never reused; an idle one whose server went
// away (Redis restarted) is noticed before use (its socket reads EOF) and replaced, so a restart of
// Redis heals without restarting pampero, the first call after it included.
// Bounds: each call gives up after `timeout` (waiting for a pool slot, connecting, AUTH,
// SELECT and the command share it), so a paused or unreachable Redis costs a caller at
// most that long. Not bounded by it: resolving a HOST name (getaddrinfo at each new
// connection): give an address, or a name /etc/hosts answers. Replies are parsed by
// hiredis, which bounds nothing itself: ours are one value or one set's members, which
// Redis's own memory (maxmemory) bounds.
// Thread-safety: safe from many threads at once; a connection serves one call at a time.
// The process must ignore SIGPIPE (daemon.hpp's block_signals does): hiredis write()s to
// a socket whose server may have gone.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "pampero/common/redis_client.hpp"
#include "pampero/common/result.hpp"
#include "pampero/common/state.hpp"

namespace pampero {

// RedisTarget, parse_redis_url and is_redis_url: redis_client.hpp.

struct RedisOptions {
    std::chrono::milliseconds timeout{500};  // per call, everything included
    std::size_t pool = 16;                   // connections at most
    std::string prefix;                      // prepended to every key
};

std::unique_ptr<State> make_redis_state(RedisTarget target, RedisOptions options);

}  // namespace pampero
