// scan_command.cpp - `pamperoctl scan`: the milter's verdict for a message and envelope,
// explained. Same engine, same recipient resolution, same decide() as the milter.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "commands.hpp"
#include "pampero/antivirus/antivirus.hpp"
#include "pampero/classifier/model_set.hpp"
#include "pampero/classifier/scan_classifier.hpp"
#include "pampero/common/address.hpp"
#include "pampero/common/recipient_facts.hpp"
#include "pampero/mime/parsed_mime.hpp"
#include "pampero/rules/engine.hpp"
#include "pampero/scan/scan_message.hpp"
#include "pampero/verdict/decision.hpp"

namespace pampero::cli {
namespace {

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20)
                    out += fmt::format("\\u{:04x}", c);
                else
                    out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

struct RecipientResult {
    std::string address;
    std::string action;
    std::string why;
    int level = 0;
    std::string model;        // per-recipient models: which voted ("" otherwise)
    std::size_t verdict = 0;  // its verdict in RecipientVerdicts::verdicts
};

}  // namespace

int scan_files(Context& c, const ScanOptions& o) {
    auto engine = scan::load_engine(c.config());
    if (!engine) return fail(engine.error());
    const auto& levels = (*engine)->levels();
    auto lists = scan::Blocklists::create(c.config().blocklists);
    if (!lists) return fail(lists.error());
    std::shared_ptr<const scan::Antivirus> antivirus;
    if (c.config().antivirus.enabled) {
        auto av = scan::Antivirus::load(c.config().antivirus.signatures,
                                        c.config().antivirus.max_size, c.config().antivirus.tmpdir);
        if (!av) return fail(av.error());
        antivirus = *av;
    }

    // The classifier, as the milter would run it: a missing store abstains (a warning), a
    // corrupt one is an error naming the file.
    std::shared_ptr<classifier::ScanClassifier> bayes;
    if (const auto& cc = c.config().classifier; cc.enabled) {
        auto b = classifier::ScanClassifier::open(cc.store, classifier::options_of(cc));
        if (!b) return fail(b.error());
        bayes = *b;
    }
    // --for: that address's model votes, as the milter would for that recipient.
    const auto models = classifier::make_model_set(c.config().classifier, bayes);

    std::string sender;
    if (!o.sender.empty() && o.sender != "<>") {
        auto a = parse_address(o.sender);
        if (!a) return fail(fmt::format("'{}' is not a valid mail address", o.sender));
        sender = a->full();
    }
    // A --rcpt as the milter sees it: its normalized address and where the directory puts it.
    const auto resolve =
        [&](const std::string& r) -> Result<std::pair<std::string, ResolvedRecipient>> {
        auto a = parse_address(r);
        if (!a) return Error::permanent(fmt::format("'{}' is not a valid mail address", r));
        auto where = resolve_recipient(c.directory(), a->full(), a->domain);
        if (!where) return where.error();
        return std::pair{a->full(), std::move(where).value()};
    };
    int rc = 0;
    for (const auto& file : o.files) {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            rc = fail(fmt::format("{}: cannot open", file));
            continue;
        }
        std::ostringstream read;
        read << in.rdbuf();
        const std::string raw = std::move(read).str();
        // One GMime parse for the virus scanner and the engine, as in the milter (both
        // parse the whole message; the engine reads each text part up to its share of the
        // scan limit and says when it read only part: Verdict::partial).
        const scan::ParsedMime parsed(raw);
        // The milter's order: a virus refuses the message for everyone, whoever sent it.
        std::optional<std::string> virus;
        if (antivirus) {
            const auto av = antivirus->scan(raw, &parsed);
            if (av.outcome == scan::VirusScan::Outcome::virus) virus = av.detail;
            if (av.outcome == scan::VirusScan::Outcome::error) {
                rc = fail(Error::temporary(file + ": virus scan failed: " + av.detail));
                continue;
            }
        }
        std::string model;  // which model voted, with --for
        // Per-recipient models (classifier.model domain or user): with --for, that address's
        // model; else each --rcpt's own, as the milter does (the model of the mailbox the
        // address resolves to), and the message's verdict shown is the lowest of those of
        // the recipients not refused, as in the milter's X-Spam-* headers.
        scan::RecipientVerdicts rv;
        const bool per_rcpt = models && o.for_address.empty() && !o.recipients.empty();
        if (models && !o.for_address.empty()) {
            const std::string who[] = {o.for_address};
            rv = scan::scan_message_for(**engine, lists->get(), raw, o.client_ip, *models, who,
                                        &parsed);
            model = rv.models.front();
            rv.verdicts = {std::move(rv.verdicts[rv.of.front()])};
        } else if (per_rcpt) {
            std::vector<std::string> keys;
            for (const auto& r : o.recipients) {
                auto where = resolve(r);
                if (!where) return fail(where.error());
                keys.push_back(where->second.exists ? where->second.owner.value_or(where->first)
                                                    : where->first);
            }
            rv = scan::scan_message_for(**engine, lists->get(), raw, o.client_ip, *models, keys,
                                        &parsed);
        } else {
            rv.verdicts.push_back(scan::scan_message(**engine, lists->get(), raw, o.client_ip,
                                                     &parsed, false, nullptr, bayes.get()));
            if (!o.for_address.empty())
                model = rv.verdicts[0].score_set == scan::ScoreSet::classifier ? "site" : "none";
        }
        const scan::Verdict* vp = &rv.verdicts[0];

        std::vector<RecipientResult> results;
        if (virus) {
            for (const auto& r : o.recipients)
                results.push_back({r, "reject", "virus " + *virus, 0, "", 0});
            if (o.recipients.empty())
                results.push_back({"", "reject", "virus " + *virus, 0, "", 0});
        } else if (o.recipients.empty()) {
            const auto& l = levels.fallback();
            results.push_back({"",
                               scan::to_string(scan::decide(vp->score, Listing::none, false, l)),
                               "default level", l.number, "", 0});
        }
        for (std::size_t i = 0; i < (virus ? 0 : o.recipients.size()); ++i) {
            const auto& r = o.recipients[i];
            const std::size_t which = per_rcpt ? rv.of[i] : 0;
            const scan::Verdict& v = rv.verdicts[which];
            auto resolved = resolve(r);
            if (!resolved) return fail(resolved.error());
            const auto& [address, where] = *resolved;
            if (!where.exists) {
                results.push_back({address, "reject", "unknown user", 0, "", 0});
                continue;
            }
            auto facts = lookup_recipient_facts(c.directory(), where.owner, sender);
            if (!facts) return fail(facts.error());
            const auto& l = levels.for_user(where.level);
            const auto action = scan::decide(v.score, facts->listing, facts->contact, l);
            std::string why = facts->listing == Listing::white   ? "white-listed sender"
                              : facts->listing == Listing::black ? "black-listed sender"
                              : facts->contact
                                  ? "sender is a contact"
                                  : fmt::format("level {} ({}): tag {:.1f}, cutoff {:.1f}",
                                                l.number, l.name, l.tag, l.cutoff);
            if (per_rcpt) why += fmt::format("; model {}, score {:.1f}", rv.models[i], v.score);
            results.push_back({address, scan::to_string(action), why, l.number,
                               per_rcpt ? rv.models[i] : "", which});
        }
        if (per_rcpt) {
            for (const auto& r : results) {
                if (r.action != "reject" && rv.verdicts[r.verdict].score < vp->score)
                    vp = &rv.verdicts[r.verdict];
            }
        }
        const scan::Verdict& v = *vp;

        if (o.json) {
            std::string rules;
            for (const auto& h : v.hits) {
                rules += fmt::format("{}{{\"name\":{},\"score\":{}}}", rules.empty() ? "" : ",",
                                     json_string(h.name), h.score);
            }
            std::string rcpts;
            for (const auto& r : results) {
                rcpts += fmt::format("{}{{\"address\":{},\"level\":{},\"action\":{},\"why\":{}{}}}",
                                     rcpts.empty() ? "" : ",", json_string(r.address), r.level,
                                     json_string(r.action), json_string(r.why),
                                     r.model.empty() ? ""
                                                     : fmt::format(",\"model\":{},\"score\":{:.1f}",
                                                                   json_string(r.model),
                                                                   rv.verdicts[r.verdict].score));
            }
            std::string uris;
            for (const auto& u : v.uris) uris += (uris.empty() ? "" : ",") + json_string(u);
            fmt::print(
                "{{\"file\":{},\"score\":{:.1f},\"score_set\":\"{}\",{}\"virus\":{},"
                "\"partial\":{},\"rules\":[{}],\"uris\":[{}],\"recipients\":[{}]}}\n",
                json_string(file), v.score, scan::to_string(v.score_set),
                model.empty() ? "" : "\"model\":" + json_string(model) + ",",
                virus ? json_string(*virus) : "null",
                v.partial.empty() ? "null" : json_string(v.partial), rules, uris, rcpts);
            continue;
        }
        fmt::print("{}: score {:.1f}{}\n", file, v.score, virus ? ", virus " + *virus : "");
        if (!v.partial.empty())
            fmt::print("  scanned in part only (bounds reached: {})\n", v.partial);
        // Which rule scores were added up (rules.hpp, score sets): the classifier's vote
        // changes them.
        fmt::print("  score set: {}\n", scan::to_string(v.score_set));
        if (!model.empty()) fmt::print("  model: {} (for {})\n", model, o.for_address);
        for (const auto& h : v.hits) {
            fmt::print("  {:>7.1f}  {:<24} {}\n", h.score, h.name, h.description);
        }
        for (const auto& u : v.uris) fmt::print("  uri      {}\n", u);
        for (const auto& r : results) {
            fmt::print("  -> {}: {} ({})\n", r.address.empty() ? "(any recipient)" : r.address,
                       r.action, r.why);
        }
    }
    return rc;
}

}  // namespace pampero::cli
