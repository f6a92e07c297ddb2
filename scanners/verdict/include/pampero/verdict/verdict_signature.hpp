// verdict_signature.hpp - the spam verdict only pampero can write.
//
// pampero-store files a message by its X-Spam-Score header. Mail can reach the store
// without passing pampero-milter (Postfix's pickup without non_smtpd_milters, its own
// bounces, anyone who can connect to the LMTP socket), so the milter signs its verdict
// and the store believes X-Spam-Score only when the signature verifies:
//
//   X-Spam-Signature: v=1; k=KEYID; t=UNIXTIME; bh=BASE64; s=BASE64
//
//   bh  SHA-256 of the whole body with every SP, HT, CR and LF byte removed: the same
//       bytes whether the body is seen as the milter gets it (CRLF, in chunks) or as
//       the store gets it (LMTP, dot-unstuffed, LF), and after Postfix breaks lines
//       over its line length limit. The store advertises 8BITMIME, so Postfix never
//       re-encodes the body on the way.
//   s   HMAC-SHA256 with key KEYID over (one field a line, in this order)
//         "pampero-verdict-v1", k, t, X-Spam-Score, X-Spam-Status, Subject,
//         Message-ID, bh
//       where every header value is taken with its whitespace removed (folding, the
//       milter's leading space). The score and the tests are what the store files by;
//       Subject, Message-ID and the body are the message's identity, so a signature
//       lifted from one message fails on another. The per-recipient actions are not
//       signed: the store derives them again from the signed score and each recipient's
//       own level and lists (aliases and forwarding change the recipients on the way).
//
// Keys: a file named by `verdict_keys` in pampero.yaml, one key a line, "KEYID SECRET",
// '#' starts a comment. KEYID is [A-Za-z0-9._-]{1,64}; SECRET is hex (64 or more hex
// digits, even count) or else base64, at least 32 bytes either way. The FIRST key signs,
// every key verifies: rotate by adding the new key second everywhere (reload), moving it
// first (reload), and later dropping the old one. A file readable by others
// (mode & 0004) is refused, as ssh refuses such a private key.
//
// Errors: load/parse return ErrorKind::config with "FILE:LINE: what" (the secret is
// never echoed). verify never fails as a call: its outcome says unsigned / invalid and
// why, for the store's log line.
// Limits: a key file is at most 64 KiB and 100 keys; a signature header at most 1024
// bytes; a signature dated more than kVerdictClockSkew in the future is invalid.
// Thread-safety: VerdictKeys is immutable after load (share it as shared_ptr<const>);
// a BodyHash belongs to one message at a time; the free functions are reentrant.
// No GMime here: the store links this without the scanning engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero::scan {

constexpr std::size_t kVerdictKeyMinBytes = 32;
constexpr std::size_t kVerdictKeyFileMax = 64 * 1024;
constexpr std::size_t kVerdictKeysMax = 100;
constexpr std::size_t kVerdictSignatureMax = 1024;
constexpr std::int64_t kVerdictClockSkew = 3600;  // seconds a node's clock may run ahead

struct VerdictKey {
    std::string id;
    std::string secret;  // raw bytes
};

class VerdictKeys {
  public:
    // Reads and checks `path` (regular file, not readable by others, at least one key).
    static Result<std::shared_ptr<const VerdictKeys>> load(const std::string& path);
    // The file's text; `origin` names it in errors.
    static Result<VerdictKeys> parse(std::string_view text, const std::string& origin);

    const VerdictKey& signing() const { return keys_.front(); }  // never empty
    const VerdictKey* find(std::string_view id) const;
    const std::vector<VerdictKey>& keys() const { return keys_; }
    const std::string& origin() const { return origin_; }

  private:
    std::vector<VerdictKey> keys_;
    std::string origin_;
};

// A fresh secret for a key file: 32 bytes from OpenSSL's RAND_bytes, as 64 hex digits.
// Error (temporary) only when the random generator fails.
Result<std::string> new_verdict_secret();

// SHA-256 of a body with SP, HT, CR and LF removed, fed in chunks of any size.
class BodyHash {
  public:
    BodyHash();
    ~BodyHash();
    BodyHash(BodyHash&&) noexcept;
    BodyHash& operator=(BodyHash&&) noexcept;
    BodyHash(const BodyHash&) = delete;
    BodyHash& operator=(const BodyHash&) = delete;

    void update(std::string_view chunk);
    // Base64 of the digest; the hash starts over for the next body.
    std::string finish();
    void reset();

  private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
};

std::string body_hash(std::string_view body);  // one call of the above

// What the signature covers, as the message carries it (values as in the headers;
// whitespace does not matter). Absent headers are "".
struct VerdictFields {
    std::string score;       // X-Spam-Score
    std::string status;      // X-Spam-Status
    std::string subject;     // the first Subject
    std::string message_id;  // the first Message-ID
    std::string body_hash;   // body_hash() of the body, base64
};

// The X-Spam-Signature value (without a leading space).
std::string sign_verdict(const VerdictKey& key, std::int64_t unix_time, const VerdictFields& f);

// What the signature covers, collected while a message streams through the milter:
// the first Subject and Message-ID and the hash of the whole body (not only the part
// the rules scan). One message at a time; reset() between messages.
class VerdictCollector {
  public:
    void header(std::string_view name, std::string_view value);
    void body(std::string_view chunk) { body_.update(chunk); }
    // The X-Spam-Signature value over these and the milter's X-Spam-Score and
    // X-Spam-Status values. Call once per message.
    std::string sign(const VerdictKey& key, std::int64_t unix_time, std::string_view score,
                     std::string_view status);
    void reset();

  private:
    BodyHash body_;
    std::optional<std::string> subject_;
    std::optional<std::string> message_id_;
};

struct VerdictCheck {
    enum class Outcome { valid, unsigned_verdict, invalid };
    Outcome outcome = Outcome::unsigned_verdict;
    std::string reason;           // for the log: why unsigned or invalid
    std::string key_id;           // the k= tag, when one was read
    std::optional<double> score;  // the signed X-Spam-Score (valid only)
    std::int64_t signed_at = 0;   // the t= tag, when valid
};

// Checks a signature value against the fields the message carries. `keys` nullptr (no
// key file configured): every message is unsigned. `max_age` 0: no age limit.
VerdictCheck verify_verdict(const VerdictKeys* keys, std::string_view signature,
                            const VerdictFields& f, std::int64_t now, std::int64_t max_age);

// The whole check on a message as the store received it (header section, empty line,
// body; CRLF or LF). More than one X-Spam-Signature, X-Spam-Score or X-Spam-Status is
// invalid: only the milter writes them, after removing every incoming one.
VerdictCheck verify_message_verdict(const VerdictKeys* keys, std::string_view message,
                                    std::int64_t now, std::int64_t max_age);

const char* to_string(VerdictCheck::Outcome o);

}  // namespace pampero::scan
