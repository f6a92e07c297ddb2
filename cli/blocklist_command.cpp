// pamperoctl blocklist lookup|check - ask the configured DNSBL/URIBL lists directly, in the
// mode each is configured with (mirror file or dns at its resolver).
//
//   pamperoctl blocklist lookup [--zone ZONE] [--json] SUBJECT...
//     One line per list and subject: IPv4 subjects go to the IP lists (client_ip,
//     received_ip, uri_ip), names to the uri_domain lists (a dotted-number name such as
//     a reversed IP goes to a uri_domain list when --zone names it).
//       ZONE MODE SUBJECT STATUS A,A... [rules=R,R] [errors=A,A]
//     STATUS is listed, not-listed, timeout, error or not-loaded; "-" for no A value.
//     --json:
//     {"zone","mode","target","subject","status","a":[],"txt":[],"rules":[],"errors":[],"detail"}
//     Exit 0 when every lookup got an answer (listed or not), 75 when one timed out or
//     failed, 1 when no list takes the subject.
//   pamperoctl blocklist check [--zone ZONE]
//     RFC 5782 test points per list (127.0.0.2 / test listed, 127.0.0.1 / invalid not):
//       ZONE MODE ok | ZONE MODE FAILED: why
//     Exit 0 when all pass, 75 otherwise.
#include <fmt/format.h>

#include <cstdio>
#include <string>

#include "commands.hpp"
#include "pampero/common/strings.hpp"
#include "pampero/lists/blocklists.hpp"

namespace pampero::cli {

namespace {

std::string json_str(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += fmt::format("\\u{:04x}", u);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string join_ips(const std::vector<std::uint32_t>& v, bool json) {
    std::string out;
    for (auto a : v) {
        if (!out.empty()) out += ',';
        out += json ? json_str(format_ipv4(a)) : format_ipv4(a);
    }
    return out;
}

std::string join(const std::vector<std::string>& v, bool json) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ',';
        out += json ? json_str(s) : s;
    }
    return out;
}

std::shared_ptr<scan::Blocklists> open_lists(Context& ctx, int& rc) {
    auto b = scan::Blocklists::create(ctx.config().blocklists);
    if (!b) {
        rc = fail(b.error());
        return nullptr;
    }
    return b.value();
}

}  // namespace

int blocklist_lookup(Context& ctx, const BlocklistLookupOptions& o) {
    int rc = 0;
    auto lists = open_lists(ctx, rc);
    if (!lists) return rc;
    bool any = false, trouble = false;
    for (const auto& subject : o.subjects) {
        const bool is_ip = parse_ipv4_peer(subject).has_value();
        for (std::size_t i = 0; i < lists->lists().size(); ++i) {
            const auto& c = lists->lists()[i];
            if (!o.zone.empty() && c.zone != o.zone) continue;
            if (c.ip_target() && !is_ip) continue;  // names never go to IP lists
            if (!c.ip_target() && is_ip && o.zone.empty())
                continue;  // IPs go to a dnset only by --zone
            any = true;
            const auto a = lists->lookup(i, subject);
            if (a.status == scan::BlocklistAnswer::Status::bad_subject) continue;
            if (a.status == scan::BlocklistAnswer::Status::timeout ||
                a.status == scan::BlocklistAnswer::Status::error ||
                a.status == scan::BlocklistAnswer::Status::not_loaded) {
                trouble = true;
            }
            if (o.json) {
                std::printf(
                    "{\"zone\":%s,\"mode\":\"%s\",\"target\":\"%s\",\"subject\":%s,\"status\":\"%"
                    "s\","
                    "\"a\":[%s],\"txt\":[%s],\"rules\":[%s],\"errors\":[%s],\"detail\":%s}\n",
                    json_str(c.zone).c_str(), to_string(c.mode), to_string(c.target),
                    json_str(subject).c_str(), to_string(a.status), join_ips(a.a, true).c_str(),
                    join(a.txt, true).c_str(), join(a.rules, true).c_str(),
                    join_ips(a.errors, true).c_str(), json_str(a.detail).c_str());
            } else {
                std::string line =
                    fmt::format("{} {} {} {} {}", c.zone, to_string(c.mode), subject,
                                to_string(a.status), a.a.empty() ? "-" : join_ips(a.a, false));
                if (!a.rules.empty()) line += " rules=" + join(a.rules, false);
                if (!a.errors.empty()) line += " errors=" + join_ips(a.errors, false);
                if (!a.detail.empty()) line += " (" + a.detail + ")";
                std::printf("%s\n", line.c_str());
            }
        }
    }
    std::fflush(stdout);
    if (!any)
        return fail(o.zone.empty() ? "no configured blocklist takes these subjects"
                                   : "no configured blocklist " + o.zone + " takes these subjects");
    return trouble ? EX_TEMPFAIL : 0;
}

int blocklist_check(Context& ctx, const std::string& zone) {
    int rc = 0;
    auto lists = open_lists(ctx, rc);
    if (!lists) return rc;
    bool any = false, failed = false;
    for (std::size_t i = 0; i < lists->lists().size(); ++i) {
        const auto& c = lists->lists()[i];
        if (!zone.empty() && c.zone != zone) continue;
        any = true;
        const auto st = lists->test_points(i);
        if (st.ok()) {
            std::printf("%s %s ok\n", c.zone.c_str(), to_string(c.mode));
        } else {
            failed = true;
            std::printf("%s %s FAILED: %s\n", c.zone.c_str(), to_string(c.mode),
                        st.error().message.c_str());
        }
    }
    std::fflush(stdout);
    if (!any)
        return fail(zone.empty() ? "no blocklists configured" : "no configured blocklist " + zone);
    return failed ? EX_TEMPFAIL : 0;
}

}  // namespace pampero::cli
