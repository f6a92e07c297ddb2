// bench_radius_load - an accounting load client (a NAS in a hurry): sends COUNT
// Accounting-Requests (Start of a distinct user and address each, or with --mix a third
// each of Start, Interim-Update and Stop) to HOST:PORT over SOCKETS UDP sockets with at
// most WINDOW unanswered per socket, retransmits what is unanswered after --timeout ms (at
// most --retries times, same identifier and authenticator, as a NAS does), checks every
// Response Authenticator, and prints one line of figures:
//   sent=N answered=N unanswered=N stale_answers=N retransmissions=N seconds=S rate=N/s
// A stale answer is one that does not authenticate against what its identifier now stands
// for: the second answer to a retransmitted packet, arriving after the first one freed the
// identifier for a new packet (a wrong authenticator shows as that packet unanswered).
// Why not only radclient: radclient -p is one process whose own per-packet work caps the
// rate below what either server does on this machine (bench/radius prints its figure too).
// One thread, poll(2) over the sockets. Bounds: COUNT <= 10,000,000; WINDOW <= 255.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "radius_packet.hpp"

using namespace pampero::radius;
using Clock = std::chrono::steady_clock;

namespace {

struct Slot {
    std::string packet;
    Authenticator auth{};
    Clock::time_point sent{};
    int tries = 0;
    bool busy = false;
};

struct Sock {
    int fd = -1;
    std::vector<Slot> slots = std::vector<Slot>(256);
    int busy = 0;
};

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: bench_radius_load HOST PORT SECRET COUNT [--sockets N] [--window N] "
                 "[--timeout MS] [--retries N] [--mix] [--first N]\n");
    std::exit(64);
}

std::string make_packet(std::uint8_t id, std::uint64_t n, bool mix, const std::string& secret) {
    Packet p;
    p.identifier = id;
    const std::uint32_t status = !mix ? kStart
                                      : (n % 3 == 0   ? kStart
                                         : n % 3 == 1 ? kInterimUpdate
                                                      : kStop);
    const std::uint64_t who = mix ? n / 3 : n;
    char ip[32];
    std::snprintf(ip, sizeof ip, "10.%u.%u.%u", static_cast<unsigned>((who >> 16) & 255),
                  static_cast<unsigned>((who >> 8) & 255), static_cast<unsigned>(who & 255));
    p.attributes = {integer_attribute(kAcctStatusType, status),
                    text_attribute(kUserName, "user" + std::to_string(who) + "@isp.example"),
                    *ipv4_attribute(kFramedIpAddress, ip),
                    text_attribute(kAcctSessionId, "sess-" + std::to_string(who)),
                    integer_attribute(kAcctInterimInterval, 600),
                    *ipv4_attribute(kNasIpAddress, "127.0.0.1")};
    return *build_accounting_request(p, secret);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) usage();
    const std::string host = argv[1];
    const int port = std::atoi(argv[2]);
    const std::string secret = argv[3];
    const std::uint64_t count = std::strtoull(argv[4], nullptr, 10);
    int nsock = 4, window = 64, timeout_ms = 1000, retries = 5;
    std::uint64_t first = 0;
    bool mix = false;
    for (int i = 5; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] {
            if (i + 1 >= argc) usage();
            return std::atoi(argv[++i]);
        };
        if (a == "--sockets")
            nsock = next();
        else if (a == "--window")
            window = next();
        else if (a == "--timeout")
            timeout_ms = next();
        else if (a == "--retries")
            retries = next();
        else if (a == "--first")
            first = static_cast<std::uint64_t>(next());
        else if (a == "--mix")
            mix = true;
        else
            usage();
    }
    if (count == 0 || count > 10000000 || window < 1 || window > 255 || nsock < 1 || nsock > 64)
        usage();
    sockaddr_in dest{};
    dest.sin_family = AF_INET;
    dest.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &dest.sin_addr) != 1) usage();
    std::vector<Sock> socks(static_cast<std::size_t>(nsock));
    for (auto& s : socks) {
        s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int big = 4 << 20;
        setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        if (::connect(s.fd, reinterpret_cast<sockaddr*>(&dest), sizeof dest) != 0) {
            std::perror("connect");
            return 1;
        }
    }
    std::uint64_t next_n = 0, answered = 0, unanswered = 0, stale = 0, resent = 0;
    const auto t0 = Clock::now();
    std::vector<pollfd> pfds(socks.size());
    char buf[4096];
    for (;;) {
        const auto now = Clock::now();
        bool any_busy = false;
        for (std::size_t k = 0; k < socks.size(); ++k) {
            Sock& s = socks[k];
            // Fill the window with new packets.
            for (int id = 0; id < 256 && s.busy < window && next_n < count; ++id) {
                Slot& sl = s.slots[static_cast<std::size_t>(id)];
                if (sl.busy) continue;
                sl.packet =
                    make_packet(static_cast<std::uint8_t>(id), first + next_n++, mix, secret);
                std::memcpy(sl.auth.data(), sl.packet.data() + 4, 16);
                sl.busy = true;
                sl.tries = 0;
                sl.sent = now;
                ++s.busy;
                (void)::send(s.fd, sl.packet.data(), sl.packet.size(), 0);
            }
            // Retransmit or give up what waited too long.
            for (auto& sl : s.slots) {
                if (!sl.busy || now - sl.sent < std::chrono::milliseconds(timeout_ms)) continue;
                if (sl.tries >= retries) {
                    sl.busy = false;
                    --s.busy;
                    ++unanswered;
                    continue;
                }
                ++sl.tries;
                ++resent;
                sl.sent = now;
                (void)::send(s.fd, sl.packet.data(), sl.packet.size(), 0);
            }
            if (s.busy) any_busy = true;
            pfds[k] = {s.fd, POLLIN, 0};
        }
        if (!any_busy && next_n >= count) break;
        if (::poll(pfds.data(), pfds.size(), 50) <= 0) continue;
        for (std::size_t k = 0; k < socks.size(); ++k) {
            if (!(pfds[k].revents & POLLIN)) continue;
            Sock& s = socks[k];
            for (;;) {
                const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                if (n < 20) {
                    ++stale;
                    continue;
                }
                Slot& sl = s.slots[static_cast<std::uint8_t>(buf[1])];
                if (!sl.busy) continue;  // an answer to a retransmission already answered
                if (!verify_response(std::string_view(buf, static_cast<std::size_t>(n)), sl.auth,
                                     secret)) {
                    ++stale;
                    continue;
                }
                sl.busy = false;
                --s.busy;
                ++answered;
            }
        }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf(
        "sent=%llu answered=%llu unanswered=%llu stale_answers=%llu retransmissions=%llu "
        "seconds=%.3f rate=%.0f/s\n",
        static_cast<unsigned long long>(next_n), static_cast<unsigned long long>(answered),
        static_cast<unsigned long long>(unanswered), static_cast<unsigned long long>(stale),
        static_cast<unsigned long long>(resent), secs, static_cast<double>(answered) / secs);
    return unanswered == 0 ? 0 : 1;
}
