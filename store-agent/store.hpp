// store.hpp - what pampero-store decides and does for each recipient.
//
// The LMTP session calls accept_recipient() at RCPT and deliver() after DATA; this is the
// one place where directory answers and delivery outcomes become LMTP replies:
//   address malformed / escaping the mail root     501 5.1.3 / 550 5.1.1 (never a path)
//   domain not ours, no such user                   550 5.1.1
//   directory or configuration trouble              451 4.3.0 (retry; never a 5xx)
//   over quota                                      552 5.2.2 (452 4.2.2 when configured)
//   write error, full disk, fsync failure           452 4.3.1, nothing left in new/
//   user held by another node                       forwarded there, its reply relayed
//   delivered                                       250 2.0.0, only after fsync+rename+fsync
// Verdict: the message's X-Spam-Score counts only when its X-Spam-Signature verifies
// with a key of `verdict_keys` (scan/verdict_signature.hpp) and is at most
// store.verdict_max_age old. Otherwise store.unsigned (no signature: Postfix's own
// bounces, local mail that skipped the milter, a forger on the LMTP socket) or
// store.bad_signature (one that fails: forged, tampered, unknown key, too old) decides
// for every local recipient: inbox (filed as if unscored), spam (the spam folder) or
// tempfail (451 4.7.0, the MTA keeps it queued). The sender's own X-Spam-* headers never
// choose the folder. White/black lists and contacts come from the directory and apply
// whatever the verdict. No key file configured: every message is unsigned. Copies
// forwarded to another node go as they came; that node verifies them itself.
// Folder: scan::decide() on the verified score, the owner's level and lists, as
// the milter does. "inbox" files into INBOX; "spam" into the spam folder. "reject" (the
// milter refuses those while the sender is connected) is filed into the spam folder too:
// refusing here would make the MTA bounce to a forged sender, and no mail is dropped.
// During a migration a user has two locations; each gets the message (a temporary
// failure of either makes the recipient's reply temporary: a retry may duplicate a copy,
// never lose one).
// Moves (issue 12): a node asked to deliver a forwarded (XPAMPERO-LOCAL) copy for a user
// with no location on it answers 451 4.1.6 (lmtp::kMovedEnhanced), not 4.3.0. The node
// that forwarded it, its directory cache older than that node's, takes that location as
// gone: when another location of the recipient took the message (its own copy, or another
// node's), the recipient's reply is that one, 250, and no retry delivers it twice. When no
// other location took it, the 451 stands (the MTA retries once the caches agree).
// Thread-safety: every method may be called from many sessions at once.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lmtp_codec.hpp"
#include "maildir.hpp"
#include "pampero/common/config.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/endpoint.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/verdict/levels.hpp"
#include "pampero/verdict/verdict_signature.hpp"
#include "store_metrics.hpp"

namespace pampero::store {

// Everything a reload may change, swapped as a whole (see design: "reload is a swap").
struct Snapshot {
    Config config;
    scan::Levels levels;
    Endpoint lmtp;
    Endpoint socketmap;
    std::map<std::string, Endpoint> nodes;                  // by name; includes this node
    std::shared_ptr<const scan::VerdictKeys> verdict_keys;  // nullptr: none configured

    // The LMTP endpoint of a storage node; nullptr when unknown.
    const Endpoint* node(const std::string& name) const;
};

Result<std::shared_ptr<const Snapshot>> load_snapshot(const std::string& config_path);

// The store's holder of its current Snapshot (common's one reload holder).
using SnapshotHolder = pampero::Snapshot<const Snapshot>;

// One mailbox a recipient's copy goes to.
struct Target {
    std::string user;  // the directory's user
    std::string node;
    std::string root;         // absolute maildir (local targets only)
    std::uint64_t quota = 0;  // bytes, 0: none
};

struct Recipient {
    std::string address;               // normalized, as the RCPT named it
    std::optional<std::string> owner;  // whose level and lists decide the folder
    std::optional<int> level;
    std::vector<Target> local;
    std::vector<Target> remote;
};

struct Envelope {
    std::string sender;  // as given in MAIL FROM ("" for <>)
    std::string session_id;
    std::string helo;
    std::string queue_id;  // the MTA's, from XFORWARD IDENT; "" when it sent none
};

// Pure helpers, exposed for tests. Header lookups read only the header section.
// message_spam_score() is the header as written, unverified: filing never uses it.
std::optional<double> message_spam_score(std::string_view message);
std::string message_queue_id(std::string_view message);  // from the first Received: "id X"

class Store {
  public:
    // `metrics`: where deliveries are counted (store_metrics.hpp); nullptr: nowhere.
    Store(Directory& directory, SnapshotHolder& snapshot, StoreMetrics* metrics = nullptr)
        : dir_(directory), snap_(snapshot), metrics_(metrics) {}

    // `log_id` starts its log lines (the queue id when the MTA sent one).
    std::variant<Recipient, lmtp::Reply> accept_recipient(const std::string& path, bool local_only,
                                                          std::optional<std::uint64_t> size_hint,
                                                          const std::string& log_id = "");

    // One reply per recipient, in order. `message` has LF line ends. Log lines name
    // env.queue_id, else the queue id in the message's first Received:, else the session.
    std::vector<lmtp::Reply> deliver(const Envelope& env, std::string_view message,
                                     const std::vector<Recipient>& recipients);

    // Over-size message: the same reply for everyone.
    static lmtp::Reply too_big() { return {552, "5.3.4", "Message size exceeds fixed limit"}; }

    // A temporary failure the session answered itself (a spool that failed), `n` times.
    void count_tempfail(const char* cause, std::size_t n = 1) {
        if (metrics_) metrics_->tempfails.get({cause}).inc(n);
    }

  private:
    std::variant<Recipient, lmtp::Reply> check_recipient(const std::string& path, bool local_only,
                                                         std::optional<std::uint64_t> size_hint,
                                                         const std::string& log_id);
    lmtp::Reply over_quota_reply(const Snapshot& s) const;
    lmtp::Reply deliver_local(const Snapshot& s, const Envelope& env, const Recipient& r,
                              const Target& t, const std::string& folder, std::string_view message,
                              const std::string& qid);
    void maybe_clean_tmp(const std::string& folder_dir);

    Directory& dir_;
    SnapshotHolder& snap_;
    StoreMetrics* metrics_;
    DirSync sync_;
    std::mutex clean_mu_;
    std::map<std::string, long> cleaned_;  // folder -> last tmp/ cleanup (steady seconds)
};

}  // namespace pampero::store
