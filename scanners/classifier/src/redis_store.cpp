// redis_store.cpp - the classifier store in Redis (see redis_store.hpp for the layout and
// the calls).
#include "pampero/classifier/redis_store.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <charconv>
#include <cstring>
#include <fstream>

#include "pampero/common/strings.hpp"

namespace pampero::classifier {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTotalsMaxAge = std::chrono::seconds(1);
// A store opened to scan does not ask a Redis that just failed again for this long: a
// paused or unreachable Redis then costs one scan its timeout, not every scan.
constexpr auto kRetryAfter = std::chrono::seconds(2);

// The whole of apply(): KEYS = meta, learned, then one shard key per token delta;
// ARGV = spam delta, ham delta, n learned ids, n (id, "spam"|"ham"|"") pairs, then per
// token its field base (6 bytes), spam delta, ham delta. Counts are clamped at zero and
// a field at zero is deleted. string.format('%d'): a Lua number handed to redis.call
// becomes "%.14g", which would round a count past 10^14.
constexpr std::string_view kApplyScript = R"lua(
local meta, learned = KEYS[1], KEYS[2]
local v = redis.call('HGET', meta, 'version')
if not v then
  redis.call('HSET', meta, 'version', '1')
elseif v ~= '1' then
  return redis.error_reply('PAMPERO classifier store version ' .. v .. ', expected 1')
end
local function put(key, field, old, delta)
  local new = math.max(old + delta, 0)
  if new ~= old then
    if new == 0 then redis.call('HDEL', key, field)
    else redis.call('HSET', key, field, string.format('%d', new)) end
  end
  return new
end
local tokens = 0
local n = tonumber(ARGV[3])
local i = 4 + 2 * n
for k = 3, #KEYS do
  local key, base = KEYS[k], ARGV[i]
  local ds, dh = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  local fs, fh = base .. 's', base .. 'h'
  local old = redis.call('HMGET', key, fs, fh)
  local s0, h0 = tonumber(old[1]) or 0, tonumber(old[2]) or 0
  local s1, h1 = put(key, fs, s0, ds), put(key, fh, h0, dh)
  if s0 + h0 == 0 and s1 + h1 > 0 then tokens = tokens + 1
  elseif s0 + h0 > 0 and s1 + h1 == 0 then tokens = tokens - 1 end
end
local m = redis.call('HMGET', meta, 'spam', 'ham', 'tokens')
put(meta, 'spam', tonumber(m[1]) or 0, tonumber(ARGV[1]))
put(meta, 'ham', tonumber(m[2]) or 0, tonumber(ARGV[2]))
put(meta, 'tokens', tonumber(m[3]) or 0, tokens)
for j = 0, n - 1 do
  local id, class = ARGV[4 + 2 * j], ARGV[5 + 2 * j]
  if class == '' then redis.call('HDEL', learned, id)
  else redis.call('HSET', learned, id, class) end
end
return 1
)lua";

RedisScript apply_script{kApplyScript};

std::string shard_key(const std::string& prefix, Token t) {
    return fmt::format("{}t:{:04x}", prefix, static_cast<unsigned>(t >> 48));
}

// The token's low 48 bits, big-endian: the field name without its class letter.
std::string field_base(Token t) {
    std::string f(6, '\0');
    for (int i = 0; i < 6; ++i) f[5 - i] = static_cast<char>((t >> (8 * i)) & 0xff);
    return f;
}

// A reply element as a count: nil (no field) is 0; anything else not a number is an error.
bool as_count(const redisReply* r, std::uint64_t& out) {
    if (r->type == REDIS_REPLY_NIL) {
        out = 0;
        return true;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        out = r->integer < 0 ? 0 : static_cast<std::uint64_t>(r->integer);
        return true;
    }
    if (r->type != REDIS_REPLY_STRING) return false;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(r->str, r->str + r->len, v);
    if (ec != std::errc() || end != r->str + r->len) return false;
    out = v < 0 ? 0 : static_cast<std::uint64_t>(v);
    return true;
}

}  // namespace

