#include "pampero/common/log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace pampero::log {
namespace {

bool g_stderr = true;
bool g_debug = false;
std::string g_ident = "pampero";
std::mutex g_mu;

int priority(Level level) {
    switch (level) {
        case Level::debug:
            return LOG_DEBUG;
        case Level::info:
            return LOG_INFO;
        case Level::notice:
            return LOG_NOTICE;
        case Level::warning:
            return LOG_WARNING;
        case Level::error:
            return LOG_ERR;
    }
    return LOG_INFO;
}

const char* label(Level level) {
    switch (level) {
        case Level::debug:
            return "debug: ";
        case Level::info:
            return "";
        case Level::notice:
            return "";
        case Level::warning:
            return "warning: ";
        case Level::error:
            return "error: ";
    }
    return "";
}

}  // namespace

void open(std::string_view ident, bool to_stderr, bool debug) {
    g_ident = std::string(ident);
    g_stderr = to_stderr;
    g_debug = debug;
    if (!to_stderr) openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void write(Level level, std::string_view line) {
    if (level == Level::debug && !g_debug) return;
    if (g_stderr) {
        std::lock_guard lock(g_mu);
        std::fprintf(stderr, "%s[%d]: %s%.*s\n", g_ident.c_str(), static_cast<int>(getpid()),
                     label(level), static_cast<int>(line.size()), line.data());
        std::fflush(stderr);
        return;
    }
    syslog(priority(level), "%s%.*s", label(level), static_cast<int>(line.size()), line.data());
}

}  // namespace pampero::log
