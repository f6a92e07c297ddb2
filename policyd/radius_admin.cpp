// radius_admin.cpp - see radius_admin.hpp. The socket itself is served by
// radius_listener.cpp, on the same io_context as the UDP listener.
#include "radius_admin.hpp"

#include <fmt/format.h>

namespace pampero::radius {
namespace {

std::string line(const SessionInfo& s) {
    return fmt::format("{}\t{}\t{}\t{}\t{}\n", s.ip, s.user, s.nas, s.session_id, s.updated);
}

std::string error_line(const Error& e) {
    return fmt::format("error {} {}\n", e.kind == ErrorKind::temporary ? "temporary" : "permanent",
                       e.message);
}

}  // namespace

std::string answer_admin(Accounting& accounting, std::string_view q) {
    if (!q.empty() && q.back() == '\r') q.remove_suffix(1);
    if (q == "sessions") {
        auto list = accounting.sessions(kMaxListed);
        if (!list) return error_line(list.error());
        std::string out = fmt::format("ok {}\n", list->size());
        for (const auto& s : *list) out += line(s);
        return out;
    }
    if (q.substr(0, 8) == "session ") {
        auto s = accounting.session(std::string(q.substr(8)));
        if (!s) return error_line(s.error());
        if (!s->has_value()) return "ok 0\n";
        return "ok 1\n" + line(**s);
    }
    return error_line(Error::permanent("unknown question (expected: sessions | session IP)"));
}

}  // namespace pampero::radius
