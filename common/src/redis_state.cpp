// redis_state.cpp - State on Redis through hiredis: a bounded pool of blocking
// connections, one deadline per call (see redis_state.hpp for the commands and why).
#include "pampero/common/redis_state.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string_view>
#include <vector>

namespace pampero {
namespace {

using Clock = std::chrono::steady_clock;

struct ReplyDeleter {
    void operator()(redisReply* r) const {
        if (r) freeReplyObject(r);
    }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
    void operator()(redisContext* c) const {
        if (c) redisFree(c);
    }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

// set_add: drop expired members, add or refresh this one at Redis's now + ttl (ms), and
// keep the key's own expiry at its last member's, so a set nobody refreshes disappears.
// string.format('%d'): a Lua number passed to redis.call becomes "%.14g", which would
// round an epoch in milliseconds once it grows a 15th digit.
constexpr std::string_view kSetAddScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
)lua";

// set_members: drop expired members, return the others.
constexpr std::string_view kSetMembersScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
return redis.call('ZRANGE', KEYS[1], 0, -1)
)lua";

// A script and its SHA1 (hex, for EVALSHA): SCRIPT LOAD answers the digest, asked once
// and kept; after a Redis restart EVALSHA answers NOSCRIPT and it is loaded again.
struct Script {
    explicit Script(std::string_view b) : body(b) {}
    std::string_view body;
    std::mutex mu;
    std::string sha;  // "" until SCRIPT LOAD answered once
};

timeval to_timeval(std::chrono::milliseconds ms) {
    if (ms.count() < 1) ms = std::chrono::milliseconds(1);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

// An idle connection whose server closed it (Redis restarted or timed it out) has EOF or
// an error waiting; a healthy one has nothing to read (no pub/sub, no pipelined replies).
bool looks_alive(const redisContext* c) {
    pollfd p{c->fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;  // readable, HUP or ERR: unasked-for data, or gone
}

std::string describe(const redisContext* c) {
    if (!c) return "out of memory";
    // hiredis reports a read past SO_RCVTIMEO as the I/O error EAGAIN.
    if (c->err == REDIS_ERR_IO && std::string_view(c->errstr) == std::strerror(EAGAIN))
        return "timed out (state_timeout)";
    return c->errstr[0] ? std::string(c->errstr) : "connection error";
}

class RedisState final : public State {
  public:
    RedisState(RedisTarget target, RedisOptions options)
        : target_(std::move(target)), options_(std::move(options)) {
        if (options_.pool == 0) options_.pool = 1;
        where_ = target_.unix_path.empty()
                     ? "redis " + target_.host + ":" + std::to_string(target_.port)
                     : "redis " + target_.unix_path;
    }

    Result<std::int64_t> increment(const std::string& key, std::chrono::seconds window) override {
        const std::string k = options_.prefix + key;
        const std::string w = std::to_string(std::max<std::int64_t>(1, window.count()));
        auto r = transaction({{"SET", k, "0", "EX", w, "NX"}, {"INCR", k}});
        if (!r) return r.error();
        const redisReply* incr = (*r)->element[1];
        if (incr->type != REDIS_REPLY_INTEGER) return unexpected(incr, "INCR");
        return static_cast<std::int64_t>(incr->integer);
    }

    Status put(const std::string& key, const std::string& value,
               std::chrono::seconds ttl) override {
        const std::string k = options_.prefix + key;
        if (ttl.count() <= 0) return remove(key);  // Redis refuses EX 0; it is gone at once
        auto r = command({"SET", k, value, "EX", std::to_string(ttl.count())});
        if (!r) return r.error();
        return ok_status();
    }

    Result<std::optional<std::string>> get(const std::string& key) override {
        auto r = command({"GET", options_.prefix + key});
        if (!r) return r.error();
        if ((*r)->type == REDIS_REPLY_NIL) return std::optional<std::string>{};
        if ((*r)->type != REDIS_REPLY_STRING) return unexpected(r->get(), "GET");
        return std::optional<std::string>{std::string((*r)->str, (*r)->len)};
    }

    Status remove(const std::string& key) override {
        auto r = command({"DEL", options_.prefix + key});
        if (!r) return r.error();
        return ok_status();
    }

    Status set_add(const std::string& key, const std::string& member,
                   std::chrono::seconds ttl) override {
        const std::string ms =
            std::to_string(std::max<std::int64_t>(0, ttl.count()) * std::int64_t{1000});
        auto r = script(set_add_, options_.prefix + key, {member, ms});
        if (!r) return r.error();
        return ok_status();
    }

    Status set_remove(const std::string& key, const std::string& member) override {
        auto r = command({"ZREM", options_.prefix + key, member});
        if (!r) return r.error();
        return ok_status();
    }

    Result<std::vector<std::string>> set_members(const std::string& key) override {
        auto r = script(set_members_, options_.prefix + key, {});
        if (!r) return r.error();
        if ((*r)->type != REDIS_REPLY_ARRAY) return unexpected(r->get(), "set members");
        std::vector<std::string> out;
        out.reserve((*r)->elements);
        for (std::size_t i = 0; i < (*r)->elements; ++i) {
            const redisReply* e = (*r)->element[i];
            if (e->type != REDIS_REPLY_STRING) return unexpected(e, "set members");
            out.emplace_back(e->str, e->len);
        }
        return out;
    }

    Result<std::optional<std::chrono::seconds>> ttl(const std::string& key) override {
        auto r = command({"PTTL", options_.prefix + key});
        if (!r) return r.error();
        if ((*r)->type != REDIS_REPLY_INTEGER) return unexpected(r->get(), "PTTL");
        const long long ms = (*r)->integer;
        if (ms == -2) return std::optional<std::chrono::seconds>{};
        if (ms < 0) {
            return Error::temporary("state: " + where_ + ": key " + key +
                                    " has no expiry (not written by pampero)");
        }
        // Rounded up, as the memory backend: a key with 0.2 s left still exists, so 1 s.
        return std::optional<std::chrono::seconds>{
            std::chrono::seconds(std::max<long long>(1, (ms + 999) / 1000))};
    }

  private:
    using Args = std::vector<std::string>;

    Error unexpected(const redisReply* r, const char* what) const {
        if (r && r->type == REDIS_REPLY_ERROR)
            return Error::temporary("state: " + where_ + ": " + what + ": " +
                                    std::string(r->str, r->len));
        return Error::temporary("state: " + where_ + ": unexpected reply to " + what);
    }

    Error failed(const redisContext* c) const {
        return Error::temporary("state: " + where_ + ": " + describe(c));
    }

    // A connection taken from the pool for one call; returned unless the call broke it.
    struct Lease {
        Context ctx;
    };

    Result<Lease> acquire(Clock::time_point deadline) {
        std::unique_lock lock(mu_);
        for (;;) {
            while (!idle_.empty()) {
                Context c = std::move(idle_.back());
                idle_.pop_back();
                if (looks_alive(c.get())) return Lease{std::move(c)};
                --open_;  // gone while idle: closed here, a fresh one below
            }
            if (open_ < options_.pool) break;
            if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
                open_ >= options_.pool) {
                return Error::temporary("state: " + where_ + ": all " +
                                        std::to_string(options_.pool) +
                                        " connections busy (state_pool)");
            }
        }
        ++open_;
        lock.unlock();
        auto c = connect(deadline);
        if (!c) {
            release(Context{}, false);
            return c.error();
        }
        return Lease{std::move(c).value()};
    }

    // keep: the call went well, the connection can serve the next one.
    void release(Context c, bool keep) {
        {
            std::lock_guard lock(mu_);
            if (keep && c) {
                idle_.push_back(std::move(c));
            } else {
                --open_;
            }
        }
        freed_.notify_one();
    }

    static std::chrono::milliseconds left(Clock::time_point deadline) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    }

    Result<Context> connect(Clock::time_point deadline) {
        const auto remaining = left(deadline);
        if (remaining.count() <= 0) return Error::temporary("state: " + where_ + ": timed out");
        const timeval tv = to_timeval(remaining);
        Context c(target_.unix_path.empty()
                      ? redisConnectWithTimeout(target_.host.c_str(), target_.port, tv)
                      : redisConnectUnixWithTimeout(target_.unix_path.c_str(), tv));
        if (!c || c->err) return failed(c.get());
        if (!target_.password.empty()) {
            Args auth = target_.user.empty() ? Args{"AUTH", target_.password}
                                             : Args{"AUTH", target_.user, target_.password};
            auto r = roundtrip(c.get(), {auth}, deadline);
            if (!r) return r.error();
            if (r->front()->type == REDIS_REPLY_ERROR) return unexpected(r->front().get(), "AUTH");
        }
        if (target_.db != 0) {
            auto r = roundtrip(c.get(), {{"SELECT", std::to_string(target_.db)}}, deadline);
            if (!r) return r.error();
            if (r->front()->type == REDIS_REPLY_ERROR)
                return unexpected(r->front().get(), "SELECT");
        }
        return c;
    }

    // Sends the commands in one write and reads one reply each, within the deadline.
    // An I/O failure or timeout leaves c unusable (its caller drops it).
    Result<std::vector<Reply>> roundtrip(redisContext* c, const std::vector<Args>& cmds,
                                         Clock::time_point deadline) {
        const auto remaining = left(deadline);
        if (remaining.count() <= 0) return Error::temporary("state: " + where_ + ": timed out");
        if (redisSetTimeout(c, to_timeval(remaining)) != REDIS_OK) return failed(c);
        for (const auto& args : cmds) {
            std::vector<const char*> argv;
            std::vector<std::size_t> lens;
            for (const auto& a : args) {
                argv.push_back(a.data());
                lens.push_back(a.size());
            }
            if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(),
                                       lens.data()) != REDIS_OK) {
                return failed(c);
            }
        }
        std::vector<Reply> out;
        for (std::size_t i = 0; i < cmds.size(); ++i) {
            void* raw = nullptr;
            if (redisGetReply(c, &raw) != REDIS_OK || !raw) return failed(c);
            out.emplace_back(static_cast<redisReply*>(raw));
        }
        return out;
    }

    // One call: a connection, the commands, the connection back (or closed on failure).
    Result<std::vector<Reply>> call(const std::vector<Args>& cmds) {
        const auto deadline = Clock::now() + options_.timeout;
        auto lease = acquire(deadline);
        if (!lease) return lease.error();
        auto r = roundtrip(lease->ctx.get(), cmds, deadline);
        const bool ok = static_cast<bool>(r);
        release(std::move(lease->ctx), ok);
        return r;
    }

    Result<Reply> command(Args args) {
        const std::string verb = args.front();
        auto r = call({std::move(args)});
        if (!r) return r.error();
        Reply reply = std::move(r->front());
        if (reply->type == REDIS_REPLY_ERROR) return unexpected(reply.get(), verb.c_str());
        return reply;
    }

    // MULTI cmds EXEC in one write; the EXEC reply (an array, one reply per command), or
    // the first error among them.
    Result<Reply> transaction(const std::vector<Args>& cmds) {
        std::vector<Args> all;
        all.push_back({"MULTI"});
        all.insert(all.end(), cmds.begin(), cmds.end());
        all.push_back({"EXEC"});
        auto r = call(all);
        if (!r) return r.error();
        for (const auto& q : *r)
            if (q->type == REDIS_REPLY_ERROR) return unexpected(q.get(), "MULTI");
        Reply exec = std::move(r->back());
        if (exec->type != REDIS_REPLY_ARRAY || exec->elements != cmds.size())
            return unexpected(exec.get(), "EXEC");  // nil: aborted
        for (std::size_t i = 0; i < exec->elements; ++i)
            if (exec->element[i]->type == REDIS_REPLY_ERROR)
                return unexpected(exec->element[i], "MULTI");
        return exec;
    }

    // EVALSHA; SCRIPT LOAD first when the digest is not known yet or Redis forgot the
    // script (NOSCRIPT: a restart or SCRIPT FLUSH).
    Result<Reply> script(Script& s, const std::string& key, const Args& argv) {
        std::string sha;
        {
            std::lock_guard lock(s.mu);
            sha = s.sha;
        }
        auto run = [&](const char* verb, const std::string& what) {
            Args a{verb, what, "1", key};
            a.insert(a.end(), argv.begin(), argv.end());
            return command(std::move(a));
        };
        if (!sha.empty()) {
            auto r = run("EVALSHA", sha);
            if (r || r.error().message.find("NOSCRIPT") == std::string::npos) return r;
        }
        auto loaded = command({"SCRIPT", "LOAD", std::string(s.body)});
        if (!loaded) return loaded.error();
        if ((*loaded)->type != REDIS_REPLY_STRING) return unexpected(loaded->get(), "SCRIPT LOAD");
        sha.assign((*loaded)->str, (*loaded)->len);
        {
            std::lock_guard lock(s.mu);
            s.sha = sha;
        }
        return run("EVALSHA", sha);
    }

    RedisTarget target_;
    RedisOptions options_;
    std::string where_;  // for messages: "redis HOST:PORT" or "redis PATH"

    std::mutex mu_;
    std::condition_variable freed_;
    std::vector<Context> idle_;
    std::size_t open_ = 0;  // idle and leased connections, at most options_.pool

    Script set_add_{kSetAddScript};
    Script set_members_{kSetMembersScript};
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::optional<int> parse_number(std::string_view s, int lo, int hi) {
    int n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < lo || n > hi)
        return std::nullopt;
    return n;
}

}  // namespace

