// log.hpp - syslog (facility mail) or stderr logging.
//
// Daemons log to syslog with facility LOG_MAIL, as Postfix does, so the admin finds
// pampero's lines next to the MTA's. With -f (foreground) they go to stderr instead.
// Every line about a message starts with the id the admin can grep for: the MTA's
// queue id once known, before that a connection id ("conn-1a2b").
// Thread-safe: syslog(3) is, and the stderr writer takes a lock per line.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace pampero::log {

enum class Level { debug, info, notice, warning, error };

void open(std::string_view ident, bool to_stderr, bool debug = false);
void write(Level level, std::string_view line);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::notice, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::warning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace pampero::log
