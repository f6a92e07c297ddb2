#include "session.hpp"

#include <fmt/format.h>

#include <ctime>
#include <map>
#include <optional>

#include "pampero/common/address.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/recipient_facts.hpp"
#include "pampero/scan/parsed_mime.hpp"
#include "pampero/scan/scan_message.hpp"
#include "pampero/scan/spam_headers.hpp"

namespace pampero::milter {

Session::Session(Services& services, std::string connection_id)
    : s_(services), id_(std::move(connection_id)) {}

void Session::set_queue_id(const std::string& qid) {
    if (!qid.empty() && qid != id_) id_ = qid;
}

Reply Session::temporary_failure(const std::string& what, const Error& e) {
    log::error("{}: {}: {} ({}); answering 451", id_, what, e.message, to_string(e.kind));
    return Reply::tempfail("451", "4.3.0", "Temporary internal failure, try again later");
}

Reply Session::connect(const std::string& client_ip) {
    client_ip_ = client_ip;
    if (client_ip_.empty()) return Reply::ok();  // local submission (no socket peer)
    auto banned = s_.guard.is_banned(client_ip_);
    if (!banned) return temporary_failure("ban check for " + client_ip_, banned.error());
    if (*banned) {
        log::notice("{}: client {} is banned; closing", id_, client_ip_);
        return Reply::shutdown("Too many unknown recipients, try again later");
    }
    return Reply::ok();
}

Reply Session::mail_from(const std::string& sender, bool authenticated) {
    reset_message();
    auto a = parse_address(sender);
    sender_ = a ? a->full() : std::string(strip_angle_brackets(sender));
    authenticated_ = authenticated;
    return Reply::ok();
}

Reply Session::count_unknown(const std::string& address) {
    if (client_ip_.empty()) return Reply::ok();
    auto now_banned = s_.guard.count_unknown(client_ip_);
    if (!now_banned) return temporary_failure("unknown-recipient counter", now_banned.error());
    if (*now_banned) {
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
        if (!banned) return temporary_failure("ban check", banned.error());
        if (*banned) return Reply::shutdown("Too many unknown recipients, try again later");
    }
    auto addr = parse_address(recipient);
    if (!addr) {
        if (rejected_by_mta) return Reply::ok();
        return Reply::reject("501", "5.1.3", "Bad recipient address syntax");
    }
    const std::string address = addr->full();
    auto where = resolve_recipient(s_.directory, address, addr->domain);
    if (!where) return temporary_failure("lookup of <" + address + ">", where.error());
    if (!where->exists) {
        log::info("{}: client {} unknown recipient <{}>{}", id_, client_ip_, address,
                  rejected_by_mta ? " (refused by the MTA)" : "");
        Reply r = count_unknown(address);
        if (r.kind != Reply::Kind::proceed || rejected_by_mta) return r;
        return Reply::reject("550", "5.1.1", "Recipient address rejected: User unknown");
    }
    if (rejected_by_mta) return Reply::ok();
    if (const auto& listed = client_listing()) {
        // Trusted lists refuse at RCPT, but a user's white list and contacts still win.
        auto facts = lookup_recipient_facts(s_.directory, where->owner, sender_);
        if (!facts) return temporary_failure("list lookup for <" + address + ">", facts.error());
        if (facts->listing != Listing::white && !facts->contact) {
            log::info("{}: client {} refused for <{}>: {}", id_, client_ip_, address, *listed);
            return Reply::reject("554", "5.7.1", "Service unavailable; " + *listed);
        }
    }
    recipients_.push_back({recipient, address, where->owner, where->level});
    return Reply::ok();
}

void Session::header(const std::string& name, const std::string& value) {
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

EndOfMessage Session::end_of_message() {
    EndOfMessage out;
    if (!engine_) engine_ = s_.engine.get();  // one snapshot for the whole message
    if (auto refused = over_header_bounds()) {
        out.log_line = fmt::format("{}: from=<{}> client={} rcpts={} {}", id_, sender_, client_ip_,
                                   recipients_.size(), refused->second);
        out.reply = refused->first;
        return out;
    }

    // Only pampero writes X-Spam-*: remove every incoming one, highest index first so
    // the indexes of the others stay valid whatever the MTA's renumbering.
    std::map<std::string, int> seen;
    for (const auto& [name, value] : headers_) {
        const int index = ++seen[to_lower(name)];
        if (scan::is_spam_header(name)) out.delete_headers.emplace_back(name, index);
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
                return out;
            case scan::VirusScan::Outcome::error:
                if (s_.antivirus_config.tempfail_on_error) {
                    out.reply = temporary_failure("virus scan", Error::temporary(av.detail));
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
        return out;
    }

    const auto lists = s_.blocklists ? s_.blocklists->get() : nullptr;
    const scan::Verdict v = scan::scan_message(*engine_, lists.get(), raw, client_ip_, shared,
                                               body_cut_, s_.classifier);
    const scan::Level& reference = engine_->levels().fallback();

    std::string tests;
    for (const auto& h : v.hits) tests += (tests.empty() ? "" : ",") + h.name;
    std::string decisions;
    std::size_t refused = 0;
    bool black = false;
    for (const auto& r : recipients_) {
        auto facts = lookup_recipient_facts(s_.directory, r.owner, sender_);
        if (!facts) {
            out.reply = temporary_failure("list lookup for <" + r.address + ">", facts.error());
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
        if (action == scan::Action::reject) {
            ++refused;
            black = black || listing == Listing::black;
            out.delete_recipients.push_back(r.as_given);
        }
    }
    out.log_line =
        fmt::format("{}: from=<{}> client={} score={:.1f} tests={} rcpts:{}", id_, sender_,
                    client_ip_, v.score, tests.empty() ? "none" : tests, decisions);

    if (!recipients_.empty() && refused == recipients_.size()) {
        out.delete_recipients.clear();
        out.delete_headers.clear();
        out.reply =
            black ? Reply::reject("550", "5.7.1", "Message refused: sender is black-listed")
                  : Reply::reject("550", "5.7.1",
                                  fmt::format("Message refused as spam (score {:.1f})", v.score));
        return out;
    }
    add_verdict_headers(out,
                        scan::format_spam_headers(v.score, v.hits, reference, !v.partial.empty()));
    return out;
}

}  // namespace pampero::milter
