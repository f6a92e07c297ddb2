// dialog.hpp - the milter protocol of one MTA connection, apart from its transport: fed
// one decoded packet at a time (protocol.hpp's Packet), it keeps the macros, knows which
// step owes a reply under what was negotiated, calls the Session and appends the reply
// bytes. No sockets, buffers or timers: the server (server.cpp) reads, frames and writes.
//
// What it negotiates (protocol.hpp names the bits), and why:
//   actions   add headers, change headers, delete recipients: what EndOfMessage asks for.
//   RCPT_REJ  the MTA shows us recipients it refused itself ({rcpt_mailer} "error"), so the
//             guard counts a dictionary attack that Postfix's own checks stop first.
//   HDR_LEADSPC  header values exactly as sent, so rules see what the client wrote.
//   NOUNKNOWN    unknown SMTP commands are none of our business.
//   NR_HDR, NR_BODY, NR_EOH  no reply per header, body chunk and end of headers: the
//             MTA streams them and waits only at end of message. (NR_EOH rather than
//             NOEOH: same round trips saved, and clients that always send EOH, such as
//             miltertest, keep working.)
//   NOHELO, NODATA  those stages decide nothing here. Postfix still queues their macros,
//             in its output buffer: they leave with the next command it waits on, no
//             extra packet (milter8_event writes macros and command, and flushes only
//             when it reads a reply).
//   NR_MAIL   MAIL decides nothing either (Session::mail_from always proceeds): no reply,
//             so MAIL travels with the first RCPT. With these three a message costs four
//             round trips (negotiation, connect, each RCPT, end of message) instead of
//             seven. A client that sends a skipped command anyway still gets its reply.
//
// Replies: '%' in a reply text is doubled (Postfix undoes that, as sendmail used the text
// as a format). At end of message every change (recipients deleted, headers changed and
// added) and the verdict leave in one append; a change that cannot be encoded sends none
// of them and answers 451 4.3.0 instead, so the MTA retries rather than delivering to a
// recipient we meant to refuse.
//
// Errors: a protocol error (protocol.hpp), a command before option negotiation, a
// version below 2 or a client address that does not parse gets 't' (tempfail) if the MTA
// waits for a reply, one log line with the connection's name, and feed() says to close
// the connection.
//
// Bounds: before option negotiation a packet may announce at most
// proto::kMaxNegotiationLength octets (max_packet_length(), which the server passes to
// proto::next_packet()); macros are the MacroStore's; headers and body the Session's.
//
// Thread-safety: none; a connection's Dialog is used from one handler at a time. Session
// calls run inline and may block (SQLite, ClamAV, DNS).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "macro_store.hpp"
#include "protocol.hpp"
#include "session.hpp"

namespace pampero::milter {

// The milter packet for a Session's Reply, appended to `out`: 'c' to proceed; 'r' or 't'
// for a refusal without a code; otherwise 'y' "rcode xcode text", as smfi_setreply wrote
// it, with '%' doubled. False when that line cannot be encoded (a NUL in the text, or
// longer than a packet): then 'r' or 't' alone was appended.
bool encode_reply(std::string& out, const Reply& r);

class Dialog {
  public:
    // `new_name` names each Session ("conn-N" in the logs): called once here and again
    // for each QUIT_NC (a new connection on the same socket).
    Dialog(Services& services, std::function<std::string()> new_name);

    // Handles one packet; its reply, if one is due, is appended to `out`. False: the
    // dialog is over (QUIT, or an error answered as above): write `out`, then close.
    bool feed(const proto::Packet& packet, std::string& out);
    // The server's framing failed (proto::next_packet()): logs it, appends 't' to `out`.
    // The connection must be closed after writing `out`.
    void framing_error(std::string_view why, std::string& out);

    // The bound for proto::next_packet(): small until option negotiation.
    std::size_t max_packet_length() const {
        return negotiated_ ? proto::kMaxPacketLength : proto::kMaxNegotiationLength;
    }
    // MAIL seen, no end of message or abort yet.
    bool in_transaction() const { return in_transaction_; }
    // The current Session's name, for the server's log lines.
    const std::string& name() const { return name_; }

  private:
    bool reply_due(char command) const;
    void protocol_error(std::string_view why, bool reply, std::string& out);
    void answer(const Reply& r, std::uint32_t no_reply_flag, std::string& out);
    void answer_continue(std::uint32_t no_reply_flag, std::string& out) {
        answer(Reply::ok(), no_reply_flag, out);
    }
    void pick_up_queue_id();
    void end_transaction();
    void new_session();

    bool on(const proto::OptionNegotiation& o, std::string& out);
    bool on(const proto::Macros& m, std::string& out);
    bool on(const proto::Connect& c, std::string& out);
    bool on(const proto::Helo& h, std::string& out);
    bool on(const proto::Mail& m, std::string& out);
    bool on(const proto::Rcpt& r, std::string& out);
    bool on(const proto::Data& d, std::string& out);
    bool on(const proto::Header& h, std::string& out);
    bool on(const proto::EndOfHeaders& e, std::string& out);
    bool on(const proto::Body& b, std::string& out);
    bool on(const proto::EndOfMessage& e, std::string& out);
    bool on(const proto::Abort& a, std::string& out);
    bool on(const proto::Quit& q, std::string& out);
    bool on(const proto::QuitNewConnection& k, std::string& out);
    bool on(const proto::Unknown& u, std::string& out);

    Services& services_;
    std::function<std::string()> new_name_;
    std::string name_;
    std::unique_ptr<Session> session_;
    MacroStore macros_;
    std::uint32_t protocol_ = 0;  // negotiated SMFIP_* flags
    bool negotiated_ = false;
    bool in_transaction_ = false;
};

}  // namespace pampero::milter
