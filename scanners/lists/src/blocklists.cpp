// blocklists.cpp - lists, answers to rules, reloads. See blocklists.hpp.
#include "pampero/lists/blocklists.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "pampero/common/log.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/common/strings.hpp"
#include "pampero/lists/dns_lookup.hpp"

namespace pampero::scan {

const char* to_string(BlocklistAnswer::Status s) {
    switch (s) {
        case BlocklistAnswer::Status::listed:
            return "listed";
        case BlocklistAnswer::Status::not_listed:
            return "not-listed";
        case BlocklistAnswer::Status::timeout:
            return "timeout";
        case BlocklistAnswer::Status::error:
            return "error";
        case BlocklistAnswer::Status::not_loaded:
            return "not-loaded";
        case BlocklistAnswer::Status::bad_subject:
            return "bad-subject";
    }
    return "?";
}

namespace {

using Clock = std::chrono::steady_clock;

// One log line per list and kind a minute at most; the rest counted and reported.
class RateLog {
  public:
    template <typename... Args>
    void warn(fmt::format_string<Args...> f, Args&&... args) {
        const auto now =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
                .count();
        auto last = last_.load(std::memory_order_relaxed);
        if (last != 0 && now - last < 60'000) {
            suppressed_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (!last_.compare_exchange_strong(last, now)) {
            suppressed_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const auto n = suppressed_.exchange(0);
        std::string line = fmt::format(f, std::forward<Args>(args)...);
        if (n) line += fmt::format(" ({} similar lines suppressed)", n);
        log::warning("{}", line);
    }

  private:
    std::atomic<std::int64_t> last_{0};
    std::atomic<std::uint64_t> suppressed_{0};
};

struct FileId {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileId&) const = default;
};

FileId file_id(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return {true, st.st_dev, st.st_ino, st.st_size,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

bool is_error_answer(const BlocklistConfig& c, std::uint32_t a) {
    if ((a >> 24) != 127) return true;               // not a DNSBL answer at all
    if ((a >> 8) == 0x7fffffu) return true;          // 127.255.255.x: Spamhaus "query refused"
    if (!c.bitmask.empty() && (a & 1)) return true;  // SURBL/URIBL bit 1: access blocked
    return false;
}

// Rules an answer maps to (error answers excluded by the caller).
template <typename F>
void map_answer(const BlocklistConfig& c, std::uint32_t a, F&& each) {
    bool any = false;
    for (const auto& [addr, rule] : c.returns) {
        if (addr == a) {
            each(rule);
            any = true;
        }
    }
    for (const auto& [bit, rule] : c.bitmask) {
        if ((a & 0xff) & bit) {
            each(rule);
            any = true;
        }
    }
    if (!any && c.fallback) each(*c.fallback);
}

// Lowercased domain without a trailing dot, or empty when it is no usable name.
std::string normalize_domain(std::string_view d) {
    if (!d.empty() && d.back() == '.') d.remove_suffix(1);
    if (d.empty() || d.size() > Zone::kMaxNameLength) return {};
    std::string out;
    out.reserve(d.size());
    std::size_t label = 0;
    for (char c : d) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '.') {
            if (label == 0) return {};
            label = 0;
        } else if (std::isalnum(u) || c == '-' || c == '_') {
            if (++label > 63) return {};
        } else {
            return {};
        }
        out += ascii_lower(c);
    }
    if (label == 0) return {};
    return out;
}

}  // namespace

struct Blocklists::List {
    Snapshot<const Zone> zone;  // empty: nothing loaded (missing or expired file)
    std::shared_ptr<DnsResolver> resolver;
    FileId seen;  // the file identity last loaded or tried (under reload_mu_)
    RateLog error_log;
    RateLog timeout_log;
};

Blocklists::~Blocklists() = default;

Result<std::shared_ptr<Blocklists>> Blocklists::create(std::vector<BlocklistConfig> lists) {
    std::shared_ptr<Blocklists> b(new Blocklists());
    b->lists_ = std::move(lists);
    for (const auto& c : b->lists_) {
        auto st = std::make_unique<List>();
        if (c.mode == BlocklistMode::dns) {
            auto r = DnsResolver::create(c.resolver_host, c.resolver_port, c.timeout_ms);
            if (!r)
                return Error{r.error().kind, fmt::format("{}: blocklist {}: {}", c.where, c.zone,
                                                         r.error().message)};
            st->resolver = std::move(r).value();
        } else {
            st->seen = file_id(c.file);
            if (!st->seen.exists) {
                log::warning(
                    "blocklist {}: mirror file {} missing; the list serves nothing until it "
                    "appears",
                    c.zone, c.file);
            } else {
                auto z = Zone::load_file(c.file, c.format);
                if (!z) {
                    return Error{z.error().kind,
                                 fmt::format("blocklist {}: {}", c.zone, z.error().message)};
                }
                for (const auto& w : z.value()->stats().first_warnings)
                    log::warning("blocklist {}: {}", c.zone, w);
                log::info("blocklist {}: loaded {} ({} entries, {} KB)", c.zone, c.file,
                          z.value()->stats().entries, z.value()->stats().memory / 1024);
                st->zone.set(z.value());
            }
        }
        b->state_.push_back(std::move(st));
    }
    return b;
}

std::shared_ptr<const Zone> Blocklists::zone(std::size_t index) const {
    if (index >= state_.size()) return nullptr;
    return state_[index]->zone.get();
}

std::size_t Blocklists::reload_changed() {
    std::lock_guard lock(reload_mu_);
    std::size_t swapped = 0;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    for (std::size_t i = 0; i < lists_.size(); ++i) {
        const auto& c = lists_[i];
        if (c.mode != BlocklistMode::mirror) continue;
        List& st = *state_[i];
        if (auto cur = st.zone.get();
            cur && cur->stats().expires != 0 && cur->stats().expires < now) {
            log::warning(
                "blocklist {}: {} expired ($TIMESTAMP); the list serves nothing until a fresh file",
                c.zone, c.file);
            st.zone.set(nullptr);
        }
        const FileId id = file_id(c.file);
        if (id == st.seen) continue;
        st.seen = id;
        if (!id.exists) {
            log::warning("blocklist {}: {} disappeared; keeping the loaded data", c.zone, c.file);
            continue;
        }
        auto z = Zone::load_file(c.file, c.format);
        if (!z) {
            log::warning("blocklist {}: reload failed, old data keeps serving: {}", c.zone,
                         z.error().message);
            continue;
        }
        for (const auto& w : z.value()->stats().first_warnings)
            log::warning("blocklist {}: {}", c.zone, w);
        log::info("blocklist {}: reloaded {} ({} entries)", c.zone, c.file,
                  z.value()->stats().entries);
        st.zone.set(z.value());
        ++swapped;
    }
    return swapped;
}

namespace {

struct Subjects {
    bool have_client = false;
    std::uint32_t client = 0;
    std::vector<std::uint32_t> received, uri_ips;
    std::vector<std::string> domains;
};

std::vector<std::uint32_t> ip_list(std::span<const std::string> in, std::size_t max) {
    std::vector<std::uint32_t> out;
    for (const auto& s : in) {
        const auto parsed = parse_ipv4_peer(s);
        if (!parsed) continue;
        const std::uint32_t ip = *parsed;
        if (std::find(out.begin(), out.end(), ip) != out.end()) continue;
        out.push_back(ip);
        if (out.size() == max) break;
    }
    return out;
}

// One thing a list was asked about, and what came back.
struct Probe {
    std::size_t list;
    std::string subject;  // as shown: "1.2.3.4" or "example.com"
    std::string entry;    // mirror dnset: the matched entry, for TXT
    std::vector<std::uint32_t> a;
    std::vector<std::uint32_t> answer_ids;  // mirror only
    std::shared_ptr<const Zone> zone;       // mirror only
};

}  // namespace

BlocklistResult Blocklists::check(const BlocklistInput& in) const {
    BlocklistResult out;
    out.tally.resize(lists_.size());
    Subjects s;
    const auto client = parse_ipv4_peer(in.client_ip);
    s.have_client = client.has_value();
    if (client) s.client = *client;
    s.received = ip_list(in.received_ips, kMaxReceivedIps);
    s.uri_ips = ip_list(in.uri_ips, kMaxUriIps);
    for (const auto& d : in.uri_domains) {
        std::string n = normalize_domain(d);
        if (n.empty() || std::find(s.domains.begin(), s.domains.end(), n) != s.domains.end())
            continue;
        s.domains.push_back(std::move(n));
        if (s.domains.size() == kMaxUriDomains) break;
    }

    std::vector<Probe> probes;
    std::vector<DnsQuery> queries;
    std::vector<std::size_t> query_probe;

    for (std::size_t i = 0; i < lists_.size(); ++i) {
        const auto& c = lists_[i];
        const List& st = *state_[i];
        std::shared_ptr<const Zone> zone;
        if (c.mode == BlocklistMode::mirror) {
            zone = st.zone.get();
            if (!zone) continue;
        }
        auto ask_ip = [&](std::uint32_t ip) {
            ++out.tally[i].lookups;
            if (zone) {
                const ZoneMatch m = zone->lookup_ip(ip);
                if (!m.listed()) return;
                Probe p{i, format_ipv4(ip), std::string(m.entry), {}, {}, zone};
                for (auto id : m.answers) {
                    p.a.push_back(zone->answer_a(id));
                    p.answer_ids.push_back(id);
                }
                probes.push_back(std::move(p));
            } else {
                queries.push_back({st.resolver.get(), reversed_ipv4(ip) + "." + c.zone});
                query_probe.push_back(probes.size());
                probes.push_back({i, format_ipv4(ip), {}, {}, {}, nullptr});
            }
        };
        switch (c.target) {
            case BlocklistTarget::client_ip:
                if (s.have_client) ask_ip(s.client);
                break;
            case BlocklistTarget::received_ip:
                for (auto ip : s.received) ask_ip(ip);
                break;
            case BlocklistTarget::uri_ip:
                for (auto ip : s.uri_ips) ask_ip(ip);
                break;
            case BlocklistTarget::uri_domain: {
                std::vector<ZoneMatch> found;
                if (zone) {
                    const std::vector<std::string_view> views(s.domains.begin(), s.domains.end());
                    found.resize(views.size());
                    zone->lookup_names(views, found);
                }
                for (std::size_t k = 0; k < s.domains.size(); ++k) {
                    const auto& d = s.domains[k];
                    if (zone) {
                        ++out.tally[i].lookups;
                        const ZoneMatch& m = found[k];
                        if (!m.listed()) continue;
                        Probe p{i, d, std::string(m.entry), {}, {}, zone};
                        for (auto id : m.answers) {
                            p.a.push_back(zone->answer_a(id));
                            p.answer_ids.push_back(id);
                        }
                        probes.push_back(std::move(p));
                    } else {
                        if (d.size() + 1 + c.zone.size() > 253) continue;
                        ++out.tally[i].lookups;
                        queries.push_back({st.resolver.get(), d + "." + c.zone});
                        query_probe.push_back(probes.size());
                        probes.push_back({i, d, {}, {}, {}, nullptr});
                    }
                }
                break;
            }
        }
    }

    if (!queries.empty()) {
        const auto answers = dns_query_all(queries);
        for (std::size_t q = 0; q < answers.size(); ++q) {
            Probe& p = probes[query_probe[q]];
            const auto& c = lists_[p.list];
            List& st = *state_[p.list];
            switch (answers[q].status) {
                case DnsStatus::listed:
                    p.a = answers[q].a;
                    break;
                case DnsStatus::not_listed:
                    break;
                case DnsStatus::timeout:
                    st.timeout_log.warn(
                        "blocklist {}: no answer for {} from {} within {} ms; counted as not "
                        "listed",
                        c.zone, p.subject, st.resolver->address(), c.timeout_ms);
                    break;
                case DnsStatus::error:
                    st.error_log.warn(
                        "blocklist {}: query for {} at {} failed: {}; counted as not listed",
                        c.zone, p.subject, st.resolver->address(), answers[q].detail);
                    break;
            }
        }
    }

    for (const auto& p : probes) {
        const auto& c = lists_[p.list];
        if (std::any_of(p.a.begin(), p.a.end(), [&](auto a) { return !is_error_answer(c, a); }))
            ++out.tally[p.list].hits;
        for (std::size_t k = 0; k < p.a.size(); ++k) {
            const std::uint32_t a = p.a[k];
            if (is_error_answer(c, a)) {
                state_[p.list]->error_log.warn(
                    "blocklist {}: error answer {} for {} (query refused or "
                    "blocked by the list); not scored",
                    c.zone, format_ipv4(a), p.subject);
                continue;
            }
            map_answer(c, a, [&](const BlocklistRule& r) {
                if (c.reject && c.target == BlocklistTarget::client_ip && !out.reject) {
                    out.reject = true;
                    out.reject_reason = fmt::format("client {} listed in {} ({})", p.subject,
                                                    c.zone, format_ipv4(a));
                }
                for (const auto& h : out.hits) {
                    if (h.name == r.rule) return;
                }
                std::string desc =
                    !r.description.empty()
                        ? r.description
                        : fmt::format("{} listed in {} ({})", p.subject, c.zone, format_ipv4(a));
                if (p.zone && k < p.answer_ids.size()) {
                    const std::string txt =
                        p.zone->answer_txt(p.answer_ids[k], p.entry.empty() ? p.subject : p.entry);
                    if (!txt.empty()) desc += ": " + txt;
                }
                out.hits.push_back({r.rule, r.score, std::move(desc)});
            });
        }
    }
    return out;
}

std::optional<std::string> Blocklists::client_reject(std::string_view client_ip) const {
    bool any = false;
    for (const auto& c : lists_) any = any || c.reject;
    if (!any) return std::nullopt;
    const auto parsed = parse_ipv4_peer(client_ip);
    if (!parsed) return std::nullopt;
    const std::uint32_t ip = *parsed;
    std::vector<DnsQuery> queries;
    std::vector<std::size_t> query_list;
    for (std::size_t i = 0; i < lists_.size(); ++i) {
        const auto& c = lists_[i];
        if (!c.reject) continue;
        std::vector<std::uint32_t> a;
        if (c.mode == BlocklistMode::mirror) {
            auto zone = state_[i]->zone.get();
            if (!zone) continue;
            for (auto id : zone->lookup_ip(ip).answers) a.push_back(zone->answer_a(id));
        } else {
            queries.push_back({state_[i]->resolver.get(), reversed_ipv4(ip) + "." + c.zone});
            query_list.push_back(i);
            continue;
        }
        for (auto v : a) {
            if (is_error_answer(c, v)) continue;
            bool mapped = false;
            map_answer(c, v, [&](const BlocklistRule&) { mapped = true; });
            if (mapped)
                return fmt::format("client {} listed in {} ({})", format_ipv4(ip), c.zone,
                                   format_ipv4(v));
        }
    }
    if (queries.empty()) return std::nullopt;
    const auto answers = dns_query_all(queries);
    for (std::size_t q = 0; q < answers.size(); ++q) {
        const auto& c = lists_[query_list[q]];
        List& st = *state_[query_list[q]];
        if (answers[q].status == DnsStatus::timeout) {
            st.timeout_log.warn(
                "blocklist {}: no answer for {} from {} within {} ms; counted as not listed",
                c.zone, format_ipv4(ip), st.resolver->address(), c.timeout_ms);
        } else if (answers[q].status == DnsStatus::error) {
            st.error_log.warn("blocklist {}: query for {} failed: {}; counted as not listed",
                              c.zone, format_ipv4(ip), answers[q].detail);
        }
        for (auto v : answers[q].a) {
            if (is_error_answer(c, v)) {
                st.error_log.warn("blocklist {}: error answer {} for {}; not scored", c.zone,
                                  format_ipv4(v), format_ipv4(ip));
                continue;
            }
            bool mapped = false;
            map_answer(c, v, [&](const BlocklistRule&) { mapped = true; });
            if (mapped)
                return fmt::format("client {} listed in {} ({})", format_ipv4(ip), c.zone,
                                   format_ipv4(v));
        }
    }
    return std::nullopt;
}

BlocklistAnswer Blocklists::lookup(std::size_t index, std::string_view subject) const {
    BlocklistAnswer out;
    if (index >= lists_.size()) {
        out.status = BlocklistAnswer::Status::bad_subject;
        out.detail = "no such list";
        return out;
    }
    const auto& c = lists_[index];
    const List& st = *state_[index];
    std::uint32_t ip = 0;
    std::string name;
    if (c.ip_target()) {
        const auto parsed = parse_ipv4_peer(subject);
        if (parsed) ip = *parsed;
        if (!parsed) {
            out.status = BlocklistAnswer::Status::bad_subject;
            out.detail = "not an IPv4 address";
            return out;
        }
    } else {
        name = normalize_domain(subject);
        if (name.empty()) {
            out.status = BlocklistAnswer::Status::bad_subject;
            out.detail = "not a domain name";
            return out;
        }
    }
    if (c.mode == BlocklistMode::mirror) {
        auto zone = st.zone.get();
        if (!zone) {
            out.status = BlocklistAnswer::Status::not_loaded;
            out.detail = "mirror file not loaded";
            return out;
        }
        const ZoneMatch m = c.ip_target() ? zone->lookup_ip(ip) : zone->lookup_name(name);
        const std::string subj = !m.entry.empty() ? std::string(m.entry)
                                 : c.ip_target()  ? format_ipv4(ip)
                                                  : name;
        std::vector<std::pair<std::uint32_t, std::string>> pairs;
        for (auto id : m.answers)
            pairs.emplace_back(zone->answer_a(id), zone->answer_txt(id, subj));
        std::sort(pairs.begin(), pairs.end());  // same order as the dns answer below
        for (auto& [a, t] : pairs) {
            out.a.push_back(a);
            out.txt.push_back(std::move(t));
        }
        out.status =
            m.listed() ? BlocklistAnswer::Status::listed : BlocklistAnswer::Status::not_listed;
    } else {
        const std::string q = (c.ip_target() ? reversed_ipv4(ip) : name) + "." + c.zone;
        if (q.size() > 253) {
            out.status = BlocklistAnswer::Status::bad_subject;
            out.detail = "query name longer than 253";
            return out;
        }
        const DnsQuery dq{st.resolver.get(), q};
        auto ans = dns_query_all(std::span<const DnsQuery>(&dq, 1));
        out.detail = ans[0].detail;
        out.a = ans[0].a;
        switch (ans[0].status) {
            case DnsStatus::listed:
                out.status = BlocklistAnswer::Status::listed;
                break;
            case DnsStatus::not_listed:
                out.status = BlocklistAnswer::Status::not_listed;
                break;
            case DnsStatus::timeout:
                out.status = BlocklistAnswer::Status::timeout;
                break;
            case DnsStatus::error:
                out.status = BlocklistAnswer::Status::error;
                break;
        }
    }
    if (out.txt.empty()) std::sort(out.a.begin(), out.a.end());  // dns: same order as mirror
    for (auto v : out.a) {
        if (is_error_answer(c, v)) {
            out.errors.push_back(v);
            continue;
        }
        map_answer(c, v, [&](const BlocklistRule& r) {
            if (std::find(out.rules.begin(), out.rules.end(), r.rule) == out.rules.end())
                out.rules.push_back(r.rule);
        });
    }
    return out;
}

Status Blocklists::test_points(std::size_t index) const {
    if (index >= lists_.size()) return Error::config("no such list");
    const auto& c = lists_[index];
    const char* yes = c.ip_target() ? "127.0.0.2" : "test";
    const char* no = c.ip_target() ? "127.0.0.1" : "invalid";
    const auto listed = lookup(index, yes);
    if (listed.status != BlocklistAnswer::Status::listed) {
        return Error::temporary(fmt::format(
            "{}: test point {} is {} (RFC 5782 wants it listed){}{}", c.zone, yes,
            to_string(listed.status), listed.detail.empty() ? "" : ": ", listed.detail));
    }
    const auto clean = lookup(index, no);
    if (clean.status != BlocklistAnswer::Status::not_listed) {
        return Error::temporary(
            fmt::format("{}: test point {} is {} (RFC 5782 wants it not listed){}{}", c.zone, no,
                        to_string(clean.status), clean.detail.empty() ? "" : ": ", clean.detail));
    }
    return ok_status();
}

}  // namespace pampero::scan
