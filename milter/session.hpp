// session.hpp - one SMTP connection as the milter sees it, free of the milter protocol.
//
// The milter dialog (dialog.cpp) feeds a Session and applies what it returns;
// everything that decides lives here, so it is unit-tested without an MTA.
//
// Order of events and what each decides:
//   connect      a banned client IP gets 421 4.7.0 (the MTA closes the connection)
//   mail_from    authenticated senders ({auth_authen}) are not scored
//   rcpt         with milter.relay_check, relay and rates as pampero-policyd decides them
//                (policy/decision.hpp: 554 5.7.1 relay denied, 450 4.7.1 over a rate);
//                a client listed by an `action: reject` blocklist: 554 5.7.1, unless the
//                sender is white-listed for (or a contact of) that recipient;
//                local domain + unknown user: 550 5.1.1, counted for the client IP; at the
//                guard's limit the IP is banned and this RCPT gets 421 4.7.0. Recipients
//                the MTA refused itself (SMFIP_RCPT_REJ) are counted the same way.
//   header       every header kept, up to milter.max_headers fields and max_header_bytes
//                bytes (name, ": ", value, CRLF); past either, no more are kept and the
//                message will be refused, never scanned without them (no header is ever
//                dropped silently: a forged X-Spam-* or a Content-Transfer-Encoding hidden
//                behind thousands of fillers is seen like any other)
//   body         kept up to max(milter.max_message_memory, scan_limit), or
//                antivirus.max_size when larger (ClamAV wants the whole message): the rules
//                read a bounded share of every text part, so later parts must be kept; a
//                longer body is cut and the message scanned as partial (SCAN_TRUNCATED)
//   end          over a header bound: 552 5.3.4, whoever sent it (at end of message: the
//                server negotiates SMFIP_NR_HDR, so a header gets no reply);
//                a virus refuses the message (554 5.7.1), whoever sent it; otherwise
//                scored once; each recipient decided by scan::decide(); all refused:
//                550 5.7.1; some: they are removed; every incoming X-Spam-* deleted
//                (by index, wherever it is), pampero's added ("scan=partial" in
//                X-Spam-Status when a bound cut what the rules read) and signed
//                (X-Spam-Signature, see scan/verdict_signature.hpp). Authenticated
//                senders get a signed "not scored" verdict (score 0.0) so the store
//                files them by their recipients' lists rather than as unsigned mail.
// Any dependency failure (directory, state) answers 451 4.3.0: never a 5xx, never a loss.
// Not thread-safe: the server calls one connection's Session from one handler at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "milter_metrics.hpp"
#include "pampero/antivirus/antivirus.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/lists/blocklists.hpp"
#include "pampero/policy/decision.hpp"
#include "pampero/policy/guard.hpp"
#include "pampero/rules/engine.hpp"
#include "pampero/scan/scan_message.hpp"
#include "pampero/verdict/decision.hpp"
#include "pampero/verdict/spam_headers.hpp"
#include "pampero/verdict/verdict_signature.hpp"

namespace pampero::milter {

using policy::Guard;  // the guard is shared with pampero-policyd (policy/)

struct Reply {
    enum class Kind { proceed, reject, tempfail, shutdown } kind = Kind::proceed;
    std::string rcode;  // "550"
    std::string xcode;  // "5.1.1"
    std::string text;

