// policyd_admin.cpp - see policyd_admin.hpp.
#include "policyd_admin.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace pampero::cli {
namespace {

// How long the daemon may take to answer (a listing of a million sessions included).
constexpr int kAnswerTimeoutMs = 30000;
// The largest answer read: a full listing (kMaxListed lines of at most ~800 octets).
constexpr std::size_t kMaxAnswer = 1024ull * 1024 * 1024;

Result<std::string> ask(const std::string& path, const std::string& question) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path)
        return Error::config("policyd.admin_socket " + path + ": path too long");
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::temporary(std::string("socket: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        return Error::temporary("cannot reach pampero-policyd at " + path + ": " +
                                std::strerror(errno) + " (is it running?)");
    const std::string q = question + "\n";
    if (::send(fd, q.data(), q.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(q.size()))
        return Error::temporary(std::string("sending the question: ") + std::strerror(errno));
    std::string out;
    char buf[65536];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int r = ::poll(&p, 1, kAnswerTimeoutMs);
        if (r == 0) return Error::temporary("pampero-policyd did not answer in time");
        if (r < 0 && errno == EINTR) continue;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return Error::temporary(std::string("reading the answer: ") + std::strerror(errno));
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > kMaxAnswer) return Error::temporary("answer too large");
    }
    return out;
}

// "ok N\n" + N lines, or "error KIND MESSAGE\n"; the lines split on tabs.
Result<std::vector<std::vector<std::string>>> parse_answer(const std::string& a,
                                                           std::size_t fields) {
    if (a.rfind("error ", 0) == 0) {
        std::string msg = a.substr(6);
        if (!msg.empty() && msg.back() == '\n') msg.pop_back();
        const bool temp = msg.rfind("temporary ", 0) == 0;
        const auto sp = msg.find(' ');
        msg = sp == std::string::npos ? msg : msg.substr(sp + 1);
        return temp ? Error::temporary(msg) : Error::permanent(msg);
    }
    std::istringstream in(a);
    std::string head;
    std::getline(in, head);
    if (head.rfind("ok ", 0) != 0)
        return Error::temporary("unexpected answer from pampero-policyd");
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> f;
        std::size_t at = 0;
        for (auto tab = line.find('\t'); tab != std::string::npos; tab = line.find('\t', at)) {
            f.push_back(line.substr(at, tab - at));
            at = tab + 1;
        }
        f.push_back(line.substr(at));
        if (f.size() != fields) return Error::temporary("unexpected answer from pampero-policyd");
        rows.push_back(std::move(f));
    }
    if (std::to_string(rows.size()) != head.substr(3))
        return Error::temporary("answer from pampero-policyd cut short");
    return rows;
}

}  // namespace

Result<std::vector<std::vector<std::string>>> ask_policyd(Context& c, const std::string& question,
                                                          std::size_t fields) {
    const auto& path = c.config().policyd.admin_socket;
    if (path.empty())
        return Error::config(
            "policyd.admin_socket is not set: bans, rate counters and sessions live in "
            "pampero-policyd, which answers on that socket");
    auto a = ask(path, question);
    if (!a) return a.error();
    return parse_answer(*a, fields);
}

}  // namespace pampero::cli
