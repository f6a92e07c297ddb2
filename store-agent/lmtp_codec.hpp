// lmtp_codec.hpp - LMTP (RFC 2033) commands and replies as bytes in, structs out.
//
// Pure: no sockets, no clocks, no allocation beyond the returned values; safe to call
// from any thread. The session (lmtp_session.cpp) feeds it one command line at a time
// and the DATA bytes as they come.
//
// Bounds (a peer controls every byte):
//   - a command line is at most kMaxCommandLine octets including CRLF (RFC 5321
//     4.5.3.1.4 says 512; we allow room for ESMTP parameters); a longer line is answered
//     "500 5.5.2" by the session, which then skips to the next LF;
//   - a path (inside <>) is at most kMaxPath octets (RFC 5321 4.5.3.1.3: 256);
//   - at most kMaxParams ESMTP parameters per MAIL/RCPT, and attributes per XFORWARD,
//     whose values are at most kMaxXforwardValue octets once decoded (Postfix's
//     XFORWARD_README: 255);
//   - the DATA decoder keeps at most `limit` octets of the message and then only looks
//     for the end marker, so an oversized message costs no memory (the session answers
//     "552 5.3.4" for each recipient).
// Errors: parse_command() returns the reply the session must send for a malformed
// command (500 syntax/unknown, 501 bad argument, 555 unsupported parameter); the
// session sends it and goes on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pampero::store::lmtp {

constexpr std::size_t kMaxCommandLine = 2048;
constexpr std::size_t kMaxPath = 256;
constexpr std::size_t kMaxParams = 10;
constexpr std::size_t kMaxXforwardValue = 255;

// Our private RCPT parameter: "deliver only the locations on this node". Sent by one
// pampero-store to another when forwarding, so a forwarded copy is never forwarded again.
constexpr std::string_view kLocalOnlyParam = "XPAMPERO-LOCAL";

// The enhanced code (RFC 3463 X.1.6, "destination mailbox has moved") with which a
// pampero-store answers a XPAMPERO-LOCAL recipient that has no location on this node any
// more: "451 4.1.6". Temporary, so any other client retries; the forwarding pampero-store
// reads it as "this location is gone" (store.hpp, "Moves"), which is what keeps a message
// from landing twice right after a move is finished.
constexpr std::string_view kMovedEnhanced = "4.1.6";

struct Reply {
    int code = 250;
    std::string enhanced;  // "2.1.5"; empty for none (220/221 greetings keep it too)
    std::string text;

    bool positive() const { return code >= 200 && code < 400; }
    bool temporary() const { return code >= 400 && code < 500; }
    // "250 2.1.5 text\r\n"
    std::string wire() const;
};

// Multi-line reply ("250-a\r\n250-b\r\n250 c\r\n"): every line but the last uses '-'.
std::string wire_multiline(int code, const std::vector<std::string>& lines);

enum class Verb { lhlo, helo, ehlo, mail, rcpt, data, rset, noop, quit, vrfy, xforward, unknown };

struct Command {
    Verb verb = Verb::unknown;
    std::string argument;  // LHLO's host name; NOOP's text
    std::string path;      // MAIL/RCPT: the address inside <>, "" for <>
    // MAIL/RCPT: ESMTP parameters; XFORWARD: its attributes, xtext-decoded. Keyword
    // upper-cased.
    std::vector<std::pair<std::string, std::string>> params;
    std::optional<std::uint64_t> size;  // MAIL SIZE=
    bool local_only = false;            // RCPT XPAMPERO-LOCAL
};

struct Parsed {
    std::optional<Command> command;
    std::optional<Reply> error;  // set when command is not
};

// `line` is one command line without its CRLF (or LF).
Parsed parse_command(std::string_view line);

// DATA decoding: dot-unstuffing, CRLF -> LF (Maildir stores LF), and the end marker
// "CRLF.CRLF" (a bare LF is accepted as a line end too). Feed chunks as they arrive.
class DataDecoder {
  public:
    explicit DataDecoder(std::size_t limit) : limit_(limit) {}

    // Consumes bytes up to and including the end marker; returns how many it consumed
    // (the rest belongs to the next pipelined command).
    std::size_t feed(std::string_view chunk);
    bool done() const { return done_; }
    bool overflow() const { return overflow_; }
    // The message with LF line ends; valid when done() and not overflow(). After drain()
    // it holds only what was decoded since (the session spools big messages to a file,
    // draining as it goes, so the limit counts every octet kept, drained or not).
    std::string& message() { return out_; }
    void drain() { out_.clear(); }
    std::uint64_t octets() const { return octets_; }

  private:
    void emit(char c);
    enum class State { line_start, dot, dot_cr, in_line, cr };
    std::size_t limit_;
    State state_ = State::line_start;
    bool done_ = false;
    bool overflow_ = false;
    std::uint64_t octets_ = 0;
    std::uint64_t kept_ = 0;  // octets of the message so far, drained ones included
    std::string out_;
};

// The reverse, for forwarding to another node: LF -> CRLF, dot-stuffing, end marker.
std::string encode_data(std::string_view message_lf);

// Parses one server reply line "250-2.1.5 text" / "250 text"; nullopt when malformed.
// `more` tells whether a continuation line follows.
struct ReplyLine {
    Reply reply;
    bool more = false;
};
std::optional<ReplyLine> parse_reply_line(std::string_view line);

}  // namespace pampero::store::lmtp
