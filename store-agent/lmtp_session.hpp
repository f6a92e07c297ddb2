// lmtp_session.hpp - the LMTP (RFC 2033) dialog of one connection, without the connection.
//
// LmtpSession is fed one decoded command line at a time, and the raw DATA bytes while a
// message is being received; it answers with the reply bytes to send and whether the
// connection must then be closed. It owns the transaction state (LHLO seen, MAIL, the
// accepted recipients), asks the Store at RCPT (accept_recipient) and after DATA
// (deliver, one reply per recipient), and keeps a big message in a spool file
// (spool.hpp) instead of memory. Sockets, threads, timeouts and the shutdown flag stay
// with Server::lmtp_session, which also answers the 421s for those.
//
// Bounds (a peer controls every byte; see lmtp_codec.hpp for the command line's):
//   - at most kMaxRecipients recipients per transaction, then "452 4.5.3";
//   - more than kMaxErrors bad commands (over-long, malformed, unknown) per connection:
//     "421 4.7.0" and close;
//   - message size: MAIL SIZE= above the limit gets "552 5.3.4"; a message growing past
//     it is read to its end, kept no further, and "552 5.3.4" goes to every recipient;
//   - above spool_threshold the decoded message goes to an unnamed file in the first
//     local target's tmp/ (else mail_root/.spool/), so a session holds at most the
//     threshold plus one chunk in memory.
// Queue id: every log line about a message names the MTA's queue id. The LHLO reply
// offers XFORWARD IDENT; Postfix's lmtp client with lmtp_send_xforward_command = yes then
// sends "XFORWARD IDENT=<queue id>" before each MAIL (Postfix's XFORWARD_README; the
// attributes are forgotten at the end of the transaction, RSET or DATA's end). Without it
// the lines from DATA on use the queue id of the first Received: header ("with LMTP id"
// is Postfix's own), and RCPT's lines the session id. IDENT is used for logging only and
// only when it looks like a queue id (1..kMaxQueueId letters and digits): whoever may
// speak LMTP here (store.lmtp_clients) could send anything.
// Errors: a spool failure (full disk) is "452 4.3.1" for every recipient; Store turns
// its own failures into replies (never a 5xx for a dependency). Nothing throws.
// Not thread-safe: one connection's thread owns its LmtpSession.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmtp_codec.hpp"
#include "spool.hpp"
#include "store.hpp"

namespace pampero::store {

constexpr std::size_t kMaxRecipients = 1000;
constexpr int kMaxErrors = 100;
constexpr std::size_t kMaxQueueId = 32;

struct LmtpSessionConfig {
    std::string hostname;               // in the greeting and the LHLO reply
    std::string id;                     // "lmtp-1f", in logs and Envelope::session_id
    std::uint64_t size_limit = 0;       // store.message_size_limit
    std::uint64_t spool_threshold = 0;  // store.spool_threshold
    std::string mail_root;              // store.mail_root, where spool files go
};

class LmtpSession {
  public:
    // What to send, and whether to close the connection once it is sent.
    struct Output {
        std::string reply;
        bool close = false;
    };

    LmtpSession(Store& store, LmtpSessionConfig config);

    // "220 host LMTP pampero-store ready\r\n"
    std::string greeting() const;

    // One command line without its CRLF (at most lmtp::kMaxCommandLine octets with it).
    Output command(std::string_view line);
    // The connection's line was longer than lmtp::kMaxCommandLine (it skips to its LF).
    Output line_too_long();

    // True after "354" until the end marker was fed: the caller feeds raw bytes to data().
    bool in_data() const { return decoder_.has_value(); }
    // Consumes DATA bytes up to and including the end marker and returns how many (the
    // rest is the next pipelined command). When the marker is seen, the per-recipient
    // replies are in `out` and in_data() turns false.
    std::size_t data(std::string_view chunk, Output& out);
    // The connection went away during DATA: nothing is delivered or acknowledged.
    void data_lost();

    // A MAIL was accepted and not yet ended: a graceful stop lets it finish first.
    bool in_transaction() const { return mail_.has_value(); }

    // The queue id the log lines name now (XFORWARD IDENT, else the session id).
    const std::string& log_id() const { return env_.queue_id.empty() ? cfg_.id : env_.queue_id; }

  private:
    void reset();
    void xforward(const lmtp::Command& cmd, Output& out);
    void error(Output& out);
    void finish_data(Output& out);
    void spill();

    Store& store_;
    LmtpSessionConfig cfg_;
    bool greeted_ = false;
    std::optional<std::string> mail_;
    std::optional<std::uint64_t> size_hint_;  // MAIL ... SIZE=
    std::vector<Recipient> rcpts_;
    int errors_ = 0;
    Envelope env_;
    // While in DATA: the decoder, and the spool once the message outgrew the threshold.
    std::optional<lmtp::DataDecoder> decoder_;
    std::optional<Spool> spool_;
    std::optional<Error> spool_error_;
};

}  // namespace pampero::store
