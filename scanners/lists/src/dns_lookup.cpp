// dns_lookup.cpp - c-ares glue for dns-mode blocklists. See dns_lookup.hpp.
#include "pampero/lists/dns_lookup.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fmt/format.h>
#include <poll.h>

#include <chrono>
#include <cstring>
#include <mutex>

namespace pampero::scan {

const char* to_string(DnsStatus s) {
    switch (s) {
        case DnsStatus::listed:
            return "listed";
        case DnsStatus::not_listed:
            return "not-listed";
        case DnsStatus::timeout:
            return "timeout";
        case DnsStatus::error:
            return "error";
    }
    return "?";
}

struct DnsResolver::Channel {
    ares_channel ch = nullptr;
};

namespace {

std::once_flag g_ares_init;
int g_ares_status = ARES_SUCCESS;

constexpr std::size_t kIdleChannels = 64;  // per resolver; more are closed when returned

}  // namespace

Result<std::shared_ptr<DnsResolver>> DnsResolver::create(const std::string& host,
                                                         std::uint16_t port, int timeout_ms) {
    std::call_once(g_ares_init, [] { g_ares_status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (g_ares_status != ARES_SUCCESS) {
        return Error::temporary(fmt::format("c-ares: {}", ares_strerror(g_ares_status)));
    }
    unsigned char buf[16];
    const bool v4 = inet_pton(AF_INET, host.c_str(), buf) == 1;
    if (!v4 && inet_pton(AF_INET6, host.c_str(), buf) != 1) {
        return Error::config(fmt::format("resolver '{}' is not a numeric address", host));
    }
    if (timeout_ms < 1 || timeout_ms > 10000)
        return Error::config("resolver timeout must be 1..10000 ms");
    std::shared_ptr<DnsResolver> r(new DnsResolver());
    r->host_ = host;
    r->port_ = port;
    r->timeout_ms_ = timeout_ms;
    r->label_ = v4 ? fmt::format("{}:{}", host, port) : fmt::format("[{}]:{}", host, port);
    // Set one channel up now so a broken environment shows at start, not per message.
    Channel* ch = r->borrow();
    if (!ch)
        return Error::temporary(fmt::format("c-ares: cannot set up a channel for {}", r->label_));
    r->give_back(ch);
    return r;
}

DnsResolver::~DnsResolver() {
    for (Channel* c : idle_) {
        ares_destroy(c->ch);
        delete c;
    }
}

DnsResolver::Channel* DnsResolver::borrow() {
    {
        std::lock_guard lock(mu_);
        if (!idle_.empty()) {
            Channel* c = idle_.back();
            idle_.pop_back();
            return c;
        }
    }
    ares_options opts{};
    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    opts.timeout = timeout_ms_;  // with ARES_OPT_TIMEOUTMS: milliseconds
    opts.tries = 1;
    char lookups[] = "b";
    opts.lookups = lookups;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
    auto* c = new Channel();
    if (ares_init_options(&c->ch, &opts, mask) != ARES_SUCCESS) {
        delete c;
        return nullptr;
    }
    ares_addr_port_node server{};
    server.next = nullptr;
    if (inet_pton(AF_INET, host_.c_str(), &server.addr.addr4) == 1) {
        server.family = AF_INET;
    } else {
        server.family = AF_INET6;
        inet_pton(AF_INET6, host_.c_str(), &server.addr.addr6);
    }
    server.udp_port = port_;
    server.tcp_port = port_;
    if (ares_set_servers_ports(c->ch, &server) != ARES_SUCCESS) {
        ares_destroy(c->ch);
        delete c;
        return nullptr;
    }
    return c;
}

void DnsResolver::give_back(Channel* c) {
    if (!c) return;
    {
        std::lock_guard lock(mu_);
        if (idle_.size() < kIdleChannels) {
            idle_.push_back(c);
            return;
        }
    }
    ares_destroy(c->ch);
    delete c;
}

namespace {

struct Pending {
    DnsAnswer* answer;
    std::size_t* outstanding;
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* p = static_cast<Pending*>(arg);
    DnsAnswer& out = *p->answer;
    --*p->outstanding;
    switch (status) {
        case ARES_SUCCESS: {
            ares_addrttl addrs[32];
            int n = 32;
            const int rc = ares_parse_a_reply(abuf, alen, nullptr, addrs, &n);
            if (rc == ARES_ENODATA) {
                out.status = DnsStatus::not_listed;
            } else if (rc != ARES_SUCCESS) {
                out.status = DnsStatus::error;
                out.detail = ares_strerror(rc);
            } else if (n == 0) {
                out.status = DnsStatus::not_listed;
            } else {
                out.status = DnsStatus::listed;
                for (int i = 0; i < n; ++i) out.a.push_back(ntohl(addrs[i].ipaddr.s_addr));
            }
            return;
        }
        case ARES_ENOTFOUND:
        case ARES_ENODATA:
            out.status = DnsStatus::not_listed;
            return;
        case ARES_ETIMEOUT:
        case ARES_ECANCELLED:
            out.status = DnsStatus::timeout;
            out.detail = "no answer in time";
            return;
        default:
            out.status = DnsStatus::error;
            out.detail = ares_strerror(status);
            return;
    }
}

}  // namespace

std::vector<DnsAnswer> dns_query_all(std::span<const DnsQuery> queries) {
    using Clock = std::chrono::steady_clock;
    std::vector<DnsAnswer> answers(queries.size());
    if (queries.empty()) return answers;

    struct Use {
        DnsResolver* resolver;
        DnsResolver::Channel* channel;
    };
    std::vector<Use> uses;
    std::vector<Pending> pending(queries.size());
    std::size_t outstanding = 0;
    int max_timeout = 0;

    for (std::size_t i = 0; i < queries.size(); ++i) {
        const DnsQuery& q = queries[i];
        if (i >= kMaxDnsQueries || !q.resolver || q.name.empty() || q.name.size() > 253) {
            answers[i].detail = i >= kMaxDnsQueries ? "too many queries" : "bad query name";
            continue;
        }
        DnsResolver::Channel* ch = nullptr;
        for (const auto& u : uses) {
            if (u.resolver == q.resolver) ch = u.channel;
        }
        if (!ch) {
            ch = q.resolver->borrow();
            if (!ch) {
                answers[i].detail = "c-ares channel setup failed";
                continue;
            }
            uses.push_back({q.resolver, ch});
            max_timeout = std::max(max_timeout, q.resolver->timeout_ms());
        }
        pending[i] = {&answers[i], &outstanding};
        ++outstanding;
        ares_query(ch->ch, q.name.c_str(), ns_c_in, ns_t_a, on_answer, &pending[i]);
    }

    // One loop over every channel's sockets until all answered or the longest timeout
    // (plus a margin for c-ares' own timer) has passed.
    const auto deadline = Clock::now() + std::chrono::milliseconds(max_timeout + 100);
    std::vector<pollfd> fds;
    std::vector<std::size_t> owner;
    for (int round = 0; outstanding > 0 && round < 100000; ++round) {
        const auto now = Clock::now();
        if (now >= deadline) break;
        fds.clear();
        owner.clear();
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        for (std::size_t u = 0; u < uses.size(); ++u) {
            ares_socket_t socks[ARES_GETSOCK_MAXNUM];
            const int bits = ares_getsock(uses[u].channel->ch, socks, ARES_GETSOCK_MAXNUM);
            for (int s = 0; s < ARES_GETSOCK_MAXNUM; ++s) {
                short ev = 0;
                if (ARES_GETSOCK_READABLE(bits, s)) ev |= POLLIN;
                if (ARES_GETSOCK_WRITABLE(bits, s)) ev |= POLLOUT;
                if (ev) {
                    fds.push_back({socks[s], ev, 0});
                    owner.push_back(u);
                }
            }
            timeval max_tv{static_cast<time_t>(wait.count() / 1000),
                           static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
            timeval tv{};
            if (timeval* t = ares_timeout(uses[u].channel->ch, &max_tv, &tv)) {
                wait = std::min(
                    wait, std::chrono::milliseconds(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000));
            }
        }
        const int rc =
            poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(wait.count(), 1)));
        if (rc < 0 && errno != EINTR) break;
        for (std::size_t f = 0; f < fds.size(); ++f) {
            if (!fds[f].revents) continue;
            const bool rd = fds[f].revents & (POLLIN | POLLERR | POLLHUP);
            const bool wr = fds[f].revents & POLLOUT;
            ares_process_fd(uses[owner[f]].channel->ch, rd ? fds[f].fd : ARES_SOCKET_BAD,
                            wr ? fds[f].fd : ARES_SOCKET_BAD);
        }
        for (const auto& u : uses) ares_process_fd(u.channel->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    }
    for (const auto& u : uses) {
        ares_cancel(u.channel->ch);  // what is left answers ARES_ECANCELLED -> timeout
        u.resolver->give_back(u.channel);
    }
    return answers;
}

}  // namespace pampero::scan