RedisStore::RedisStore(std::string name, RedisTarget target, RedisStoreOptions options, bool writer)
    : name_(std::move(name)),
      options_(std::move(options)),
      meta_(options_.prefix + "meta"),
      learned_(options_.prefix + "learned"),
      reader_(target, options_.timeout, options_.pool,
              RedisNames{"classifier store", "timeout_ms", "pool"}) {
    if (writer) {
        writer_ = std::make_unique<RedisClient>(target, options_.write_timeout, 1,
                                                RedisNames{"classifier store", "60 s", "pool"});
    }
}

RedisStore::~RedisStore() = default;

Result<std::unique_ptr<RedisStore>> RedisStore::open(const std::string& spec, OpenMode mode) {
    const auto bad = [&](const std::string& why) {
        return Error::config(
            fmt::format("classifier store '{}': {} (expected a Redis URL with optional ?prefix=P, "
                        "timeout_ms=N, password_file=/PATH)",
                        spec, why));
    };
    const auto q = spec.find('?');
    std::string url = spec.substr(0, q);
    std::string unix_query;  // redis+unix: keeps its db=N
    RedisStoreOptions o;
    std::string password_file;
    if (q != std::string::npos) {
        std::string_view rest = std::string_view(spec).substr(q + 1);
        while (!rest.empty()) {
            const auto amp = rest.find('&');
            const auto param = rest.substr(0, amp);
            rest.remove_prefix(amp == std::string_view::npos ? rest.size() : amp + 1);
            const auto eq = param.find('=');
            if (eq == std::string_view::npos) return bad("'" + std::string(param) + "' has no =");
            const auto key = param.substr(0, eq);
            auto value = percent_decode(param.substr(eq + 1));
            if (!value) return bad("a malformed %-escape");
            if (key == "prefix") {
                o.prefix = *value;
            } else if (key == "timeout_ms") {
                int ms = 0;
                const auto [end, ec] =
                    std::from_chars(value->data(), value->data() + value->size(), ms);
                if (ec != std::errc() || end != value->data() + value->size() || ms < 10 ||
                    ms > 60000)
                    return bad("timeout_ms is 10..60000");
                o.timeout = std::chrono::milliseconds(ms);
            } else if (key == "password_file") {
                if (value->empty() || value->front() != '/')
                    return bad("password_file must be an absolute path");
                password_file = *value;
            } else if (key == "db" && url.rfind("redis+unix:", 0) == 0) {
                unix_query = "?db=" + *value;
            } else {
                return bad("unknown parameter '" + std::string(key) + "'");
            }
        }
    }
    auto target = parse_redis_url(url + unix_query, "classifier store");
    if (!target) return target.error();
    if (!password_file.empty()) {
        if (!target->password.empty())
            return bad("a password both in the URL and in password_file");
        std::ifstream in(password_file);
        std::string line;
        if (!in || !std::getline(in, line))
            return Error::config("classifier store password_file " + password_file +
                                 ": cannot read it");
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty())
            return Error::config("classifier store password_file " + password_file +
                                 ": empty first line");
        target->password = line;
    }
    // The name, for messages and `classifier stats`: never the password.
    const std::string name =
        target->unix_path.empty()
            ? fmt::format("redis://{}:{}/{}?prefix={}",
                          target->host.find(':') != std::string::npos ? "[" + target->host + "]"
                                                                      : target->host,
                          target->port, target->db, o.prefix)
            : fmt::format("redis+unix:{}?db={}&prefix={}", target->unix_path, target->db, o.prefix);
    return open(name, std::move(target).value(), std::move(o), mode);
}

Result<std::unique_ptr<RedisStore>> RedisStore::open(const std::string& name, RedisTarget target,
                                                     RedisStoreOptions options, OpenMode mode) {
    std::unique_ptr<RedisStore> s(
        new RedisStore(name, std::move(target), std::move(options), mode != OpenMode::read));
    if (auto st = s->check(mode); !st) return st.error();
    return s;
}

