// radius_accounting.hpp - RADIUS accounting (RFC 2866) over the common State: which
// subscriber holds which address, for the relay and rate-limit decisions (policy/).
//
// handle() takes one authenticated-or-not datagram from a known NAS and says what to send
// back. Pure over State: no socket, no clock of its own (State's TTLs do the expiry).
//
// What it does, per Acct-Status-Type:
//   Start, Interim-Update  Framed-IP-Address (or Framed-IPv6-Address) -> User-Name, for
//                          interval * interim_factor + 60 s when the packet carries
//                          Acct-Interim-Interval, else session_ttl (bounded 60 s..30 days).
//                          A newer Start for an address replaces whoever held it.
//   Stop                   removes the address's session only when it is the same session:
//                          the same NAS and the same Acct-Session-Id (or, when either side
//                          has no session id, the same User-Name). A Stop of an older session
//                          that arrives after the address was given to a new one (lost,
//                          delayed or retransmitted Stops are normal) is answered and
//                          ignored: it must not end the new customer's session.
//   Accounting-On/Off      the NAS restarted: every session it holds is removed.
//   anything else          answered, nothing recorded (RFC 2866: the server only records).
// A retransmission (same NAS address and port, identifier and Request Authenticator within
// duplicate_window, remembered by this process: radius_duplicates.hpp) is answered again
// without being recorded again: this matters for Accounting-On, whose replay would
// otherwise wipe sessions started since.
// The answer is built only after everything is recorded; when State fails the packet is
// dropped unanswered (RFC 2866 3: "MUST NOT transmit any Accounting-Response reply"), so
// the NAS sends it again. Every step is idempotent, so a half-recorded packet that is sent
// again ends in the same place.
// Drops without an answer, and why (RFC 2865 3 "silently discarded"): malformed packets
// (radius_packet.hpp bounds), codes other than Accounting-Request, a bad Request
// Authenticator, no Acct-Status-Type.
//
// State keys (Redis-shaped; <nas> is the NAS's source address; <ip> is canonical text as
// policy/'s subscriber_key() writes it: "192.0.2.1", "2001:db8::1", an IPv4-mapped IPv6
// address as its IPv4 one):
//   radius:ip:<ip>        User-Name, the subscriber (policy/'s StateSubscriberLookup reads
//                         it: the layout of pampero/policy/subscriber_lookup.hpp)
//   radius:session:<ip>   "<nas>\t<hex Acct-Session-Id>\t<unix time>\t<User-Name>": who
//                         holds <ip>, for Stop matching and `pamperoctl sessions`
//   radius:nas:<nas>      expiring set of the <ip>s that NAS gave out (Accounting-On/Off)
//   radius:nases          expiring set of the NASes that hold sessions (the session list)
// The two values of a session share its TTL; set members carry the same expiry.
// User-Name must be 1..253 octets without control characters (it is logged, listed and
// keys rate limits); a Start with another name is answered and not recorded (logged).
// Thread-safety: handle() and the listings may run on many threads at once (State is).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/state.hpp"
#include "radius_duplicates.hpp"
#include "radius_packet.hpp"

namespace pampero::radius {

inline constexpr std::string_view kIpKeyPrefix = "radius:ip:";
inline constexpr std::string_view kSessionKeyPrefix = "radius:session:";
inline constexpr std::string_view kNasKeyPrefix = "radius:nas:";
inline constexpr std::string_view kNasesKey = "radius:nases";
// All under the State's session namespace: the memory backend bounds them apart from the
// guard's bans (state.hpp, radius.max_sessions).
static_assert(kIpKeyPrefix.starts_with(kRadiusKeyPrefix) &&
              kSessionKeyPrefix.starts_with(kRadiusKeyPrefix) &&
              kNasKeyPrefix.starts_with(kRadiusKeyPrefix) &&
              kNasesKey.starts_with(kRadiusKeyPrefix));

struct AccountingSettings {
    std::chrono::seconds session_ttl{86400};
    int interim_factor = 3;
    std::chrono::seconds duplicate_window{30};
};

struct Outcome {
    enum class Kind {
        recorded,           // answered after recording (or after deciding nothing to record)
        retransmission,     // answered again, nothing recorded
        malformed,          // dropped: not a RADIUS packet within the bounds
        not_accounting,     // dropped: a code other than Accounting-Request
        bad_authenticator,  // dropped: wrong secret or altered packet
        state_failed,       // dropped: could not record; the NAS will send it again
    };
    Kind kind = Kind::malformed;
    std::string reply;   // the Accounting-Response when answered
    std::string detail;  // what happened, for the log (no secrets; names escaped)
};

// One session as listed by `pamperoctl sessions`.
struct SessionInfo {
    std::string ip;
    std::string user;
    std::string nas;
    std::string session_id;    // Acct-Session-Id, escaped for display
    std::int64_t updated = 0;  // unix time of the last Start/Interim
};

class Accounting {
  public:
    // `duplicates` remembers what was answered (its window is settings.duplicate_window).
    Accounting(State& state, AccountingSettings settings, DuplicateCache& duplicates);

    // One datagram from `nas` (source address text) and `port`, whose configured secret
    // is `secret`.
    Outcome handle(std::string_view datagram, const std::string& nas, std::uint16_t port,
                   std::string_view secret);

    // The sessions of every NAS that holds some; at most `limit` of them.
    Result<std::vector<SessionInfo>> sessions(std::size_t limit);
    // The session holding `ip`, if any (ip in any textual form; canonicalised).
    Result<std::optional<SessionInfo>> session(const std::string& ip);

  private:
    Result<std::string> record(const Packet& p, const std::string& nas);
    Status start(const Packet& p, const std::string& nas, const std::string& ip);
    Status stop(const Packet& p, const std::string& nas, const std::string& ip);
    Status drop_nas(const std::string& nas, std::size_t& dropped);

    State& state_;
    AccountingSettings settings_;
    DuplicateCache& duplicates_;
};

// The sessions live now: the distinct addresses in the NASes' sets (a session that moved
// to another NAS counts once). One set_members per NAS and a set of every address: for
// the metrics page (pampero_radius_sessions), not for every packet. Thread-safe as State.
Result<std::size_t> count_sessions(State& state);

// "192.0.2.1" / "2001:db8::1" in canonical text; nullopt when `ip` is no address.
std::optional<std::string> canonical_ip(std::string_view ip);

// Printable text of peer-supplied octets for logs and listings: control characters,
// backslash and non-ASCII octets as \xNN.
std::string escape(std::string_view raw);

}  // namespace pampero::radius
