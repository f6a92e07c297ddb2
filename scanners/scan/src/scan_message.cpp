#include "pampero/scan/scan_message.hpp"

#include <algorithm>

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

namespace {

// The blocklist hits of a parsed message (see scan_message.hpp), into ctx.
void check_lists(const Blocklists* lists, const Message& msg, std::string_view client_ip,
                 std::vector<BlocklistTally>* tally, ScanContext& ctx) {
    if (!lists || lists->lists().empty()) return;
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

}  // namespace

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
    check_lists(lists, msg, client_ip, tally, ctx);
    return engine.scan(msg, ctx);
}

RecipientVerdicts scan_message_for(const Engine& engine, const Blocklists* lists,
                                   std::string_view raw, std::string_view client_ip,
                                   const classifier::ModelSet& models,
                                   std::span<const std::string> recipients,
                                   const ParsedMime* parsed, bool cut,
                                   std::vector<BlocklistTally>* tally) {
    const Message msg = engine.parse(raw, parsed, cut);
    ScanContext ctx;
    check_lists(lists, msg, client_ip, tally, ctx);
    RecipientVerdicts out;
    const auto votes = models.votes(msg, recipients);
    std::vector<std::string> lines;
    out.of.reserve(votes.size());
    for (const auto& v : votes) {
        std::string line = v.line();
        const auto it = std::find(lines.begin(), lines.end(), line);
        out.of.push_back(static_cast<std::size_t>(it - lines.begin()));
        if (it == lines.end()) lines.push_back(std::move(line));
        out.models.push_back(v.model);
    }
    if (lines.empty()) lines.emplace_back();  // no recipient: the message's own verdict
    out.verdicts = engine.scan_variants(msg, ctx, lines);
    return out;
}

}  // namespace pampero::scan
