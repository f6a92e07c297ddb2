// pamperoctl ban list | ban del IP | ratelimit show USER|IP: the dictionary-attack bans
// and the rate counters, asked of pampero-policyd on its admin socket (policyd_admin.hpp;
// protocol: policyd/admin.hpp). pampero-milter files its bans under the same keys, but
// with the memory state its bans live in its own memory, out of reach of these commands.
#include <iostream>

#include "commands.hpp"
#include "policyd_admin.hpp"

namespace pampero::cli {

int ban_list(Context& c) {
    auto rows = ask_policyd(c, "ban list", 3);
    if (!rows) return fail(rows.error());
    for (const auto& r : *rows)
        std::cout << r[0] << " unknown_recipients=" << r[1] << " left=" << r[2] << "s\n";
    return 0;
}

int ban_del(Context& c, const std::string& ip) {
    auto rows = ask_policyd(c, "ban del " + ip, 2);
    if (!rows) return fail(rows.error());
    if (rows->size() != 1) return fail(Error::temporary("unexpected answer from pampero-policyd"));
    const auto& r = rows->front();
    if (r[1] != "1") return fail("no ban in force on " + r[0]);
    std::cout << r[0] << ": ban lifted\n";
    return 0;
}

int ratelimit_show(Context& c, const std::string& key) {
    auto rows = ask_policyd(c, "ratelimit show " + key, 5);
    if (!rows) return fail(rows.error());
    for (const auto& r : *rows) {
        std::cout << r[0] << ' ' << r[1] << ' ' << r[2] << '/' << (r[3] == "0" ? "none" : r[3]);
        if (r[4] != "0") std::cout << " window_left=" << r[4] << 's';
        std::cout << '\n';
    }
    return 0;
}

}  // namespace pampero::cli
