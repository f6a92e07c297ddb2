#include "pampero/common/blocklist_config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "pampero/common/config.hpp"
#include "pampero/common/strings.hpp"
#include "pampero/common/yaml_reader.hpp"

namespace pampero {

const char* to_string(BlocklistTarget t) {
    switch (t) {
        case BlocklistTarget::client_ip:
            return "client_ip";
        case BlocklistTarget::received_ip:
            return "received_ip";
        case BlocklistTarget::uri_domain:
            return "uri_domain";
        case BlocklistTarget::uri_ip:
            return "uri_ip";
    }
    return "?";
}

const char* to_string(BlocklistMode m) {
    return m == BlocklistMode::dns ? "dns" : "mirror";
}

const char* to_string(ZoneFormat f) {
    switch (f) {
        case ZoneFormat::ip4set:
            return "ip4set";
        case ZoneFormat::ip4tset:
            return "ip4tset";
        case ZoneFormat::dnset:
            return "dnset";
    }
    return "?";
}

namespace {

constexpr std::size_t kMaxLists = 64;
constexpr std::size_t kMaxZoneLength = 200;

bool valid_rule_name(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// A DNS name: labels of 1..63 of [a-z0-9_-], lowercased, trailing dot dropped.
std::optional<std::string> normalize_zone(std::string z) {
    if (!z.empty() && z.back() == '.') z.pop_back();
    if (z.empty() || z.size() > kMaxZoneLength) return std::nullopt;
    std::size_t label = 0;
    for (char& c : z) {
        c = ascii_lower(c);
        if (c == '.') {
            if (label == 0) return std::nullopt;
            label = 0;
            continue;
        }
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
            return std::nullopt;
        if (++label > 63) return std::nullopt;
    }
    if (label == 0) return std::nullopt;
    return z;
}

BlocklistRule read_rule(const std::string& file, const YAML::Node& node,
                        const std::string& context) {
    yaml::MapReader r(file, node, context);
    BlocklistRule out;
    out.rule = r.require_string("rule");
    if (!valid_rule_name(out.rule)) r.fail_at("rule", "must match [A-Z0-9_]{1,64}");
    auto score = r.get_double("score");
    if (!score) yaml::fail(file, node, context + ": missing required key 'score'");
    out.score = *score;
    if (auto d = r.get_string("description")) out.description = *d;
    r.finish();
    return out;
}

void read_returns(const std::string& file, const YAML::Node& node, BlocklistConfig& c) {
    if (!node.IsMap() || node.size() == 0)
        yaml::fail(file, node, "returns must be a non-empty mapping");
    for (const auto& kv : node) {
        const std::string key = kv.first.Scalar();
        auto a = parse_ipv4(key);
        if (!a || (*a >> 24) != 127) {
            yaml::fail(file, kv.first,
                       fmt::format("returns: '{}' is not an address in 127.0.0.0/8", key));
        }
        if ((*a >> 8) == 0x7fffff) {
            yaml::fail(file, kv.first,
                       fmt::format(
                           "returns: {} is an error answer (127.255.255.x), never a listing", key));
        }
        for (const auto& [seen, rule] : c.returns) {
            if (seen == *a) yaml::fail(file, kv.first, fmt::format("returns: {} given twice", key));
        }
        c.returns.emplace_back(*a, read_rule(file, kv.second, "returns " + key));
    }
}

void read_bitmask(const std::string& file, const YAML::Node& node, BlocklistConfig& c) {
    if (!node.IsMap() || node.size() == 0)
        yaml::fail(file, node, "bitmask must be a non-empty mapping");
    for (const auto& kv : node) {
        const std::string key = kv.first.Scalar();
        std::uint32_t bit = 0;
        bool ok =
            !key.empty() && key.size() <= 3 &&
            std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (ok) bit = static_cast<std::uint32_t>(std::stoul(key));
        if (!ok || bit < 2 || bit > 128 || (bit & (bit - 1)) != 0) {
            yaml::fail(file, kv.first,
                       fmt::format("bitmask: '{}' must be one bit of the last octet, 2..128 "
                                   "(bit 1 means the query was refused)",
                                   key));
        }
        for (const auto& [seen, rule] : c.bitmask) {
            if (seen == bit)
                yaml::fail(file, kv.first, fmt::format("bitmask: {} given twice", key));
        }
        c.bitmask.emplace_back(bit, read_rule(file, kv.second, "bitmask " + key));
    }
}

// "127.0.0.1:53", "127.0.0.1", "[::1]:5353", "::1".
void read_resolver(yaml::MapReader& r, const std::string& spec, BlocklistConfig& c) {
    std::string host = spec;
    std::string port;
    if (!spec.empty() && spec.front() == '[') {
        const auto close = spec.find(']');
        if (close == std::string::npos) r.fail_at("resolver", "unbalanced '['");
        host = spec.substr(1, close - 1);
        if (close + 1 < spec.size()) {
            if (spec[close + 1] != ':') r.fail_at("resolver", "expected ':PORT' after ']'");
            port = spec.substr(close + 2);
        }
    } else if (std::count(spec.begin(), spec.end(), ':') == 1) {
        host = spec.substr(0, spec.find(':'));
        port = spec.substr(spec.find(':') + 1);
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1) {
        r.fail_at("resolver", "must be a numeric address, ADDR:PORT or [ADDR]:PORT");
    }
    c.resolver_host = host;
    if (!port.empty()) {
        const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char ch) {
                                return ch >= '0' && ch <= '9';
                            });
        const unsigned long p = digits ? std::stoul(port) : 0;
        if (p < 1 || p > 65535) r.fail_at("resolver", "port must be 1..65535");
        c.resolver_port = static_cast<std::uint16_t>(p);
    }
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

BlocklistConfig read_one(const std::string& file, const YAML::Node& node, std::size_t index) {
    yaml::MapReader r(file, node, fmt::format("blocklists[{}]", index));
    BlocklistConfig c;
    c.where = yaml::where(file, node);
    const std::string zone = r.require_string("zone");
    auto z = normalize_zone(zone);
    if (!z)
        r.fail_at("zone", fmt::format("'{}' is not a DNS name of at most {} characters", zone,
                                      kMaxZoneLength));
    c.zone = *z;

    const std::string target = r.require_string("target");
    if (target == "client_ip")
        c.target = BlocklistTarget::client_ip;
    else if (target == "received_ip")
        c.target = BlocklistTarget::received_ip;
    else if (target == "uri_domain")
        c.target = BlocklistTarget::uri_domain;
    else if (target == "uri_ip")
        c.target = BlocklistTarget::uri_ip;
    else
        r.fail_at("target", "must be client_ip, received_ip, uri_domain or uri_ip");

    if (auto m = r.get_string("mode")) {
        if (*m == "mirror")
            c.mode = BlocklistMode::mirror;
        else if (*m == "dns")
            c.mode = BlocklistMode::dns;
        else
            r.fail_at("mode", "must be mirror or dns");
    }

    auto file_v = r.get_string("file");
    auto format_v = r.get_string("format");
    auto sync_v = r.get_string("sync");
    auto resolver_v = r.get_string("resolver");
    const bool has_timeout = r.has("timeout_ms");
    auto timeout_v = r.get_int("timeout_ms", 1, 10000);

    if (c.mode == BlocklistMode::mirror) {
        if (!file_v || file_v->empty())
            yaml::fail(file, node, fmt::format("blocklist {}: mirror mode needs 'file'", c.zone));
        if (resolver_v) r.fail_at("resolver", "only for mode: dns");
        if (has_timeout) r.fail_at("timeout_ms", "only for mode: dns");
        c.file = resolve_path(file, *file_v);
        if (format_v) {
            if (*format_v == "ip4set")
                c.format = ZoneFormat::ip4set;
            else if (*format_v == "ip4tset")
                c.format = ZoneFormat::ip4tset;
            else if (*format_v == "dnset")
                c.format = ZoneFormat::dnset;
            else
                r.fail_at("format", "must be ip4set, ip4tset or dnset");
        } else if (ends_with(c.file, ".ip4tset")) {
            c.format = ZoneFormat::ip4tset;
        } else if (ends_with(c.file, ".ip4set")) {
            c.format = ZoneFormat::ip4set;
        } else if (ends_with(c.file, ".dnset")) {
            c.format = ZoneFormat::dnset;
        } else {
            c.format =
                c.target == BlocklistTarget::uri_domain ? ZoneFormat::dnset : ZoneFormat::ip4set;
        }
        // A domain list needs names; IP targets can use an IP set or a dnset of reversed
        // addresses (SURBL publishes URI IPs that way).
        if (c.target == BlocklistTarget::uri_domain && c.format != ZoneFormat::dnset) {
            yaml::fail(file, node,
                       fmt::format("blocklist {}: target uri_domain needs a dnset file, not {}",
                                   c.zone, to_string(c.format)));
        }
        if (sync_v) {
            const std::string& s = *sync_v;
            const std::string scheme = "rsync://";
            const auto rest = s.size() > scheme.size() ? s.substr(scheme.size()) : std::string();
            const auto slash1 = rest.find('/');
            const auto slash2 = slash1 == std::string::npos ? slash1 : rest.find('/', slash1 + 1);
            if (s.compare(0, scheme.size(), scheme) != 0 || slash1 == 0 ||
                slash1 == std::string::npos || slash2 == std::string::npos ||
                slash2 == slash1 + 1 || slash2 + 1 >= rest.size() || rest.back() == '/' ||
                s.find_first_of(" \t\n'\"\\") != std::string::npos) {
                r.fail_at("sync", "must be rsync://HOST[:PORT]/MODULE/FILE");
            }
            c.sync = s;
        }
    } else {
        if (file_v) r.fail_at("file", "only for mode: mirror");
        if (format_v) r.fail_at("format", "only for mode: mirror");
        if (sync_v) r.fail_at("sync", "only for mode: mirror");
        if (!resolver_v)
            yaml::fail(file, node, fmt::format("blocklist {}: dns mode needs 'resolver'", c.zone));
        read_resolver(r, *resolver_v, c);
        if (timeout_v) c.timeout_ms = static_cast<int>(*timeout_v);
    }

    const bool has_returns = r.has("returns");
    const bool has_bitmask = r.has("bitmask");
    if (has_returns && has_bitmask) r.fail_at("bitmask", "use either returns or bitmask, not both");
    if (has_returns) read_returns(file, r.node("returns"), c);
    if (has_bitmask) read_bitmask(file, r.node("bitmask"), c);

    auto rule_v = r.get_string("rule");
    auto score_v = r.get_double("score");
    if (rule_v) {
        if (!valid_rule_name(*rule_v)) r.fail_at("rule", "must match [A-Z0-9_]{1,64}");
        if (!score_v)
            yaml::fail(file, node, fmt::format("blocklist {}: 'rule' needs 'score'", c.zone));
        c.fallback = BlocklistRule{*rule_v, *score_v, r.get_string("description").value_or("")};
    } else if (score_v) {
        r.fail_at("score", "needs 'rule'");
    }
    if (c.returns.empty() && c.bitmask.empty() && !c.fallback) {
        yaml::fail(file, node,
                   fmt::format("blocklist {}: give returns, bitmask or rule+score", c.zone));
    }

    if (auto a = r.get_string("action")) {
        if (*a != "reject") r.fail_at("action", "must be reject");
        if (c.target != BlocklistTarget::client_ip) {
            r.fail_at("action", "reject is decided at RCPT, so it needs target client_ip");
        }
        c.reject = true;
    }
    r.finish();
    return c;
}

}  // namespace

std::vector<BlocklistConfig> read_blocklists(const std::string& config_file,
                                             const YAML::Node& node) {
    if (node.IsNull()) return {};
    if (!node.IsSequence()) yaml::fail(config_file, node, "blocklists must be a list");
    if (node.size() > kMaxLists) {
        yaml::fail(config_file, node, fmt::format("blocklists: at most {} lists", kMaxLists));
    }
    std::vector<BlocklistConfig> out;
    std::set<std::string> seen;
    std::size_t i = 0;
    for (const auto& item : node) {
        BlocklistConfig c = read_one(config_file, item, i++);
        const std::string key = c.zone + "/" + to_string(c.target) + "/" + to_string(c.mode);
        if (!seen.insert(key).second) {
            yaml::fail(config_file, item,
                       fmt::format("blocklist {} with target {} and mode {} given twice", c.zone,
                                   to_string(c.target), to_string(c.mode)));
        }
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace pampero