    static Reply ok() { return {}; }
    static Reply reject(std::string r, std::string x, std::string t) {
        return {Kind::reject, std::move(r), std::move(x), std::move(t)};
    }
    static Reply tempfail(std::string r, std::string x, std::string t) {
        return {Kind::tempfail, std::move(r), std::move(x), std::move(t)};
    }
    // 421: the MTA says it and closes the connection.
    static Reply shutdown(std::string t) { return {Kind::shutdown, "421", "4.7.0", std::move(t)}; }
};

// What the end of a message changes, for the server to send the MTA.
struct EndOfMessage {
    Reply reply;
    std::vector<std::string> delete_recipients;                    // as the MTA gave them
    std::vector<std::pair<std::string, int>> delete_headers;       // name, 1-based index
    std::vector<std::pair<std::string, std::string>> add_headers;  // name, value
    std::string log_line;                                          // the one summary line
};

struct Services {
    Directory& directory;
    Guard& guard;
    scan::EngineHolder& engine;
    scan::AntivirusWatcher* antivirus;  // nullptr: no virus scanning
    AntivirusConfig antivirus_config;
    Snapshot<scan::Blocklists>* blocklists;  // nullptr: no DNSBL/URIBL
    // The key file signing X-Spam-Signature; nullptr or empty: verdicts go unsigned
    // (and pampero-store will not file by them).
    Snapshot<const scan::VerdictKeys>* verdict_keys = nullptr;
    MilterMetrics* metrics = nullptr;  // nullptr: nothing counted (tests)
    // milter.relay_check: pampero-policyd's relay and rate decisions at RCPT and the
    // message count at end of message (policy/decision.hpp); nullptr: off.
    policy::Engine* relay = nullptr;
    // The statistical classifier (scanners/classifier); nullptr: none. Abstains by itself
    // when its store is missing (see scan_classifier.hpp).
    const classifier::ScanClassifier* classifier = nullptr;
    // classifier.model domain or user: the recipients' own models (model_set.hpp), with
    // `classifier` as their fallback; nullptr: the site model scores everybody.
    const classifier::ModelSet* models = nullptr;
};

class Session {
  public:
    Session(Services& services, std::string connection_id);

    const std::string& id() const { return id_; }
    // The MTA's queue id, once it has one; log lines use it from then on.
    void set_queue_id(const std::string& qid);

    Reply connect(const std::string& client_ip);
    // Always proceeds: the server negotiates SMFIP_NR_MAIL (no reply to MAIL) on that.
    // `auth_user`: the SASL login ({auth_authen}) for relay_check's rates.
    Reply mail_from(const std::string& sender, bool authenticated,
                    const std::string& auth_user = "");
    Reply rcpt(const std::string& recipient, bool rejected_by_mta);
    // With SMFIP_HDR_LEADSPC the MTA hands header values over exactly as sent (leading
    // space and folding kept) and expects added values the same way; without it values
    // come trimmed and the MTA inserts the space itself.
    void set_verbatim_headers(bool on) { verbatim_headers_ = on; }
    void header(std::string_view name, std::string_view value);
    void body(std::string_view chunk);
    EndOfMessage end_of_message();
    // RSET, or the MTA aborted the transaction: forget the message, keep the connection.
    void reset_message();
    // The one place an Error becomes the milter's reply (result.hpp): logged with `what`,
    // answered 451 4.3.0 whatever its kind (a dependency or a bug here is never the
    // sender's fault: never a 5xx). The dialog uses it too, for a verdict it cannot encode.
    // `cause` is a MilterMetrics::tempfails label: directory, state, antivirus, relay_check,
    // internal.
    Reply temporary_failure(const char* cause, const std::string& what, const Error& e);

  private:
    struct Recipient {
        std::string as_given;              // what the MTA handed over, for smfi_delrcpt
        std::string address;               // normalized
        std::optional<std::string> owner;  // the local user whose level and lists apply
        std::optional<int> level;
    };

    EndOfMessage decide_end_of_message();
    void count_verdict(const char* verdict);
    // The 552 5.3.4 reply and the log's reason when the header crossed a bound.
    std::optional<std::pair<Reply, std::string>> over_header_bounds() const;
    Reply count_unknown(const std::string& address);
    // The `action: reject` listing of the client, looked up once per connection.
    const std::optional<std::string>& client_listing();
    // X-Spam-Score/Level/Status, and X-Spam-Signature when a key is configured.
    void add_verdict_headers(EndOfMessage& out, const scan::SpamHeaders& h);

    Services& s_;
    std::string id_;
    std::string client_ip_;
    std::string sender_;
    bool authenticated_ = false;
    std::vector<Recipient> recipients_;
    std::vector<std::pair<std::string, std::string>> headers_;
    std::size_t header_count_ = 0;  // every header the MTA sent, kept or not
    std::size_t header_bytes_ = 0;
    std::string body_;
    bool body_cut_ = false;  // more body came than body() keeps
    std::shared_ptr<const scan::Engine> engine_;
    std::optional<std::optional<std::string>> client_listing_;
    bool verbatim_headers_ = false;
    std::string auth_user_;           // relay_check: the SASL login of this message
    std::uint64_t messages_ = 0;      // relay_check: numbers each message (rates per message)
    std::string instance_;            // relay_check: this message's id, for recipients_per_message
    scan::VerdictCollector verdict_;  // what X-Spam-Signature covers: the whole message
};

}  // namespace pampero::milter
