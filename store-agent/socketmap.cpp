#include "socketmap.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "netstring.hpp"
#include "pampero/common/address.hpp"
#include "pampero/common/log.hpp"

namespace pampero::store {
namespace {

bool printable(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u != 0x7f;
    });
}

std::string temp(const Error& e) {
    log::warning("socketmap: directory: {}", e.message);
    return "TEMP directory temporarily unavailable";
}

}  // namespace

std::optional<SocketmapRequest> parse_socketmap_request(std::string_view request) {
    const auto sp = request.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 >= request.size()) return std::nullopt;
    if (!printable(request)) return std::nullopt;
    return SocketmapRequest{std::string(request.substr(0, sp)),
                            std::string(request.substr(sp + 1))};
}

std::string SocketmapService::answer(std::string_view request) {
    const auto req = parse_socketmap_request(request);
    if (!req) return "PERM malformed request: expected 'NAME KEY'";
    static constexpr const char* kNotFound = "NOTFOUND ";

    if (req->map == "domain") {
        const auto d = normalize_domain(req->key);
        if (!d) return kNotFound;
        auto local = dir_.is_local_domain(*d);
        if (!local) return temp(local.error());
        return *local ? "OK " + *d : kNotFound;
    }
    if (req->map != "mailbox" && req->map != "alias" && req->map != "transport") {
        return fmt::format("PERM unknown map '{}'", req->map.substr(0, 64));
    }
    const auto a = parse_address(req->key);
    if (!a) return kNotFound;
    const std::string addr = a->full();

    if (req->map == "alias") {
        auto targets = dir_.find_alias(addr);
        if (!targets) return temp(targets.error());
        if (targets->empty()) return kNotFound;
        std::string out = "OK ";
        for (std::size_t i = 0; i < targets->size(); ++i) {
            if (out.size() + (*targets)[i].size() + 1 >= kMaxSocketmapNetstring) {
                log::warning("socketmap: alias <{}> has too many targets; list cut", addr);
                break;
            }
            if (i) out += ',';
            out += (*targets)[i];
        }
        return out;
    }
    auto user = dir_.find_user(addr);
    if (!user) return temp(user.error());
    if (!user->has_value()) return kNotFound;
    if (req->map == "mailbox") return "OK " + (*user)->maildir;

    const auto s = snap_.get();
    const Endpoint* ep = s->node((*user)->node);
    if (!ep) {
        log::error("socketmap: <{}> is on node '{}', which is not in store.nodes", addr,
                   (*user)->node);
        return fmt::format("TEMP storage node {} is not configured", (*user)->node.substr(0, 64));
    }
    return "OK lmtp:" + ep->postfix_nexthop();
}

}  // namespace pampero::store
