// redis_client.hpp - what every Redis-backed piece of pampero shares: the redis:// URL
// forms, and a bounded pool of blocking hiredis connections with one deadline per call.
// Users: the state (redis_state.hpp) and the classifier's store (scanners/classifier,
// redis_store.hpp); each says which commands it sends and why.
//
// URLs:
//   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]   TCP; PORT 6379, DB 0 by default; an IPv6
//                                                HOST in brackets; USER and PASSWORD
//                                                percent-decoded (USER: a Redis 6 ACL user)
//   redis+unix:/PATH/redis.sock[?db=N]           a unix socket
// A malformed URL is Error::config naming it (parse_redis_url).
// Errors: everything Redis can do wrong (refused, reset, timeout, an error reply, a full
// pool) is ErrorKind::temporary, its message starting with the client's label.
// Connections: at most `pool`, opened when needed (none at start, so a daemon starts while
// Redis is down and serves once it is back). A connection that failed in a call is
// closed, never reused; an idle one whose server went away (Redis restarted) is noticed
// before use (its socket reads EOF) and replaced, so a restart of Redis heals without
// restarting pampero, the first call after it included.
// Bounds: each call gives up after `timeout` (waiting for a pool slot, connecting, AUTH,
// SELECT and the commands share it). Not bounded by it: resolving a HOST name
// (getaddrinfo at each new connection). Replies are parsed by hiredis, which bounds
// nothing itself: each user says what bounds the replies it asks for.
// Thread-safety: safe from many threads at once; a connection serves one call at a time.
// The process must ignore SIGPIPE (daemon.hpp's block_signals does): hiredis write()s to
// a socket whose server may have gone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/result.hpp"

struct redisReply;
struct redisContext;

namespace pampero {

struct RedisTarget {
    std::string host;  // TCP: name or address; empty for a unix socket
    int port = 6379;
    std::string unix_path;  // unix socket: its path
    int db = 0;
    std::string user;  // empty: AUTH PASSWORD (the default user)
    std::string password;
};

// The URL forms above; Error::config naming what is wrong. `what` starts the message
// ("state", "classifier store").
Result<RedisTarget> parse_redis_url(const std::string& url, const std::string& what = "state");
bool is_redis_url(const std::string& spec);

struct RedisReplyDeleter {
    void operator()(redisReply* r) const;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// A Lua script and its SHA1 for EVALSHA: SCRIPT LOAD answers the digest, asked once and
// kept; after a Redis restart EVALSHA answers NOSCRIPT and it is loaded again.
struct RedisScript {
    explicit RedisScript(std::string_view b) : body(b) {}
    std::string_view body;
    std::mutex mu;
    std::string sha;  // "" until SCRIPT LOAD answered once
};

// For messages: what the caller is and which of its keys set the bounds.
struct RedisNames {
    std::string label = "state";
    std::string timeout_key = "state_timeout";
    std::string pool_key = "state_pool";
};

class RedisClient {
  public:
    using Args = std::vector<std::string>;

    RedisClient(RedisTarget target, std::chrono::milliseconds timeout, std::size_t pool,
                RedisNames names = RedisNames());
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // The commands in one write (a pipeline), one reply each, error replies included.
    Result<std::vector<RedisReply>> call(const std::vector<Args>& cmds);
    // Commands the caller wrote in RESP itself (`resp`: `count` commands back to back), in
    // one write, one reply each: for a pipeline of a thousand small commands, without a
    // vector of strings each (the classifier's token lookups, redis_store.hpp).
    Result<std::vector<RedisReply>> call_formatted(std::string_view resp, std::size_t count);
    // One command; an error reply becomes Error::temporary.
    Result<RedisReply> command(Args args);
    // MULTI cmds EXEC in one write: the EXEC reply (one element per command), or the
    // first error among them.
    Result<RedisReply> transaction(const std::vector<Args>& cmds);
    // EVALSHA with these keys and arguments (SCRIPT LOAD first when needed).
    Result<RedisReply> script(RedisScript& s, const Args& keys, const Args& argv);

    // Error::temporary for an error reply (its text) or an unexpected one.
    Error unexpected(const redisReply* r, const std::string& what) const;
    // "redis HOST:PORT" or "redis PATH".
    const std::string& where() const { return where_; }
    const std::string& label() const { return names_.label; }

  private:
    struct ContextDeleter {
        void operator()(redisContext* c) const;
    };
    using Context = std::unique_ptr<redisContext, ContextDeleter>;
    using Clock = std::chrono::steady_clock;

    Error failed(const redisContext* c) const;
    Result<Context> acquire(Clock::time_point deadline);
    void release(Context c, bool keep);
    Result<Context> connect(Clock::time_point deadline);
    Result<std::vector<RedisReply>> roundtrip(redisContext* c, const std::vector<Args>& cmds,
                                              Clock::time_point deadline);
    Result<std::vector<RedisReply>> read_replies(redisContext* c, std::size_t count);

    RedisTarget target_;
    std::chrono::milliseconds timeout_;
    std::size_t pool_;
    RedisNames names_;
    std::string where_;

    std::mutex mu_;
    std::condition_variable freed_;
    std::vector<Context> idle_;
    std::size_t open_ = 0;  // idle and leased connections, at most pool_
};

}  // namespace pampero
