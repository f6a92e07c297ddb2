// redis_state.cpp - State on Redis: the commands redis_state.hpp lists, sent through the
// shared connection pool (redis_client.hpp).
#include "pampero/common/redis_state.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "pampero/common/redis_client.hpp"

namespace pampero {
namespace {

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

class RedisState final : public State {
  public:
    RedisState(RedisTarget target, RedisOptions options)
        : prefix_(std::move(options.prefix)),
          redis_(std::move(target), options.timeout, options.pool) {}

    Result<std::int64_t> increment(const std::string& key, std::chrono::seconds window) override {
        const std::string k = prefix_ + key;
        const std::string w = std::to_string(std::max<std::int64_t>(1, window.count()));
        auto r = transaction({{"SET", k, "0", "EX", w, "NX"}, {"INCR", k}});
        if (!r) return r.error();
        const redisReply* incr = (*r)->element[1];
        if (incr->type != REDIS_REPLY_INTEGER) return unexpected(incr, "INCR");
        return static_cast<std::int64_t>(incr->integer);
    }

    Status put(const std::string& key, const std::string& value,
               std::chrono::seconds ttl) override {
        const std::string k = prefix_ + key;
        if (ttl.count() <= 0) return remove(key);  // Redis refuses EX 0; it is gone at once
        auto r = command({"SET", k, value, "EX", std::to_string(ttl.count())});
        if (!r) return r.error();
        return ok_status();
    }

    Result<bool> put_if_absent(const std::string& key, const std::string& value,
                               std::chrono::seconds ttl) override {
        // EX 0 is refused by Redis; a marker shorter than a second is one of a second.
        const std::string t = std::to_string(std::max<std::int64_t>(1, ttl.count()));
        auto r = command({"SET", prefix_ + key, value, "EX", t, "NX"});
        if (!r) return r.error();
        if ((*r)->type == REDIS_REPLY_NIL) return false;
        if ((*r)->type == REDIS_REPLY_STATUS) return true;  // +OK
        return unexpected(r->get(), "SET NX");
    }

    Result<std::optional<std::string>> get(const std::string& key) override {
        auto r = command({"GET", prefix_ + key});
        if (!r) return r.error();
        if ((*r)->type == REDIS_REPLY_NIL) return std::optional<std::string>{};
        if ((*r)->type != REDIS_REPLY_STRING) return unexpected(r->get(), "GET");
        return std::optional<std::string>{std::string((*r)->str, (*r)->len)};
    }

    Status remove(const std::string& key) override {
        auto r = command({"DEL", prefix_ + key});
        if (!r) return r.error();
        return ok_status();
    }

    Status set_add(const std::string& key, const std::string& member,
                   std::chrono::seconds ttl) override {
        const std::string ms =
            std::to_string(std::max<std::int64_t>(0, ttl.count()) * std::int64_t{1000});
        auto r = script(set_add_, prefix_ + key, {member, ms});
        if (!r) return r.error();
        return ok_status();
    }

    Status set_remove(const std::string& key, const std::string& member) override {
        auto r = command({"ZREM", prefix_ + key, member});
        if (!r) return r.error();
        return ok_status();
    }

    Result<std::vector<std::string>> set_members(const std::string& key) override {
        auto r = script(set_members_, prefix_ + key, {});
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
        auto r = command({"PTTL", prefix_ + key});
        if (!r) return r.error();
        if ((*r)->type != REDIS_REPLY_INTEGER) return unexpected(r->get(), "PTTL");
        const long long ms = (*r)->integer;
        if (ms == -2) return std::optional<std::chrono::seconds>{};
        if (ms < 0) {
            return Error::temporary("state: " + redis_.where() + ": key " + key +
                                    " has no expiry (not written by pampero)");
        }
        // Rounded up, as the memory backend: a key with 0.2 s left still exists, so 1 s.
        return std::optional<std::chrono::seconds>{
            std::chrono::seconds(std::max<long long>(1, (ms + 999) / 1000))};
    }

  private:
    Error unexpected(const redisReply* r, const char* what) const {
        return redis_.unexpected(r, what);
    }
    Result<RedisReply> command(RedisClient::Args args) { return redis_.command(std::move(args)); }
    Result<RedisReply> transaction(const std::vector<RedisClient::Args>& cmds) {
        return redis_.transaction(cmds);
    }
    Result<RedisReply> script(RedisScript& s, const std::string& key,
                              const RedisClient::Args& argv) {
        return redis_.script(s, {key}, argv);
    }

    std::string prefix_;
    RedisClient redis_;

    RedisScript set_add_{kSetAddScript};
    RedisScript set_members_{kSetMembersScript};
};

}  // namespace

std::unique_ptr<State> make_redis_state(RedisTarget target, RedisOptions options) {
    return std::make_unique<RedisState>(std::move(target), std::move(options));
}

}  // namespace pampero
