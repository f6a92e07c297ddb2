#include "pampero/scan/scan_message.hpp"

#include "pampero/common/strings.hpp"

namespace pampero::scan {

bool is_public_ipv4(std::string_view ip) {
    const auto parsed = parse_ipv4(ip);
    if (!parsed) return false;
    const std::uint32_t v = *parsed;
    auto in = [v](std::uint32_t net, int bits) {
        const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
        return (v & mask) == net;
    };
    return !(in(0x00000000, 8) || in(0x0A000000, 8) || in(0x64400000, 10) || in(0x7F000000, 8) ||
             in(0xA9FE0000, 16) || in(0xAC100000, 12) || in(0xC0000000, 24) || in(0xC0000200, 24) ||
             in(0xC0A80000, 16) || in(0xC6120000, 15) || in(0xC6336400, 24) || in(0xCB007100, 24) ||
             in(0xE0000000, 3));
}

Verdict scan_message(const Engine& engine, const Blocklists* lists, std::string_view raw,
                     std::string_view client_ip, const ParsedMime* parsed, bool cut,
                     std::vector<BlocklistTally>* tally,
                     const classifier::ScanClassifier* classifier) {
    Message msg = engine.parse(raw, parsed, cut);
    ScanContext ctx;
    if (classifier) {
        // Its line is there only when it voted: then the rules' scores are the set fitted
        // with it voting (rules.hpp, score sets), else the set fitted without it.
        const std::string line = classifier->summary_line(msg);
        if (!line.empty()) ctx.score_set = ScoreSet::classifier;
        msg.mime_summary += line;
    }
    if (lists && !lists->lists().empty()) {
        std::vector<std::string> received;
        for (const auto& ip : msg.received_ips()) {
            if (ip != client_ip && is_public_ipv4(ip)) {
                received.push_back(ip);
                break;
            }
        }
        const auto domains = msg.uri_surbl_domains();
        const auto ips = msg.uri_ips();
        const BlocklistInput in{client_ip, received, domains, ips};
        BlocklistResult r = lists->check(in);
        ctx.extra_hits = std::move(r.hits);
        if (tally) *tally = std::move(r.tally);
    }
    return engine.scan(msg, ctx);
}

}  // namespace pampero::scan