bool is_redis_url(const std::string& spec) {
    return spec.rfind("redis://", 0) == 0 || spec.rfind("redis+unix:", 0) == 0;
}

Result<RedisTarget> parse_redis_url(const std::string& url) {
    const auto bad = [&](const std::string& why) {
        return Error::config("state '" + url + "': " + why +
                             " (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
                             "redis+unix:/PATH[?db=N])");
    };
    RedisTarget t;
    std::string_view s = url;
    if (s.rfind("redis+unix:", 0) == 0) {
        s.remove_prefix(11);
        if (s.rfind("//", 0) == 0) s.remove_prefix(2);  // redis+unix:///path
        const auto q = s.find('?');
        t.unix_path = std::string(s.substr(0, q));
        if (t.unix_path.empty() || t.unix_path.front() != '/') return bad("the socket path");
        if (q != std::string_view::npos) {
            const auto query = s.substr(q + 1);
            if (query.rfind("db=", 0) != 0)
                return bad("unknown parameter '" + std::string(query) + "'");
            auto db = parse_number(query.substr(3), 0, 1 << 20);
            if (!db) return bad("the database number");
            t.db = *db;
        }
        return t;
    }
    if (s.rfind("redis://", 0) != 0) return bad("not a Redis URL");
    s.remove_prefix(8);
    std::string_view authority = s.substr(0, s.find('/'));
    std::string_view path = s.substr(authority.size());
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const auto cred = authority.substr(0, at);
        authority.remove_prefix(at + 1);
        const auto colon = cred.find(':');
        if (colon == std::string_view::npos)
            return bad("credentials are USER:PASSWORD or :PASSWORD");
        auto user = percent_decode(cred.substr(0, colon));
        auto pass = percent_decode(cred.substr(colon + 1));
        if (!user || !pass) return bad("a malformed %-escape in the credentials");
        if (pass->empty()) return bad("an empty password");
        t.user = *user;
        t.password = *pass;
    }
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return bad("an unclosed [IPv6] host");
        t.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (!authority.empty() && authority.front() != ':') return bad("junk after the host");
    } else {
        const auto colon = authority.find(':');
        t.host = std::string(authority.substr(0, colon));
        authority.remove_prefix(colon == std::string_view::npos ? authority.size() : colon);
    }
    if (t.host.empty()) return bad("no host");
    if (!authority.empty()) {  // ":PORT"
        auto port = parse_number(authority.substr(1), 1, 65535);
        if (!port) return bad("the port");
        t.port = *port;
    }
    if (!path.empty() && path != "/") {
        auto db = parse_number(path.substr(1), 0, 1 << 20);
        if (!db) return bad("the database number");
        t.db = *db;
    }
    return t;
}

std::unique_ptr<State> make_redis_state(RedisTarget target, RedisOptions options) {
    return std::make_unique<RedisState>(std::move(target), std::move(options));
}

}  // namespace pampero
