// redis_client.cpp - the redis:// URL forms and a bounded pool of blocking hiredis
// connections with one deadline per call (see redis_client.hpp).
#include "pampero/common/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "pampero/common/strings.hpp"

namespace pampero {
namespace {

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

std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
}

std::optional<int> parse_number(std::string_view s, int lo, int hi) {
    int n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < lo || n > hi)
        return std::nullopt;
    return n;
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
}

void RedisClient::ContextDeleter::operator()(redisContext* c) const {
    if (c) redisFree(c);
}

RedisClient::RedisClient(RedisTarget target, std::chrono::milliseconds timeout, std::size_t pool,
                         RedisNames names)
    : target_(std::move(target)),
      timeout_(timeout),
      pool_(pool == 0 ? 1 : pool),
      names_(std::move(names)) {
    where_ = target_.unix_path.empty()
                 ? "redis " + target_.host + ":" + std::to_string(target_.port)
                 : "redis " + target_.unix_path;
}

RedisClient::~RedisClient() = default;

Error RedisClient::unexpected(const redisReply* r, const std::string& what) const {
    if (r && r->type == REDIS_REPLY_ERROR)
        return Error::temporary(names_.label + ": " + where_ + ": " + what + ": " +
                                std::string(r->str, r->len));
    return Error::temporary(names_.label + ": " + where_ + ": unexpected reply to " + what);
}

Error RedisClient::failed(const redisContext* c) const {
    std::string why;
    if (!c) {
        why = "out of memory";
    } else if (c->err == REDIS_ERR_IO && std::string_view(c->errstr) == std::strerror(EAGAIN)) {
        // hiredis reports a read past SO_RCVTIMEO as the I/O error EAGAIN.
        why = "timed out (" + names_.timeout_key + ")";
    } else {
        why = c->errstr[0] ? std::string(c->errstr) : "connection error";
    }
    return Error::temporary(names_.label + ": " + where_ + ": " + why);
}

Result<RedisClient::Context> RedisClient::acquire(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    for (;;) {
        while (!idle_.empty()) {
            Context c = std::move(idle_.back());
            idle_.pop_back();
            if (looks_alive(c.get())) return c;
            --open_;  // gone while idle: closed here, a fresh one below
        }
        if (open_ < pool_) break;
        if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= pool_) {
            return Error::temporary(names_.label + ": " + where_ + ": all " +
                                    std::to_string(pool_) + " connections busy (" +
                                    names_.pool_key + ")");
        }
    }
    ++open_;
    lock.unlock();
    auto c = connect(deadline);
    if (!c) {
        release(Context{}, false);
        return c.error();
    }
    return c;
}

// keep: the call went well, the connection can serve the next one.
void RedisClient::release(Context c, bool keep) {
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

Result<RedisClient::Context> RedisClient::connect(Clock::time_point deadline) {
    const auto remaining = left(deadline);
    if (remaining.count() <= 0)
        return Error::temporary(names_.label + ": " + where_ + ": timed out");
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
        if (r->front()->type == REDIS_REPLY_ERROR) return unexpected(r->front().get(), "SELECT");
    }
    return c;
}

// Sends the commands in one write and reads one reply each, within the deadline. An I/O
// failure or timeout leaves c unusable (its caller drops it).
Result<std::vector<RedisReply>> RedisClient::roundtrip(redisContext* c,
                                                       const std::vector<Args>& cmds,
                                                       Clock::time_point deadline) {
    const auto remaining = left(deadline);
    if (remaining.count() <= 0)
        return Error::temporary(names_.label + ": " + where_ + ": timed out");
    if (redisSetTimeout(c, to_timeval(remaining)) != REDIS_OK) return failed(c);
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& args : cmds) {
        argv.clear();
        lens.clear();
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
            REDIS_OK) {
            return failed(c);
        }
    }
    return read_replies(c, cmds.size());
}

Result<std::vector<RedisReply>> RedisClient::read_replies(redisContext* c, std::size_t count) {
    std::vector<RedisReply> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK || !raw) return failed(c);
        out.emplace_back(static_cast<redisReply*>(raw));
    }
    return out;
}

Result<std::vector<RedisReply>> RedisClient::call(const std::vector<Args>& cmds) {
    const auto deadline = Clock::now() + timeout_;
    auto lease = acquire(deadline);
    if (!lease) return lease.error();
    auto r = roundtrip(lease->get(), cmds, deadline);
    const bool ok = static_cast<bool>(r);
    release(std::move(lease).value(), ok);
    return r;
}

Result<std::vector<RedisReply>> RedisClient::call_formatted(std::string_view resp,
                                                            std::size_t count) {
    const auto deadline = Clock::now() + timeout_;
    auto lease = acquire(deadline);
    if (!lease) return lease.error();
    redisContext* c = lease->get();
    auto r = [&]() -> Result<std::vector<RedisReply>> {
        const auto remaining = left(deadline);
        if (remaining.count() <= 0)
            return Error::temporary(names_.label + ": " + where_ + ": timed out");
        if (redisSetTimeout(c, to_timeval(remaining)) != REDIS_OK) return failed(c);
        if (redisAppendFormattedCommand(c, resp.data(), resp.size()) != REDIS_OK) return failed(c);
        return read_replies(c, count);
    }();
    const bool ok = static_cast<bool>(r);
    release(std::move(lease).value(), ok);
    return r;
}

Result<RedisReply> RedisClient::command(Args args) {
    const std::string verb = args.front();
    auto r = call({std::move(args)});
    if (!r) return r.error();
    RedisReply reply = std::move(r->front());
    if (reply->type == REDIS_REPLY_ERROR) return unexpected(reply.get(), verb);
    return reply;
}

Result<RedisReply> RedisClient::transaction(const std::vector<Args>& cmds) {
    std::vector<Args> all;
    all.push_back({"MULTI"});
    all.insert(all.end(), cmds.begin(), cmds.end());
    all.push_back({"EXEC"});
    auto r = call(all);
    if (!r) return r.error();
    for (const auto& q : *r)
        if (q->type == REDIS_REPLY_ERROR) return unexpected(q.get(), "MULTI");
    RedisReply exec = std::move(r->back());
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != cmds.size())
        return unexpected(exec.get(), "EXEC");  // nil: aborted
    for (std::size_t i = 0; i < exec->elements; ++i)
        if (exec->element[i]->type == REDIS_REPLY_ERROR)
            return unexpected(exec->element[i], "MULTI");
    return exec;
}

Result<RedisReply> RedisClient::script(RedisScript& s, const Args& keys, const Args& argv) {
    std::string sha;
    {
        std::lock_guard lock(s.mu);
        sha = s.sha;
    }
    auto run = [&](const std::string& digest) {
        Args a{"EVALSHA", digest, std::to_string(keys.size())};
        a.insert(a.end(), keys.begin(), keys.end());
        a.insert(a.end(), argv.begin(), argv.end());
        return command(std::move(a));
    };
    if (!sha.empty()) {
        auto r = run(sha);
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
    return run(sha);
}

bool is_redis_url(const std::string& spec) {
    return spec.rfind("redis://", 0) == 0 || spec.rfind("redis+unix:", 0) == 0;
}

Result<RedisTarget> parse_redis_url(const std::string& url, const std::string& what) {
    const auto bad = [&](const std::string& why) {
        return Error::config(what + " '" + url + "': " + why +
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

}  // namespace pampero