// What is under the prefix: nothing (create it, or nothing learned yet), a version 1
// store, or something else.
Status RedisStore::check(OpenMode mode) {
    auto r = reader_.call({{"TYPE", meta_}, {"HGET", meta_, "version"}});
    if (!r) return r.error();
    const redisReply* type = (*r)[0].get();
    if (type->type != REDIS_REPLY_STATUS) return reader_.unexpected(type, "TYPE");
    const std::string_view t(type->str, type->len);
    if (t == "none") {
        if (mode != OpenMode::create)
            return Error::temporary(
                fmt::format("classifier store {}: empty (nothing learned yet)", name_));
        auto w = writer_->command({"HSETNX", meta_, "version", "1"});
        if (!w) return w.error();
        return ok_status();
    }
    if (t != "hash")
        return Error::config(fmt::format(
            "classifier store {}: not a classifier store (the key {} is a {}, not a hash)", name_,
            meta_, t));
    const redisReply* v = (*r)[1].get();
    if (v->type == REDIS_REPLY_NIL)
        return Error::config(
            fmt::format("classifier store {}: not a classifier store (no version)", name_));
    if (v->type != REDIS_REPLY_STRING) return reader_.unexpected(v, "HGET");
    if (std::string_view(v->str, v->len) != "1")
        return Error::config(
            fmt::format("classifier store {}: version {}, this pampero reads version 1", name_,
                        std::string_view(v->str, v->len)));
    return ok_status();
}

void RedisStore::remember(const Totals& t) const {
    std::lock_guard lock(mu_);
    totals_ = t;
    totals_at_ = Clock::now();
    totals_known_ = true;
}

Status RedisStore::backing_off() const {
    if (writer_) return ok_status();
    std::lock_guard lock(mu_);
    if (Clock::now() < retry_at_)
        return Error::temporary(fmt::format(
            "classifier store {}: failed {} s ago, not asked again yet: {}", name_,
            std::chrono::duration_cast<std::chrono::seconds>(kRetryAfter).count(), last_error_));
    return ok_status();
}

Error RedisStore::failing(Error e) const {
    if (!writer_) {
        std::lock_guard lock(mu_);
        retry_at_ = Clock::now() + kRetryAfter;
        last_error_ = e.message;
    }
    return e;
}

Result<std::vector<TokenCounts>> RedisStore::get(std::span<const Token> tokens) const {
    if (auto st = backing_off(); !st) return st.error();
    // The pipeline written in RESP directly: a vector of four strings per token was most
    // of the client's time.
    std::string resp;
    resp.reserve((tokens.size() + 1) * (48 + options_.prefix.size()) + meta_.size());
    const auto bulk = [&](std::string_view a) {
        char len[24];
        const auto end = std::to_chars(len, len + sizeof len, a.size()).ptr;
        resp += '$';
        resp.append(len, end);
        resp.append("\r\n");
        resp.append(a);
        resp.append("\r\n");
    };
    resp.append("*4\r\n$5\r\nHMGET\r\n");
    bulk(meta_);
    bulk("spam");
    bulk("ham");
    char field[7];
    std::string key = options_.prefix + "t:0000";  // shard_key(), its hex digits set below
    const std::size_t hex = key.size() - 4;
    for (const Token t : tokens) {
        resp.append("*4\r\n$5\r\nHMGET\r\n");
        for (int i = 0; i < 4; ++i)
            key[hex + static_cast<std::size_t>(i)] = "0123456789abcdef"[(t >> (60 - 4 * i)) & 0xf];
        bulk(key);
        const std::string base = field_base(t);
        std::memcpy(field, base.data(), 6);
        field[6] = 's';
        bulk(std::string_view(field, 7));
        field[6] = 'h';
        bulk(std::string_view(field, 7));
    }
    auto r = reader_.call_formatted(resp, tokens.size() + 1);
    if (!r) return failing(r.error());
    const auto pair = [&](const redisReply* e, std::uint64_t& a, std::uint64_t& b) {
        return e->type == REDIS_REPLY_ARRAY && e->elements == 2 && as_count(e->element[0], a) &&
               as_count(e->element[1], b);
    };
    Totals totals;
    if (!pair((*r)[0].get(), totals.spam, totals.ham))
        return reader_.unexpected((*r)[0].get(), "HMGET meta");
    std::vector<TokenCounts> out(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const redisReply* e = (*r)[i + 1].get();
        if (!pair(e, out[i].spam, out[i].ham)) return reader_.unexpected(e, "HMGET");
    }
    remember(totals);
    return out;
}

