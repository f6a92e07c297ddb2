// open_state.cpp - the state backend a spec or pampero.yaml names (state.hpp).
#include <fstream>

#include "pampero/common/config.hpp"
#include "pampero/common/redis_state.hpp"
#include "pampero/common/state.hpp"

namespace pampero {
namespace {

// The first line of the file, without its line end; a password file is one line.
Result<std::string> read_password(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line))
        return Error::config("state_password_file " + path + ": cannot read it");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return Error::config("state_password_file " + path + ": empty first line");
    return line;
}

Result<std::unique_ptr<State>> open_redis(const std::string& url, const std::string& password_file,
                                          RedisOptions options) {
    auto target = parse_redis_url(url);
    if (!target) return target.error();
    if (!password_file.empty()) {
        if (!target->password.empty()) {
            return Error::config("state: a password both in the URL and in state_password_file");
        }
        auto pw = read_password(password_file);
        if (!pw) return pw.error();
        target->password = *pw;
    }
    return make_redis_state(std::move(target).value(), std::move(options));
}

}  // namespace

Result<std::unique_ptr<State>> open_state(const std::string& spec, std::size_t max_entries) {
    if (spec == "memory") return std::unique_ptr<State>(make_memory_state({}, max_entries));
    if (is_redis_url(spec)) return open_redis(spec, "", RedisOptions{});
    return Error::config("unknown state backend '" + spec +
                         "' (expected: memory, redis://HOST:PORT[/DB] or redis+unix:/PATH)");
}

Result<std::unique_ptr<State>> open_state(const Config& cfg) {
    if (!is_redis_url(cfg.state)) return open_state(cfg.state, cfg.guard.max_tracked);
    RedisOptions options;
    options.timeout = std::chrono::milliseconds(cfg.state_timeout_ms);
    options.pool = static_cast<std::size_t>(cfg.state_pool);
    options.prefix = cfg.state_prefix;
    return open_redis(cfg.state, cfg.state_password_file, std::move(options));
}

bool same_state_settings(const Config& a, const Config& b) {
    return a.state == b.state && a.state_password_file == b.state_password_file &&
           a.state_timeout_ms == b.state_timeout_ms && a.state_pool == b.state_pool &&
           a.state_prefix == b.state_prefix;
}

}  // namespace pampero
