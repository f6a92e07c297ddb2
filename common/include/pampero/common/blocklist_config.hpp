// blocklist_config.hpp - the `blocklists:` section of pampero.yaml.
//
// Each item configures one DNSBL/URIBL:
//   - zone: zen.spamhaus.org          # DNS zone the list is published under (required)
//     target: client_ip               # client_ip | received_ip | uri_domain | uri_ip (required)
//     mode: mirror                    # mirror (default) | dns
//     file: mirrors/zen.ip4set        # mirror: rbldnsd zone file (relative to pampero.yaml)
//     format: ip4set                  # ip4set | ip4tset | dnset; default from the file's
//                                     # extension, else ip4set for IP targets, dnset for domains
//     sync: rsync://HOST[:PORT]/MODULE/FILE   # mirror: source for `pamperoctl mirror sync`
//     resolver: 127.0.0.1:53          # dns: IPv4 "ADDR:PORT" or IPv6 "[ADDR]:PORT"; port defaults
//     to 53 timeout_ms: 300                 # dns: per-list deadline, 1..10000 (default 500)
//     returns:                        # exact answer -> rule (Spamhaus style)
//       127.0.0.2: { rule: RCVD_IN_SBL, score: 4.0, description: "..." }
//     bitmask:                        # answer's last octet & BIT -> rule (SURBL multi style)
//       8: { rule: URIBL_PH_SURBL, score: 5.0 }
//     rule: RCVD_IN_SPAMCOP           # optional: rule for a listed answer no mapping names
//     score: 2.0                      #   (with `rule`)
//     action: reject                  # optional, client_ip only: refuse at RCPT when listed
//
// Validation is strict, like the rest of the file: unknown keys, a missing zone/target,
// `file` without mirror mode, `resolver` without dns mode, `returns` and `bitmask` together,
// answers outside 127.0.0.0/8, bit 1 in a bitmask (it means "query refused" in SURBL's
// scheme), a list with no rule at all, rule names outside [A-Z0-9_]{1,64}, or the same
// zone+target+mode twice, all refuse to load with "FILE:LINE: message".
// Bounds: at most 64 lists; zone names are DNS names of at most 200 characters (room for
// the queried prefix in a 253-character name), labels of 1..63 characters.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pampero {

enum class BlocklistTarget { client_ip, received_ip, uri_domain, uri_ip };
enum class BlocklistMode { mirror, dns };
enum class ZoneFormat { ip4set, ip4tset, dnset };

const char* to_string(BlocklistTarget t);
const char* to_string(BlocklistMode m);
const char* to_string(ZoneFormat f);

// The rule a listing scores as.
struct BlocklistRule {
    std::string rule;  // [A-Z0-9_]+
    double score = 0;
    std::string description;  // optional; a default naming the zone is used when empty
};

struct BlocklistConfig {
    std::string zone;  // lowercase, no trailing dot
    BlocklistTarget target = BlocklistTarget::client_ip;
    BlocklistMode mode = BlocklistMode::mirror;
    ZoneFormat format = ZoneFormat::ip4set;
    std::string file;           // mirror mode: absolute path
    std::string sync;           // mirror mode, optional: rsync://HOST[:PORT]/MODULE/FILE
    std::string resolver_host;  // dns mode: numeric IPv4 or IPv6 address
    std::uint16_t resolver_port = 53;
    int timeout_ms = 500;
    // Answer address (host byte order, in 127.0.0.0/8) -> rule; in file order.
    std::vector<std::pair<std::uint32_t, BlocklistRule>> returns;
    // Bit of the answer's last octet (2..128) -> rule; in file order.
    std::vector<std::pair<std::uint32_t, BlocklistRule>> bitmask;
    std::optional<BlocklistRule> fallback;  // `rule:` + `score:`
    bool reject = false;                    // action: reject
    std::string where;                      // "FILE:LINE" of the item, for messages

    bool ip_target() const { return target != BlocklistTarget::uri_domain; }
};

// Reads the `blocklists:` sequence. Throws yaml::Error ("FILE:LINE: message").
// Relative `file` paths are resolved against `config_file`'s folder.
std::vector<BlocklistConfig> read_blocklists(const std::string& config_file,
                                             const YAML::Node& node);

}  // namespace pampero
