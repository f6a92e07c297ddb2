#include <fmt/format.h>

#include "pampero/classifier/memory_store.hpp"
#include "pampero/classifier/sqlite_store.hpp"

namespace pampero::classifier {

Result<std::unique_ptr<ClassifierStore>> open_store(const std::string& spec, OpenMode mode) {
    if (spec.empty() || spec == "memory") return std::unique_ptr<ClassifierStore>(new MemoryStore);
    if (spec.rfind("sqlite:", 0) == 0) {
        auto s = SqliteStore::open(spec.substr(7), mode);
        if (!s) return s.error();
        return std::unique_ptr<ClassifierStore>(std::move(s).value());
    }
    if (spec.rfind("redis://", 0) == 0) {
        return Error::config(fmt::format(
            "classifier store '{}': the Redis backend is not built yet (use sqlite:PATH)", spec));
    }
    return Error::config(
        fmt::format("classifier store '{}': expected sqlite:PATH (or memory)", spec));
}

}  // namespace pampero::classifier
