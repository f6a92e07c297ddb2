#include "lmtp_session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "maildir.hpp"
#include "pampero/common/log.hpp"

namespace pampero::store {
namespace {

// Where a big message is spooled: the first local target's tmp/ (the same filesystem as
// the copies it becomes), else mail_root/.spool/ (no user's maildir can be named so:
// resolve_maildir() refuses components starting with '.').
Result<Spool> open_spool(const std::string& mail_root, const std::vector<Recipient>& rcpts,
                         const std::string& id) {
    for (const auto& r : rcpts) {
        if (r.local.empty()) continue;
        const std::string& root = r.local.front().root;
        auto folder = open_folder(mail_root, root, "");
        auto tmp =
            folder ? open_below(mail_root, root + "/tmp", false) : Result<DirFd>(folder.error());
        auto spool = tmp ? Spool::create(*tmp, root + "/tmp") : Result<Spool>(tmp.error());
        if (spool) return spool;
        // That recipient's delivery will say what is wrong with its maildir; the message
        // is spooled elsewhere so the others still get it.
        log::warning("{}: cannot spool in {}/tmp: {}", id, root, spool.error().message);
        break;
    }
    std::string base = mail_root;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    auto dir = open_below(mail_root, base + "/.spool", true);
    if (!dir) return dir.error();
    return Spool::create(*dir, base + "/.spool");
}

void add(LmtpSession::Output& out, const lmtp::Reply& r) {
    out.reply += r.wire();
}

}  // namespace

LmtpSession::LmtpSession(Store& store, LmtpSessionConfig config)
    : store_(store), cfg_(std::move(config)) {
    env_.session_id = cfg_.id;
}

std::string LmtpSession::greeting() const {
    return fmt::format("220 {} LMTP pampero-store ready\r\n", cfg_.hostname);
}

void LmtpSession::reset() {
    mail_.reset();
    rcpts_.clear();
    env_.queue_id.clear();  // XFORWARD attributes last one transaction
}

void LmtpSession::xforward(const lmtp::Command& cmd, Output& out) {
    if (mail_) {
        add(out, {503, "5.5.1", "Error: MAIL transaction in progress"});
        return;
    }
    for (const auto& [name, value] : cmd.params) {
        if (name != "IDENT") continue;  // the only one we offer; others are ignored
        const bool looks_like_id = !value.empty() && value.size() <= kMaxQueueId &&
                                   std::all_of(value.begin(), value.end(), [](char c) {
                                       return std::isalnum(static_cast<unsigned char>(c));
                                   });
        env_.queue_id = looks_like_id ? value : "";  // "[UNAVAILABLE]" and junk: none
    }
    add(out, {250, "2.0.0", "Ok"});
}

void LmtpSession::error(Output& out) {
    if (++errors_ > kMaxErrors) {
        out.reply += "421 4.7.0 Error: too many errors\r\n";
        out.close = true;
    }
}

LmtpSession::Output LmtpSession::line_too_long() {
    Output out;
    add(out, {500, "5.5.2", "Error: command line too long"});
    error(out);
    return out;
}

LmtpSession::Output LmtpSession::command(std::string_view line) {
    Output out;
    auto parsed = lmtp::parse_command(line);
    if (!parsed.command) {
        add(out, *parsed.error);
        error(out);
        return out;
    }
    const lmtp::Command& cmd = *parsed.command;
    switch (cmd.verb) {
        case lmtp::Verb::lhlo:
            reset();
            greeted_ = true;
            env_.helo = cmd.argument;
            out.reply =
                lmtp::wire_multiline(250, {cfg_.hostname, "PIPELINING", "ENHANCEDSTATUSCODES",
                                           "8BITMIME", fmt::format("SIZE {}", cfg_.size_limit),
                                           std::string(lmtp::kLocalOnlyParam), "XFORWARD IDENT"});
            break;
        case lmtp::Verb::mail:
            if (!greeted_)
                add(out, {503, "5.5.1", "Error: send LHLO first"});
            else if (mail_)
                add(out, {503, "5.5.1", "Error: nested MAIL command"});
            else if (cmd.size && *cmd.size > cfg_.size_limit)
                add(out, Store::too_big());
            else {
                mail_ = cmd.path;
                size_hint_ = cmd.size;
                env_.sender = cmd.path;
                add(out, {250, "2.1.0", "Ok"});
            }
            break;
        case lmtp::Verb::rcpt: {
            if (!mail_) {
                add(out, {503, "5.5.1", "Error: need MAIL command"});
                break;
            }
            if (rcpts_.size() >= kMaxRecipients) {
                add(out, {452, "4.5.3", "Error: too many recipients"});
                break;
            }
            auto r = store_.accept_recipient(cmd.path, cmd.local_only, size_hint_, log_id());
            if (auto* rep = std::get_if<lmtp::Reply>(&r)) {
                log::info("{}: from=<{}> to=<{}>: {} {} {}", log_id(), env_.sender, cmd.path,
                          rep->code, rep->enhanced, rep->text);
                add(out, *rep);
            } else {
                rcpts_.push_back(std::move(std::get<Recipient>(r)));
                add(out, {250, "2.1.5", "Ok"});
            }
            break;
        }
        case lmtp::Verb::data:
            if (!mail_) {
                add(out, {503, "5.5.1", "Error: need MAIL command"});
                break;
            }
            if (rcpts_.empty()) {
                add(out, {503, "5.5.1", "Error: no valid recipients"});
                break;
            }
            out.reply = "354 End data with <CR><LF>.<CR><LF>\r\n";
            decoder_.emplace(cfg_.size_limit);
            break;
        case lmtp::Verb::xforward:
            if (!greeted_)
                add(out, {503, "5.5.1", "Error: send LHLO first"});
            else
                xforward(cmd, out);
            break;
        case lmtp::Verb::rset:
            reset();
            add(out, {250, "2.0.0", "Ok"});
            break;
        case lmtp::Verb::noop:
            add(out, {250, "2.0.0", "Ok"});
            break;
        case lmtp::Verb::vrfy:
            add(out, {252, "2.5.2", "Cannot VRFY user; try RCPT"});
            break;
        case lmtp::Verb::quit:
            out.reply = "221 2.0.0 Bye\r\n";
            out.close = true;
            break;
        default:
            add(out, {500, "5.5.2", "Error: command not recognized"});
            break;
    }
    return out;
}

// Moves what was decoded so far to the spool file, opening it the first time.
void LmtpSession::spill() {
    lmtp::DataDecoder& dec = *decoder_;
    if (!spool_ && !spool_error_) {
        auto sp = open_spool(cfg_.mail_root, rcpts_, log_id());
        if (sp)
            spool_.emplace(std::move(*sp));
        else
            spool_error_ = sp.error();
    }
    if (spool_ && !spool_error_) {
        if (auto w = spool_->append(dec.message()); !w) spool_error_ = w.error();
    }
    dec.drain();  // after a spool error too: the rest is read and dropped
}

std::size_t LmtpSession::data(std::string_view chunk, Output& out) {
    if (!decoder_) return 0;
    lmtp::DataDecoder& dec = *decoder_;
    const std::size_t used = dec.feed(chunk);
    // Above the threshold the message goes to the spool file as it is decoded.
    if (!dec.overflow() &&
        (spool_ || spool_error_ || dec.message().size() > cfg_.spool_threshold)) {
        spill();
    }
    if (dec.done()) {
        finish_data(out);
        decoder_.reset();
        spool_.reset();
        spool_error_.reset();
        reset();
    }
    return used;
}

void LmtpSession::finish_data(Output& out) {
    lmtp::DataDecoder& dec = *decoder_;
    if (dec.overflow()) {
        log::info("{}: message of {} octets exceeds the limit of {}", log_id(), dec.octets(),
                  cfg_.size_limit);
        for (std::size_t i = 0; i < rcpts_.size(); ++i) add(out, Store::too_big());
    } else if (spool_ || spool_error_) {
        Result<std::string_view> whole =
            spool_error_ ? Result<std::string_view>(*spool_error_) : spool_->view();
        if (whole) {
            for (const auto& r : store_.deliver(env_, *whole, rcpts_)) add(out, r);
        } else {
            log::error("{}: from=<{}>: {}", log_id(), env_.sender, whole.error().message);
            store_.count_tempfail("storage", rcpts_.size());
            for (std::size_t i = 0; i < rcpts_.size(); ++i) {
                add(out, {452, "4.3.1", "Insufficient system storage"});
            }
        }
    } else {
        for (const auto& r : store_.deliver(env_, dec.message(), rcpts_)) add(out, r);
    }
}

void LmtpSession::data_lost() {
    if (!decoder_) return;
    log::info("{}: connection lost during DATA; nothing acknowledged", log_id());
    decoder_.reset();
    spool_.reset();
    spool_error_.reset();
    reset();
}

}  // namespace pampero::store
