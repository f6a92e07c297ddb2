// spool.hpp - a message's DATA in an unnamed file instead of memory.
//
// Above store.spool_threshold the LMTP session appends the decoded message here instead of
// growing a string (256 sessions x 64 MB would otherwise be 16 GB of memory), then hands
// Store::deliver() a read-only mapping of the file, so delivery keeps its string_view.
// The file lives in a maildir's tmp/ (the first local target's, or mail_root/.spool when
// there is none) and has no name: O_TMPFILE where the filesystem has it, else it is
// unlinked right after it is created. So it disappears on every path - success, failure,
// disconnect, crash - with nothing to clean up; at worst a crash in the instant between
// create and unlink leaves one file in tmp/, which remove_stale_tmp() deletes later.
// Errors: temporary, with errno's text (a full disk while spooling: the session answers
// 452 4.3.1 for each recipient).
// Not thread-safe: one session owns a Spool.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "maildir.hpp"
#include "pampero/common/result.hpp"

namespace pampero::store {

class Spool {
  public:
    Spool() = default;
    Spool(Spool&& o) noexcept;
    Spool& operator=(Spool&&) = delete;
    Spool(const Spool&) = delete;
    ~Spool();

    // An unnamed file in the directory open at `dir` (named `where` in messages).
    static Result<Spool> create(const DirFd& dir, const std::string& where);

    bool is_open() const { return fd_ >= 0; }
    Status append(std::string_view bytes);
    std::uint64_t size() const { return size_; }
    // The whole content, mapped read-only; valid until the Spool is destroyed.
    Result<std::string_view> view();

  private:
    int fd_ = -1;
    std::uint64_t size_ = 0;
    void* map_ = nullptr;
    std::string where_;
};

}  // namespace pampero::store
