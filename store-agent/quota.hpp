// quota.hpp - Maildir++ quota ("maildirsize"), the file Dovecot's maildir quota reads.
//
// maildirsize in the maildir root: a first line with the limits ("314572800S" or
// "314572800S,1000C"), then one line "BYTES COUNT" per change (deliveries add, expunges
// by Dovecot subtract). Usage is the sum of those lines. The file is a cache: it is
// rebuilt from the folders (sizes from the ",S=" in file names, else stat) when it is
// missing or malformed, when it has grown past kMaxMaildirsize octets, when its limit
// differs from the user's current one, or when it says "over quota" and is older than
// 15 minutes (as the Maildir++ specification says), so an expunge made by a client that
// does not update it is noticed.
// Errors: an unreadable maildir is ErrorKind::temporary. A limit of 0 means no limit.
// The quota file is not fsync'ed: it is a cache that the next recalculation repairs;
// the messages themselves are.
// Thread-safety: concurrent appends are single O_APPEND writes; a concurrent rebuild is
// a rename of a complete file, so readers see one version or the other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pampero/common/result.hpp"

namespace pampero::store {

constexpr std::size_t kMaxMaildirsize = 5120;  // Maildir++: rebuild once larger

struct QuotaUsage {
    std::int64_t bytes = 0;
    std::int64_t messages = 0;
};

struct Maildirsize {
    std::optional<std::uint64_t> limit_bytes;
    std::optional<std::uint64_t> limit_messages;
    QuotaUsage usage;
};

// Pure: parses the file's content; nullopt when malformed.
std::optional<Maildirsize> parse_maildirsize(std::string_view content);
// "314572800S" (and ",1000C" when a message limit is given).
std::string quota_definition(std::uint64_t limit_bytes,
                             std::optional<std::uint64_t> limit_messages = {});

// The maildir's usage, rebuilding maildirsize when needed (see above).
Result<QuotaUsage> quota_usage(const std::string& root, std::uint64_t limit_bytes);
// Scans the folders and rewrites maildirsize.
Result<QuotaUsage> recalculate_quota(const std::string& root, std::uint64_t limit_bytes);
// Records a delivery (or removal, with negative numbers).
Status quota_add(const std::string& root, std::int64_t bytes, std::int64_t messages);

// Would `size` more octets take the user over `limit_bytes` (0: unlimited)?
inline bool over_quota(const QuotaUsage& u, std::uint64_t size, std::uint64_t limit_bytes) {
    if (limit_bytes == 0) return false;
    const auto used = u.bytes < 0 ? 0 : static_cast<std::uint64_t>(u.bytes);
    return size > limit_bytes || used > limit_bytes - size;  // no wrap for a huge SIZE=
}

}  // namespace pampero::store