Result<Totals> RedisStore::totals() const {
    {
        std::lock_guard lock(mu_);
        if (totals_known_ && Clock::now() - totals_at_ < kTotalsMaxAge) return totals_;
    }
    if (auto st = backing_off(); !st) return st.error();
    auto r = reader_.command({"HMGET", meta_, "spam", "ham"});
    if (!r) return failing(r.error());
    Totals t;
    const redisReply* e = r->get();
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !as_count(e->element[0], t.spam) ||
        !as_count(e->element[1], t.ham))
        return reader_.unexpected(e, "HMGET meta");
    remember(t);
    return t;
}

Result<std::optional<Class>> RedisStore::learned(const std::string& id) const {
    auto r = reader_.command({"HGET", learned_, id});
    if (!r) return r.error();
    const redisReply* e = r->get();
    if (e->type == REDIS_REPLY_NIL) return std::optional<Class>{};
    if (e->type != REDIS_REPLY_STRING) return reader_.unexpected(e, "HGET learned");
    const std::string_view v(e->str, e->len);
    if (v == "spam") return std::optional<Class>{Class::spam};
    if (v == "ham") return std::optional<Class>{Class::ham};
    return reader_.unexpected(e, "HGET learned");
}

Status RedisStore::apply(const Update& u) {
    if (!writer_)
        return Error::temporary(fmt::format("classifier store {}: opened read-only", name_));
    // Bound: at most kMaxScriptTokens token deltas per script call (redis_store.hpp). The
    // Learner never hands more (max_update_tokens()); a bigger update goes in several
    // calls, the totals and the learned ids with the last.
    const std::size_t n = u.tokens.size();
    std::size_t from = 0;
    do {
        const std::size_t to = std::min(n, from + kMaxScriptTokens);
        const bool last = to == n;
        RedisClient::Args keys{meta_, learned_};
        RedisClient::Args argv{last ? std::to_string(u.spam_messages) : "0",
                               last ? std::to_string(u.ham_messages) : "0",
                               last ? std::to_string(u.learned.size()) : "0"};
        keys.reserve(2 + (to - from));
        argv.reserve(3 + (last ? 2 * u.learned.size() : 0) + 3 * (to - from));
        if (last) {
            for (const auto& [id, cls] : u.learned) {
                argv.push_back(id);
                argv.push_back(cls ? to_string(*cls) : "");
            }
        }
        for (std::size_t i = from; i < to; ++i) {
            const auto& d = u.tokens[i];
            keys.push_back(shard_key(options_.prefix, d.token));
            argv.push_back(field_base(d.token));
            argv.push_back(std::to_string(d.spam));
            argv.push_back(std::to_string(d.ham));
        }
        auto r = writer_->script(apply_script, keys, argv);
        {
            std::lock_guard lock(mu_);
            totals_known_ = false;  // read them again
        }
        if (!r) return r.error();
        from = to;
    } while (from < n);
    return ok_status();
}

Result<StoreStats> RedisStore::stats() const {
    auto r = reader_.call({{"HMGET", meta_, "spam", "ham", "tokens"}, {"HLEN", learned_}});
    if (!r) return r.error();
    StoreStats s;
    const redisReply* m = (*r)[0].get();
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        !as_count(m->element[0], s.totals.spam) || !as_count(m->element[1], s.totals.ham) ||
        !as_count(m->element[2], s.tokens))
        return reader_.unexpected(m, "HMGET meta");
    if (!as_count((*r)[1].get(), s.learned)) return reader_.unexpected((*r)[1].get(), "HLEN");
    return s;
}

}  // namespace pampero::classifier
