#include "session.hpp"

#include <fmt/format.h>

#include <ctime>
#include <map>
#include <optional>

#include "pampero/common/address.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/recipient_facts.hpp"
#include "pampero/common/strings.hpp"
#include "pampero/mime/parsed_mime.hpp"
#include "pampero/scan/scan_message.hpp"
#include "pampero/verdict/spam_headers.hpp"

namespace pampero::milter {

Session::Session(Services& services, std::string connection_id)
    : s_(services), id_(std::move(connection_id)) {}

void Session::set_queue_id(const std::string& qid) {
    if (!qid.empty() && qid != id_) id_ = qid;
}

Reply Session::temporary_failure(const char* cause, const std::string& what, const Error& e) {
    if (s_.metrics) s_.metrics->tempfails.get({cause}).inc();
    log::error("{}: {}: {} ({}); answering 451", id_, what, e.message, to_string(e.kind));
    return Reply::tempfail("451", "4.3.0", "Temporary internal failure, try again later");
}

Reply Session::connect(const std::string& client_ip) {
    client_ip_ = client_ip;
    if (client_ip_.empty()) return Reply::ok();  // local submission (no socket peer)
    auto banned = s_.guard.is_banned(client_ip_);
    if (!banned) return temporary_failure("state", "ban check for " + client_ip_, banned.error());
    if (*banned) {
        if (s_.metrics) s_.metrics->banned_refused.inc();
        log::notice("{}: client {} is banned; closing", id_, client_ip_);
        return Reply::shutdown("Too many unknown recipients, try again later");
    }
    return Reply::ok();
}

Reply Session::mail_from(const std::string& sender, bool authenticated,
                         const std::string& auth_user) {
    reset_message();
    ++messages_;
    // Fixed now: the queue id comes with the first accepted RCPT and would change it.
    instance_ = fmt::format("{}.{}", id_, messages_);
    auth_user_ = authenticated ? auth_user : std::string();
    auto a = parse_address(sender);
    sender_ = a ? a->full() : std::string(strip_angle_brackets(sender));
    authenticated_ = authenticated;
    return Reply::ok();
}

Reply Session::count_unknown(const std::string& address) {
    if (client_ip_.empty()) return Reply::ok();
    auto now_banned = s_.guard.count_unknown(client_ip_, address);
    if (!now_banned)
        return temporary_failure("state", "unknown-recipient counter", now_banned.error());
    if (*now_banned) {
        if (s_.metrics) s_.metrics->bans.inc();
        log::notice("{}: client {} banned after unknown recipient <{}>", id_, client_ip_, address);
        return Reply::shutdown("Too many unknown recipients, try again later");
    }
    return Reply::ok();
}

const std::optional<std::string>& Session::client_listing() {
    if (!client_listing_) {
        std::optional<std::string> why;
        if (s_.blocklists && !client_ip_.empty()) {
            if (auto lists = s_.blocklists->get()) why = lists->client_reject(client_ip_);
        }
        client_listing_ = why;
    }
    return *client_listing_;
}

Reply Session::rcpt(const std::string& recipient, bool rejected_by_mta) {
    // Another node may have banned this client since it connected (shared state).
    if (!client_ip_.empty()) {
        auto banned = s_.guard.is_banned(client_ip_);
        if (!banned) return temporary_failure("state", "ban check", banned.error());
        if (*banned) {
            if (s_.metrics) s_.metrics->banned_refused.inc();
            return Reply::shutdown("Too many unknown recipients, try again later");
        }
    }
    auto addr = parse_address(recipient);
    if (!addr) {
        if (rejected_by_mta) return Reply::ok();
        return Reply::reject("501", "5.1.3", "Bad recipient address syntax");
    }
    const std::string address = addr->full();
    auto where = resolve_recipient(s_.directory, address, addr->domain);
    if (!where) return temporary_failure("directory", "lookup of <" + address + ">", where.error());
    if (!where->exists) {
        if (s_.metrics) s_.metrics->unknown_recipients.inc();
        log::info("{}: client {} unknown recipient <{}>{}", id_, client_ip_, address,
                  rejected_by_mta ? " (refused by the MTA)" : "");
        Reply r = count_unknown(address);
        if (r.kind != Reply::Kind::proceed || rejected_by_mta) return r;
        return Reply::reject("550", "5.1.1", "Recipient address rejected: User unknown");
    }
    if (rejected_by_mta) return Reply::ok();
    if (s_.relay) {
        auto v =
            s_.relay->relay({policy::Stage::rcpt, client_ip_, auth_user_, address, instance_, id_});
        if (!v)
            return temporary_failure("relay_check", "relay check for <" + address + ">", v.error());
        if (v->kind == policy::Verdict::Kind::reject)
            return Reply::reject(v->code, v->xcode, v->text);
        if (v->kind == policy::Verdict::Kind::defer)
            return Reply::tempfail(v->code, v->xcode, v->text);
    }
    if (const auto& listed = client_listing()) {
        // Trusted lists refuse at RCPT, but a user's white list and contacts still win.
        auto facts = lookup_recipient_facts(s_.directory, where->owner, sender_);
        if (!facts)
            return temporary_failure("directory", "list lookup for <" + address + ">",
                                     facts.error());
        if (facts->listing != Listing::white && !facts->contact) {
            log::info("{}: client {} refused for <{}>: {}", id_, client_ip_, address, *listed);
            return Reply::reject("554", "5.7.1", "Service unavailable; " + *listed);
        }
    }
    recipients_.push_back({recipient, address, where->owner, where->level});
    return Reply::ok();
}

void Session::header(std::string_view name, std::string_view value) {
    verdict_.header(name, value);             // Subject, Message-ID: whatever the bounds
    if (!engine_) engine_ = s_.engine.get();  // one snapshot (and its bounds) per message
    // Bounded by max_headers and max_header_bytes; past them nothing more is kept and
    // end_of_message() refuses the message.
    ++header_count_;
    header_bytes_ += name.size() + 2 + value.size() + 2;
    const scan::ScanBounds& b = engine_->bounds();
    if (header_count_ > b.max_headers || header_bytes_ > b.max_header_bytes) return;
    headers_.emplace_back(name, value);
}

void Session::body(std::string_view chunk) {
    verdict_.body(chunk);  // the whole body, whatever the scan limit
    if (!engine_) engine_ = s_.engine.get();
    // Rules read a share of every text part, so the message is kept beyond the scan
    // limit (to max_message); ClamAV wants the whole message up to its own limit.
    std::size_t limit = engine_->bounds().max_message;
    if (s_.antivirus) limit = std::max<std::size_t>(limit, s_.antivirus_config.max_size);
    const std::size_t room = limit - std::min(limit, body_.size());
    if (chunk.size() > room) body_cut_ = true;
    body_.append(chunk.substr(0, room));
}

void Session::reset_message() {
    sender_.clear();
    authenticated_ = false;
    recipients_.clear();
    headers_.clear();
    header_count_ = header_bytes_ = 0;
    body_.clear();
    body_cut_ = false;
    engine_.reset();
    verdict_.reset();
}

void Session::add_verdict_headers(EndOfMessage& out, const scan::SpamHeaders& h) {
    const std::string lead = verbatim_headers_ ? " " : "";
    out.add_headers = {{"X-Spam-Score", lead + h.score},
                       {"X-Spam-Level", lead + h.level},
                       {"X-Spam-Status", lead + h.status}};
    const auto keys = s_.verdict_keys ? s_.verdict_keys->get() : nullptr;
    if (!keys) return;
    out.add_headers.emplace_back(
        "X-Spam-Signature",
        lead + verdict_.sign(keys->signing(), static_cast<std::int64_t>(std::time(nullptr)),
                             h.score, h.status));
}

std::optional<std::pair<Reply, std::string>> Session::over_header_bounds() const {
    const scan::ScanBounds& b = engine_->bounds();
    std::string why;
    if (header_count_ > b.max_headers)
        why = fmt::format("{} header fields (limit {})", header_count_, b.max_headers);
    else if (header_bytes_ > b.max_header_bytes)
        why = fmt::format("{} bytes of header (limit {})", header_bytes_, b.max_header_bytes);
    else
        return std::nullopt;
    return std::pair{Reply::reject("552", "5.3.4", "Message header too large: " + why),
                     "refused: " + why};
}

void Session::count_verdict(const char* verdict) {
    if (s_.metrics) s_.metrics->messages.get({verdict}).inc();
}

EndOfMessage Session::end_of_message() {
    metrics::ScopedTimer timer(s_.metrics ? &s_.metrics->scan_seconds : nullptr);
    return decide_end_of_message();
}

EndOfMessage Session::decide_end_of_message() {
    EndOfMessage out;
    if (!engine_) engine_ = s_.engine.get();  // one snapshot for the whole message
    if (s_.relay) {  // messages_per_hour: counted when the message is really sent
        auto v =
            s_.relay->decide({policy::Stage::end_of_message, client_ip_, auth_user_, "", "", id_});
        if (!v) {
            out.reply = temporary_failure("relay_check", "message rate count", v.error());
            out.log_line =
                fmt::format("{}: from=<{}> client={} state failure", id_, sender_, client_ip_);
            return out;
        }
        if (v->kind == policy::Verdict::Kind::defer ||
            v->kind == policy::Verdict::Kind::disconnect) {
            out.reply = v->kind == policy::Verdict::Kind::defer
                            ? Reply::tempfail(v->code, v->xcode, v->text)
                            : Reply::shutdown(v->text);
            out.log_line =
                fmt::format("{}: from=<{}> client={} {}", id_, sender_, client_ip_, v->action());
            return out;
        }
    }
    if (auto refused = over_header_bounds()) {
        out.log_line = fmt::format("{}: from=<{}> client={} rcpts={} {}", id_, sender_, client_ip_,
                                   recipients_.size(), refused->second);
        out.reply = refused->first;
        count_verdict("header_limit");
        return out;
    }

    // Only pampero writes X-Spam-*: remove every incoming one, highest index first so
    // the indexes of the others stay valid whatever the MTA's renumbering. An index
    // counts the fields of that name (any case), all of them X-Spam-* fields too: only
    // those are counted, so a message without any allocates nothing here.
    std::map<std::string, int> seen;
    for (const auto& [name, value] : headers_) {
        if (!scan::is_spam_header(name)) continue;
        const int index = ++seen[ascii_lower(name)];
        out.delete_headers.emplace_back(name, index);
    }
    std::reverse(out.delete_headers.begin(), out.delete_headers.end());

    std::string raw;
    raw.reserve(body_.size() + headers_.size() * 64);
    for (const auto& [name, value] : headers_) {
        raw += name;
        raw += verbatim_headers_ ? ":" : ": ";
        raw += value;
        raw += "\r\n";
    }
    raw += "\r\n";
    raw += body_;

    // One GMime parse for the virus scanner and the engine (both parse all they get).
    std::optional<scan::ParsedMime> parsed;
    if (s_.antivirus || !authenticated_) parsed.emplace(raw);
    const scan::ParsedMime* shared = parsed ? &*parsed : nullptr;

    if (s_.antivirus) {
        const scan::VirusScan av = s_.antivirus->get()->scan(raw, shared);
        switch (av.outcome) {
            case scan::VirusScan::Outcome::virus:
                out.log_line = fmt::format("{}: from=<{}> client={} virus={} rcpts={} refused", id_,
                                           sender_, client_ip_, av.detail, recipients_.size());
                out.delete_headers.clear();
                out.reply = Reply::reject("554", "5.7.1", "Virus found: " + av.detail);
                if (s_.metrics) s_.metrics->viruses.inc();
                count_verdict("virus");
                return out;
            case scan::VirusScan::Outcome::error:
                if (s_.antivirus_config.tempfail_on_error) {
                    out.reply =
                        temporary_failure("antivirus", "virus scan", Error::temporary(av.detail));
                    count_verdict("tempfail");
                    return out;
                }
                log::warning("{}: virus scan failed, accepting unscanned (on_error: accept): {}",
                             id_, av.detail);
                break;
            case scan::VirusScan::Outcome::skipped:
                log::info("{}: not virus-scanned: {}", id_, av.detail);
                break;
            case scan::VirusScan::Outcome::clean:
                break;
        }
    }

    if (authenticated_) {
        out.log_line = fmt::format("{}: from=<{}> client={} authenticated, not scored", id_,
                                   sender_, client_ip_);
        auto h = scan::format_spam_headers(0.0, {}, engine_->levels().fallback());
        h.status += " (authenticated, not scored)";
        add_verdict_headers(out, h);
        count_verdict("authenticated");
        return out;
    }

    const auto lists = s_.blocklists ? s_.blocklists->get() : nullptr;
    std::vector<scan::BlocklistTally> tally;
    // One verdict for everybody, or with per-domain/per-user classifier models one per
    // distinct model vote (scan_message.hpp: the rules are matched once either way).
    scan::RecipientVerdicts rv;
    if (s_.models) {
        std::vector<std::string> keys;  // each recipient's model is its mailbox's
        keys.reserve(recipients_.size());
        for (const auto& r : recipients_) keys.push_back(r.owner.value_or(r.address));
        rv = scan::scan_message_for(*engine_, lists.get(), raw, client_ip_, *s_.models, keys,
                                    shared, body_cut_, s_.metrics ? &tally : nullptr);
    } else {
        rv.verdicts.push_back(scan::scan_message(*engine_, lists.get(), raw, client_ip_, shared,
                                                 body_cut_, s_.metrics ? &tally : nullptr,
                                                 s_.classifier));
        rv.of.assign(recipients_.size(), 0);
    }
    const bool split = rv.verdicts.size() > 1;
    if (s_.metrics) {
        // Names from the loaded rules and the configured lists only (bounded labels). With
        // several verdicts, the first recipient's counts (one message, one count a rule).
        const scan::Verdict& v = rv.verdicts[rv.of.empty() ? 0 : rv.of.front()];
        for (const auto& h : v.hits) s_.metrics->rule_hits.get({h.name}).inc();
        for (std::size_t i = 0; i < tally.size() && lists && i < lists->lists().size(); ++i) {
            if (tally[i].lookups == 0) continue;
            const std::string& zone = lists->lists()[i].zone;
            s_.metrics->blocklist_lookups.get({zone}).inc(tally[i].lookups);
            if (tally[i].hits) s_.metrics->blocklist_hits.get({zone}).inc(tally[i].hits);
        }
    }
    const scan::Level& reference = engine_->levels().fallback();

    std::string decisions;
    std::size_t refused = 0;
    std::size_t to_spam = 0;
    bool black = false;
    // The verdict in the X-Spam-* headers: there is one copy of the message for all the
    // recipients the MTA delivers it to (a milter cannot split it), and pampero-store
    // files each copy by that score and each recipient's level. So the headers carry the
    // lowest-scored verdict among the recipients that are not refused: with one
    // recipient, or recipients sharing a model, exactly theirs; when accepted recipients'
    // models disagree, no one's copy is filed as spammier than their own model says (one
    // user's training never sends another's mail to the Spam folder), and the others'
    // scores are in the log line.
    std::optional<std::size_t> header_verdict;
    for (std::size_t i = 0; i < recipients_.size(); ++i) {
        const auto& r = recipients_[i];
        const scan::Verdict& v = rv.verdicts[rv.of[i]];
        auto facts = lookup_recipient_facts(s_.directory, r.owner, sender_);
        if (!facts) {
            out.reply = temporary_failure("directory", "list lookup for <" + r.address + ">",
                                          facts.error());
            count_verdict("tempfail");
            return out;
        }
        const Listing listing = facts->listing;
        const bool contact = facts->contact;
        const scan::Level& level = engine_->levels().for_user(r.level);
        const scan::Action action = scan::decide(v.score, listing, contact, level);
        decisions += fmt::format(" <{}>:{}{}", r.address, scan::to_string(action),
                                 listing == Listing::white   ? "(white)"
                                 : listing == Listing::black ? "(black)"
                                 : contact                   ? "(contact)"
                                                             : "");
        // Models that disagree: each recipient's score and model, for the admin at 3 a.m.
        if (split)
            decisions += fmt::format("(score={:.1f} model={})", v.score, rv.models[i]);
        else if (s_.models)
            decisions += fmt::format("(model={})", rv.models[i]);
        if (action == scan::Action::spam) ++to_spam;
        if (action == scan::Action::reject) {
            ++refused;
            black = black || listing == Listing::black;
            out.delete_recipients.push_back(r.as_given);
        } else if (!header_verdict || v.score < rv.verdicts[*header_verdict].score) {
            header_verdict = rv.of[i];
        }
    }
    const scan::Verdict& v = rv.verdicts[header_verdict  ? *header_verdict
                                         : rv.of.empty() ? 0
                                                         : rv.of.front()];
    std::string tests;
    for (const auto& h : v.hits) tests += (tests.empty() ? "" : ",") + h.name;
    out.log_line =
        fmt::format("{}: from=<{}> client={} score={:.1f} tests={} rcpts:{}", id_, sender_,
                    client_ip_, v.score, tests.empty() ? "none" : tests, decisions);

    if (s_.metrics) {
        s_.metrics->recipients.get({"inbox"}).inc(recipients_.size() - refused - to_spam);
        s_.metrics->recipients.get({"spam"}).inc(to_spam);
        s_.metrics->recipients.get({"reject"}).inc(refused);
    }
    if (!recipients_.empty() && refused == recipients_.size()) {
        out.delete_recipients.clear();
        out.delete_headers.clear();
        out.reply =
            black ? Reply::reject("550", "5.7.1", "Message refused: sender is black-listed")
                  : Reply::reject("550", "5.7.1",
                                  fmt::format("Message refused as spam (score {:.1f})", v.score));
        count_verdict("reject");
        return out;
    }
    count_verdict(refused > 0 ? "partial_reject" : to_spam > 0 ? "spam" : "inbox");
    add_verdict_headers(out,
                        scan::format_spam_headers(v.score, v.hits, reference, !v.partial.empty()));
    return out;
}

}  // namespace pampero::milter
