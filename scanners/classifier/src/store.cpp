#include <fmt/format.h>

#include "pampero/classifier/memory_store.hpp"
#include "pampero/classifier/redis_store.hpp"
#include "pampero/classifier/sqlite_store.hpp"

namespace pampero::classifier {

Status ClassifierStore::get_into(std::span<const Token> tokens,
                                 std::vector<TokenCounts>& out) const {
    auto r = get(tokens);
    if (!r) return r.error();
    out = std::move(r).value();
    return ok_status();
}

Result<std::unique_ptr<ClassifierStore>> open_store(const std::string& spec, OpenMode mode) {
    if (spec.empty() || spec == "memory") return std::unique_ptr<ClassifierStore>(new MemoryStore);
    if (spec.rfind("sqlite:", 0) == 0) {
        auto s = SqliteStore::open(spec.substr(7), mode);
        if (!s) return s.error();
        return std::unique_ptr<ClassifierStore>(std::move(s).value());
    }
    if (is_redis_url(spec)) {
        auto s = RedisStore::open(spec, mode);
        if (!s) return s.error();
        return std::unique_ptr<ClassifierStore>(std::move(s).value());
    }
    return Error::config(fmt::format(
        "classifier store '{}': expected sqlite:PATH, redis://HOST[:PORT][/DB][?prefix=P] or "
        "redis+unix:/PATH (or memory)",
        spec));
}

}  // namespace pampero::classifier
