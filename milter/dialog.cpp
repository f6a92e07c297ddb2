#include "dialog.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>

#include "pampero/common/log.hpp"
#include "pampero/common/strings.hpp"

namespace pampero::milter {

namespace {

// The client address of a 'C' packet as Session wants it: canonical text for IPv4 and
// IPv6 ("IPv6:" prefix, as sendmail writes it, removed); empty for a local or unknown
// client; nullopt when the address does not parse.
std::optional<std::string> client_ip(const proto::Connect& c) {
    if (c.family != '4' && c.family != '6') return std::string();
    std::string_view a = c.address;
    if (c.family == '6' && istarts_with(a, "IPv6:")) a.remove_prefix(5);
    const std::string text(a);
    char out[INET6_ADDRSTRLEN] = {};
    if (c.family == '4') {
        in_addr v4{};
        if (inet_pton(AF_INET, text.c_str(), &v4) != 1) return std::nullopt;
        inet_ntop(AF_INET, &v4, out, sizeof out);
    } else {
        in6_addr v6{};
        if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return std::nullopt;
        inet_ntop(AF_INET6, &v6, out, sizeof out);
    }
    return std::string(out);
}

}  // namespace

bool encode_reply(std::string& out, const Reply& r) {
    if (r.kind == Reply::Kind::proceed || r.rcode.empty()) {
        const char plain = r.kind == Reply::Kind::proceed  ? 'c'
                           : r.kind == Reply::Kind::reject ? 'r'
                                                           : 't';
        (void)proto::encode_simple(out, plain);
        return true;
    }
    std::string line = r.rcode;
    if (!r.xcode.empty()) line += " " + r.xcode;
    line += ' ';
    for (char c : r.text) {
        if (c == '%') line += '%';  // Postfix undoes that
        line += c;
    }
    if (proto::encode_reply_code(out, line)) return true;
    (void)proto::encode_simple(out, r.kind == Reply::Kind::reject ? 'r' : 't');
    return false;
}

Dialog::Dialog(Services& services, std::function<std::string()> new_name)
    : services_(services), new_name_(std::move(new_name)) {
    new_session();
}

void Dialog::new_session() {
    name_ = new_name_();
    session_ = std::make_unique<Session>(services_, name_);
}

bool Dialog::feed(const proto::Packet& p, std::string& out) {
    auto command = proto::decode(p);
    if (!command) {
        protocol_error(command.error().message, reply_due(p.command), out);
        return false;
    }
    if (!negotiated_ && p.command != 'O') {
        protocol_error(fmt::format("command '{}' before option negotiation", p.command),
                       reply_due(p.command), out);
        return false;
    }
    return std::visit([this, &out](const auto& c) { return on(c, out); }, *command);
}

void Dialog::framing_error(std::string_view why, std::string& out) {
    protocol_error(why, true, out);
}

// Whether the MTA waits for a reply to this command, given what was negotiated.
bool Dialog::reply_due(char command) const {
    switch (command) {
        case 'D':
        case 'A':
        case 'Q':
        case 'K':
            return false;
        case 'L':
            return !(protocol_ & proto::flag::nr_header);
        case 'N':
            return !(protocol_ & proto::flag::nr_eoh);
        case 'B':
            return !(protocol_ & proto::flag::nr_body);
        case 'U':
            return !(protocol_ & proto::flag::nr_unknown);
        default:
            return true;  // and for garbage: a 't' harms no one
    }
}

void Dialog::protocol_error(std::string_view why, bool reply, std::string& out) {
    log::warning("{}: milter protocol error: {}; closing the connection", name_, why);
    if (reply) (void)proto::encode_simple(out, 't');
}

// The one place a Reply becomes a milter answer.
void Dialog::answer(const Reply& r, std::uint32_t no_reply_flag, std::string& out) {
    if (protocol_ & no_reply_flag) {
        // Negotiated only for steps whose Session call always proceeds; should that
        // change, the verdict must not vanish silently.
        if (r.kind != Reply::Kind::proceed) {
            log::error("{}: a verdict ({} {}) at a step the MTA expects no reply for; not sent",
                       session_->id(), r.rcode, r.xcode);
        }
        return;
    }
    if (!encode_reply(out, r)) {
        log::warning("{}: reply '{} {}' cannot be encoded; answering without its text", name_,
                     r.rcode, r.xcode);
    }
}

void Dialog::pick_up_queue_id() {
    if (auto qid = macros_.get("i")) session_->set_queue_id(std::string(*qid));
}

void Dialog::end_transaction() {
    session_->reset_message();
    macros_.clear_from('M');
    in_transaction_ = false;
}

bool Dialog::on(const proto::OptionNegotiation& o, std::string& out) {
    if (o.version < 2) {
        protocol_error(fmt::format("MTA speaks milter protocol version {}", o.version), true, out);
        return false;
    }
    constexpr std::uint32_t want_actions =
        proto::action::add_headers | proto::action::change_headers | proto::action::delete_rcpt;
    if ((o.actions & want_actions) != want_actions) {
        log::warning("the MTA does not offer all milter actions pampero uses (offered {:#x})",
                     o.actions);
    }
    if (!(o.protocol & proto::flag::rcpt_rej)) {
        log::warning("the MTA cannot show refused recipients: the guard counts only its own");
    }
    // See dialog.hpp for why each of these, and why not NOEOH.
    constexpr std::uint32_t want_protocol =
        proto::flag::rcpt_rej | proto::flag::no_unknown | proto::flag::header_leading_space |
        proto::flag::nr_header | proto::flag::nr_body | proto::flag::nr_eoh | proto::flag::no_helo |
        proto::flag::no_data | proto::flag::nr_mail;
    protocol_ = o.protocol & want_protocol;
    negotiated_ = true;
    session_->set_verbatim_headers((protocol_ & proto::flag::header_leading_space) != 0);
    proto::encode_negotiation(
        out, {std::min(o.version, proto::kVersion), o.actions & want_actions, protocol_});
    return true;
}

bool Dialog::on(const proto::Macros& m, std::string&) {
    macros_.set(m.stage, m.pairs);
    return true;
}

bool Dialog::on(const proto::Connect& c, std::string& out) {
    const auto ip = client_ip(c);
    if (!ip) {
        protocol_error(fmt::format("client address '{}' does not parse", c.address), true, out);
        return false;
    }
    answer(session_->connect(*ip), proto::flag::nr_connect, out);
    return true;
}

bool Dialog::on(const proto::Helo&, std::string& out) {
    answer_continue(proto::flag::nr_helo, out);
    return true;
}

bool Dialog::on(const proto::Mail& m, std::string& out) {
    in_transaction_ = true;
    const auto auth = macros_.get("{auth_authen}");
    answer(session_->mail_from(std::string(m.args[0]), auth && !auth->empty(),
                               auth ? std::string(*auth) : std::string()),
           proto::flag::nr_mail, out);
    return true;
}

bool Dialog::on(const proto::Rcpt& r, std::string& out) {
    pick_up_queue_id();
    const auto mailer = macros_.get("{rcpt_mailer}");
    answer(session_->rcpt(std::string(r.args[0]), mailer && *mailer == "error"),
           proto::flag::nr_rcpt, out);
    return true;
}

bool Dialog::on(const proto::Data&, std::string& out) {
    answer_continue(proto::flag::nr_data, out);
    return true;
}

bool Dialog::on(const proto::Header& h, std::string& out) {
    session_->header(h.name, h.value);
    answer_continue(proto::flag::nr_header, out);
    return true;
}

bool Dialog::on(const proto::EndOfHeaders&, std::string& out) {
    answer_continue(proto::flag::nr_eoh, out);
    return true;
}

bool Dialog::on(const proto::Body& b, std::string& out) {
    session_->body(b.chunk);
    answer_continue(proto::flag::nr_body, out);
    return true;
}

bool Dialog::on(const proto::EndOfMessage& e, std::string& out) {
    if (!e.chunk.empty()) session_->body(e.chunk);
    pick_up_queue_id();
    EndOfMessage eom = session_->end_of_message();
    if (!eom.log_line.empty()) log::info("{}", eom.log_line);
    if (eom.reply.kind != Reply::Kind::proceed) {
        answer(eom.reply, 0, out);
    } else {
        // Every change and the verdict leave in one write; a change that cannot be
        // encoded sends none of them: a recipient we meant to refuse could otherwise be
        // delivered, so the MTA retries instead.
        std::string changes;
        bool ok = true;
        for (const auto& rcpt : eom.delete_recipients)
            ok = ok && proto::encode_delete_rcpt(changes, rcpt);
        for (const auto& [name, index] : eom.delete_headers) {
            ok = ok && index > 0 &&
                 proto::encode_change_header(changes, static_cast<std::uint32_t>(index), name, "");
        }
        for (const auto& [name, value] : eom.add_headers)
            ok = ok && proto::encode_add_header(changes, name, value);
        if (ok) {
            out += changes;
            answer_continue(0, out);
        } else {
            answer(
                session_->temporary_failure(
                    "internal", "applying the verdict",
                    Error::temporary("a recipient or header holds a NUL or does not fit a packet")),
                0, out);
        }
    }
    end_transaction();
    return true;
}

bool Dialog::on(const proto::Abort&, std::string&) {
    end_transaction();
    return true;
}

bool Dialog::on(const proto::Quit&, std::string&) {
    return false;
}

bool Dialog::on(const proto::QuitNewConnection&, std::string&) {
    end_transaction();
    macros_.clear_from('C');
    new_session();
    session_->set_verbatim_headers((protocol_ & proto::flag::header_leading_space) != 0);
    return true;
}

bool Dialog::on(const proto::Unknown&, std::string& out) {
    answer_continue(proto::flag::nr_unknown, out);
    return true;
}

}  // namespace pampero::milter
