// policy_codec.hpp - Postfix's policy delegation protocol (SMTPD_POLICY_README), pure.
//
// A request is `name=value` lines, each ending in "\n", closed by an empty line; the reply
// is one `action=...` line and an empty line. Many requests follow one another on one
// connection, and Postfix may send the next before reading nothing else (it waits for each
// reply, but the decoder does not rely on that: pipelined requests come out in order).
//
// PolicyDecoder takes bytes as they arrive and hands out whole requests. A request that
// breaks a bound or the syntax is still read to its closing empty line (so the stream stays
// in step) and comes out with `error` set, naming the first problem; the server answers it
// with malformed_reply() and goes on with the next request on the same connection.
//
// Bounds on what a peer can make us hold, whatever it sends:
//   kMaxLine        octets of one line without its "\n" (Postfix's own attribute values
//                   are short: the longest, ccert_subject/ccert_issuer, are X.509 names
//                   cut by Postfix at a few hundred octets). A longer line is not kept:
//                   its octets are skipped up to its "\n", the request is malformed.
//   kMaxName        octets of an attribute name (Postfix's longest is 23).
//   kMaxAttributes  attributes in one request (Postfix 3.7 sends 32); more: malformed, the
//                   rest of the request is read and dropped.
// So one decoder holds at most kMaxLine octets of a partial line and kMaxAttributes lines.
// Syntax: a line without '=' or with an empty name or a name that is not [A-Za-z0-9_-],
// and a request without `request=` (or one other than smtpd_access_policy), are malformed.
// A "\r" before "\n" is taken off (a person typing into telnet/nc).
// Thread-safety: a decoder belongs to one connection; the functions are pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pampero::policyd {

constexpr std::size_t kMaxLine = 4096;
constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxAttributes = 128;

struct PolicyRequest {
    std::vector<std::pair<std::string, std::string>> attributes;  // in the order received
    std::string error;  // empty: well formed; else the first problem, for the reply and log

    // The first value of `name`, or nullopt.
    std::optional<std::string_view> get(std::string_view name) const;
    // The same, "" when absent.
    std::string_view value(std::string_view name) const;
};

class PolicyDecoder {
  public:
    // Consumes all of `data`; every request it completes is appended to `out`.
    void feed(std::string_view data, std::vector<PolicyRequest>& out);
    // True when nothing of a request is buffered (between requests).
    bool idle() const {
        return line_.empty() && !skipping_ && current_.attributes.empty() &&
               current_.error.empty() && dropped_ == 0;
    }

  private:
    void line(std::string_view l, std::vector<PolicyRequest>& out);
    void fail(std::string why);

    std::string line_;         // the partial line so far (at most kMaxLine octets)
    bool skipping_ = false;    // inside a line over kMaxLine: dropping to its "\n"
    std::size_t dropped_ = 0;  // lines of this request not kept (over a bound)
    PolicyRequest current_;
};

// "action=ACTION\n\n". Newlines inside `action` become spaces (a reply is one line), so
// a reason built from peer input can never end the reply early or forge a second one.
std::string encode_reply(std::string_view action);

// The action for a malformed request: defer, naming the problem. DEFER_IF_PERMIT (access(5))
// never permits and never rejects for good: if a later restriction would permit, Postfix
// answers 450 4.7.1 with this text; a rejecting one still rejects.
std::string malformed_action(std::string_view problem);

}  // namespace pampero::policyd
