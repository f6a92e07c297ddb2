#include "pampero/policy/decision.hpp"

#include <fmt/format.h>

#include "pampero/common/address.hpp"
#include "pampero/common/ip_prefix.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/recipient_facts.hpp"

namespace pampero::policy {
namespace {

Verdict make(Verdict::Kind k, std::string code, std::string xcode, std::string text) {
    return Verdict{k, std::move(code), std::move(xcode), std::move(text)};
}
Verdict dunno() {
    return {};
}
Verdict banned() {
    return make(Verdict::Kind::disconnect, "421", "4.7.0",
                "Too many unknown recipients, try again later");
}
Verdict over_limit(const Exceeded& e) {
    return make(Verdict::Kind::defer, "450", "4.7.1",
                fmt::format("Rate limit {} ({}) reached, try again later", e.limit, e.value));
}

}  // namespace

Stage stage_from(std::string_view s) {
    if (s == "RCPT") return Stage::rcpt;
    if (s == "END-OF-MESSAGE") return Stage::end_of_message;
    return Stage::other;
}

std::string Verdict::action() const {
    switch (kind) {
        case Kind::dunno:
            return "DUNNO";
        case Kind::permit:
            return "OK";
        default:
            return code + " " + xcode + " " + text;
    }
}

Result<Verdict> Engine::decide(const Query& q) {
    if (!q.client_address.empty()) {
        auto b = guard_.is_banned(std::string(q.client_address));
        if (!b) return b.error();
        if (*b) return banned();
    }
    switch (q.stage) {
        case Stage::rcpt:
            return rcpt(q);
        case Stage::end_of_message:
            return end_of_message(q);
        case Stage::other:
            break;
    }
    return dunno();
}

Result<Engine::Sender> Engine::identities(const Query& q, bool may_continue) {
    Sender out;
    auto& ids = out.ids;
    std::string name;  // the directory user whose own limits apply, if it is one
    if (!q.sasl_username.empty()) {
        ids.push_back("user:" + std::string(q.sasl_username));
        name = std::string(q.sasl_username);
    } else if (!q.client_address.empty()) {
        auto s = subs_.subscriber_for(q.client_address);
        if (!s && !(may_continue && guard_.continue_on_state_error())) return s.error();
        if (!s) {
            // on_state_error: continue, for mail that relays nothing: no subscriber known.
            warn_state_error_continued("the subscriber lookup (rates skipped)", s.error());
        } else if (*s) {
            ids.push_back("sub:" + **s);
            name = **s;
        }
    }
    // The address counts only for a sender the limits apply to (see decision.hpp).
    if (!ids.empty() && !q.client_address.empty()) {
        ids.push_back("ip:" + guard_.client_key(std::string(q.client_address)));
    }
    // A name that is no address is no directory user: no lookup (subscriber ids are often
    // plain account names).
    if (auto a = parse_address(name)) {
        auto u = dir_.find_user(a->full());
        if (!u) return u.error();
        if (*u) out.own = (*u)->limits;
    }
    return out;
}

Result<Verdict> Engine::rcpt(const Query& q) {
    const std::string client = q.client_address.empty() ? "local" : std::string(q.client_address);
    auto addr = parse_address(strip_angle_brackets(q.recipient));
    if (!addr) {
        // Postfix checked the syntax already; what we cannot parse is left to it.
        return dunno();
    }
    const std::string address = addr->full();
    auto where = resolve_recipient(dir_, address, addr->domain);
    if (!where) return where.error();
    const bool local = where->local_domain;
    if (local) {
        if (!where->exists) {
            log::info("{}: client {} unknown recipient <{}>", q.id, client, address);
            if (!q.client_address.empty()) {
                auto now_banned = guard_.count_unknown(std::string(q.client_address), address);
                if (!now_banned) return now_banned.error();
                if (*now_banned) {
                    log::notice("{}: client {} banned after unknown recipient <{}>", q.id, client,
                                address);
                    return banned();
                }
            }
            return make(Verdict::Kind::reject, "550", "5.1.1",
                        "Recipient address rejected: User unknown");
        }
    }
    return relay_and_rates(q, address, local);
}

Result<Verdict> Engine::relay(const Query& q) {
    auto addr = parse_address(strip_angle_brackets(q.recipient));
    if (!addr) return dunno();
    auto local = dir_.is_local_domain(addr->domain);
    if (!local) return local.error();
    return relay_and_rates(q, addr->full(), *local);
}

Result<Verdict> Engine::relay_and_rates(const Query& q, const std::string& address, bool local) {
    const std::string client = q.client_address.empty() ? "local" : std::string(q.client_address);
    // on_state_error: continue applies to mail for local users only: a State failure
    // while deciding a relayed recipient stays an error (4xx), so the State being down
    // never permits relaying nor denies a customer with a 5xx.
    const bool may_continue = local && guard_.continue_on_state_error();
    auto sender = identities(q, may_continue);
    if (!sender) return sender.error();
    const auto* ids = &sender->ids;
    if (ids->empty()) {
        if (local) return dunno();
        log::notice("{}: client {} relay to <{}> denied: no SASL login, no RADIUS session", q.id,
                    client, address);
        return make(Verdict::Kind::reject, "554", "5.7.1",
                    fmt::format("<{}>: Relay access denied", address));
    }
    auto over = limits_.recipient(*ids, q.instance, sender->own);
    if (!over && may_continue) {
        warn_state_error_continued("the recipient rates (skipped)", over.error());
        return dunno();
    }
    if (!over) return over.error();
    if (*over) {
        log::notice("{}: client {} {} over {} ({}) at <{}>; deferred", q.id, client,
                    (*over)->identity, (*over)->limit, (*over)->value, address);
        return over_limit(**over);
    }
    if (local) return dunno();
    log::debug("{}: client {} {} may relay to <{}>", q.id, client, ids->front(), address);
    return make(Verdict::Kind::permit, "", "", "");
}

Result<Verdict> Engine::end_of_message(const Query& q) {
    // END-OF-MESSAGE permits nothing (every relayed recipient passed RCPT), so with
    // on_state_error: continue a State failure here skips the message count.
    const bool may_continue = guard_.continue_on_state_error();
    auto sender = identities(q, may_continue);
    if (!sender) return sender.error();
    if (sender->ids.empty()) return dunno();
    auto over = limits_.message(sender->ids, sender->own);
    if (!over && may_continue) {
        warn_state_error_continued("the message count (skipped)", over.error());
        return dunno();
    }
    if (!over) return over.error();
    if (*over) {
        log::notice("{}: client {} {} over {} ({}); message deferred", q.id,
                    q.client_address.empty() ? "local" : q.client_address, (*over)->identity,
                    (*over)->limit, (*over)->value);
        return over_limit(**over);
    }
    return dunno();
}

}  // namespace pampero::policy
