// pamperoctl sessions [show IP]: RADIUS sessions, asked of pampero-policyd on its admin
// socket (policyd_admin.hpp): with the memory state the sessions live in the daemon's
// memory, so reading them anywhere else would be a guess. Protocol: policyd/radius_admin.hpp.
#include <ctime>
#include <iostream>

#include "commands.hpp"
#include "policyd_admin.hpp"

namespace pampero::cli {
namespace {

std::string when(const std::string& unix_time) {
    std::time_t t = 0;
    try {
        t = static_cast<std::time_t>(std::stoll(unix_time));
    } catch (...) {
        return unix_time;
    }
    std::tm tm{};
    char buf[32];
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

int sessions_list(Context& c) {
    auto rows = ask_policyd(c, "sessions", 5);
    if (!rows) return fail(rows.error());
    for (const auto& r : *rows)
        std::cout << r[0] << ' ' << r[1] << " nas=" << r[2] << " session=" << r[3]
                  << " updated=" << when(r[4]) << '\n';
    return 0;
}

int sessions_show(Context& c, const std::string& ip) {
    auto rows = ask_policyd(c, "session " + ip, 5);
    if (!rows) return fail(rows.error());
    if (rows->empty()) return fail("no session holds " + ip);
    const auto& r = rows->front();
    std::cout << "ip: " << r[0] << "\nuser: " << r[1] << "\nnas: " << r[2] << "\nsession: " << r[3]
              << "\nupdated: " << when(r[4]) << '\n';
    return 0;
}

}  // namespace pampero::cli
