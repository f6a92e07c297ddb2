// dns_lookup.hpp - DNSBL queries (A records) at a configured resolver, with c-ares.
//
// DnsResolver is one resolver address with one timeout (one per dns-mode list). It keeps a
// small pool of c-ares channels: a lookup borrows one channel per resolver, so any number
// of threads can query at once (c-ares 1.18 channels are not thread-safe themselves) and
// no channel is set up per message.
//
// dns_query_all() runs every query of one message in parallel, over all resolvers, in
// one poll(2) loop, and returns when all have an answer or their resolver's timeout has
// passed (one try, no retry: the timeout is the list's whole budget). Outcomes:
//   listed     - one or more A records (any address: the caller decides what they mean)
//   not_listed - NXDOMAIN or no A record
//   timeout    - no answer within the list's timeout_ms
//   error      - SERVFAIL, REFUSED, a malformed answer, a socket error
// Names longer than 253 characters are not sent (error). At most kMaxQueries queries a
// call; the rest get `error`. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero::scan {

enum class DnsStatus { listed, not_listed, timeout, error };
const char* to_string(DnsStatus s);

class DnsResolver {
  public:
    // `host` numeric IPv4/IPv6; timeout 1..10000 ms. Errors: config (bad address).
    static Result<std::shared_ptr<DnsResolver>> create(const std::string& host, std::uint16_t port,
                                                       int timeout_ms);
    ~DnsResolver();
    DnsResolver(const DnsResolver&) = delete;
    DnsResolver& operator=(const DnsResolver&) = delete;

    int timeout_ms() const { return timeout_ms_; }
    const std::string& address() const { return label_; }

    struct Channel;
    Channel* borrow();            // nullptr when c-ares cannot set up a channel
    void give_back(Channel* ch);  // after the channel has no query in flight

  private:
    DnsResolver() = default;
    std::string host_;
    std::uint16_t port_ = 53;
    int timeout_ms_ = 500;
    std::string label_;
    std::mutex mu_;
    std::vector<Channel*> idle_;
};

struct DnsQuery {
    DnsResolver* resolver = nullptr;
    std::string name;  // e.g. "2.0.0.127.zen.spamhaus.org"
};

struct DnsAnswer {
    DnsStatus status = DnsStatus::error;
    std::vector<std::uint32_t> a;  // host byte order
    std::string detail;            // c-ares' message for error/timeout
};

constexpr std::size_t kMaxDnsQueries = 1024;

std::vector<DnsAnswer> dns_query_all(std::span<const DnsQuery> queries);

}  // namespace pampero::scan
