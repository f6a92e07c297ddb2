// maildir.hpp - writing messages into Maildir with the Maildir++ folder layout, safely.
//
// A delivery (deliver_file) is: create tmp/UNIQUE with O_EXCL, write, fsync, close,
// rename into new/UNIQUE, fsync new/. Only when all of that succeeded does the caller
// say 250. A failure at any step removes the tmp file and returns a temporary error
// (write error, ENOSPC, EDQUOT ...: the caller answers 452 4.3.1), so new/ never holds a
// partial message; a crash leaves at most a file in tmp/, which remove_stale_tmp()
// deletes after 36 hours as the Maildir specification says.
//
// Names follow the Maildir rules (time.MusecPpidQcounter.host) with Maildir++'s ",S=size"
// so Dovecot and quota recalculation learn the size without a stat.
// Folders are Maildir++ (".Spam" under the maildir root, with a "maildirfolder" file); a
// folder created here is added to the maildir's "subscriptions" so IMAP clients show it.
//
// The directory fsync is shared (DirSync): deliveries that rename into the same new/
// while an fsync of it is running wait for the next one, which covers them all, so N
// concurrent deliveries into one folder cost about two directory fsyncs, not N.
// Confinement: deliveries go through open_folder(), which walks from mail_root one
// component at a time with openat(O_NOFOLLOW | O_DIRECTORY) and creates what is missing
// the same way, so a symbolic link anywhere below mail_root (a user's maildir, ".Spam",
// "new", "tmp", the message file itself) is refused with a temporary error naming it:
// mail is never written outside mail_root, whoever planted the link. (mail_root itself
// may be a link: it is the admin's.)
// Thread-safety: every function is safe to call concurrently; DirSync is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "pampero/common/result.hpp"

namespace pampero::store {

constexpr std::chrono::hours kStaleTmpAge{36};

// mail_root + the directory's relative maildir, refused (permanent error) when it is
// absolute, has "." or ".." components or anything that is not a plain name character.
Result<std::string> resolve_maildir(const std::string& mail_root, const std::string& relative);

// The folder's directory: the root for "" (INBOX), root/.NAME for a Maildir++ folder.
std::string folder_path(const std::string& root, const std::string& folder);

// Creates root (and missing parents) with cur/ new/ tmp/, fsyncing each parent whose
// entries changed so the maildir itself survives a crash.
Status ensure_maildir(const std::string& root);

// Creates the Maildir++ folder (and the root) when missing; a new folder is subscribed.
Status ensure_folder(const std::string& root, const std::string& folder);

// An open directory, closed when it goes out of scope.
class DirFd {
  public:
    DirFd() = default;
    explicit DirFd(int fd) : fd_(fd) {}
    DirFd(DirFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    DirFd& operator=(DirFd&& o) noexcept;
    DirFd(const DirFd&) = delete;
    DirFd& operator=(const DirFd&) = delete;
    ~DirFd();
    int get() const { return fd_; }

  private:
    int fd_ = -1;
};

// Opens `path`, which must be mail_root or below it, from mail_root one component at a
// time without following symbolic links; missing components are created (0700, parent
// fsynced) when `create`. Errors (temporary): a link or non-directory below mail_root
// ("PATH: symbolic link below mail_root, refused"), a path not below mail_root, errno.
Result<DirFd> open_below(const std::string& mail_root, const std::string& path, bool create);

// ensure_folder() done safely (see Confinement): the maildir `root` (below mail_root) with
// cur/ new/ tmp/, and the Maildir++ folder when not "" (subscribed when new); returns the
// folder's directory.
Result<DirFd> open_folder(const std::string& mail_root, const std::string& root,
                          const std::string& folder);

// "1712345678.M123456P4242Q7.host,S=1234" (host with '/' and ':' escaped as Maildir says).
std::string unique_name(std::uint64_t size);

class DirSync {
  public:
    // Returns once an fsync of `dir` that started after this call has finished.
    Status sync(const std::string& dir);

  private:
    struct State {
        std::uint64_t requested = 0;  // tickets handed out
        std::uint64_t done = 0;       // every ticket <= done is covered by a finished fsync
        bool running = false;
        int waiters = 0;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> failed;  // (lo, hi] ranges
        std::string error;
    };
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, State> dirs_;
};

struct Delivered {
    std::string path;  // in new/
    std::uint64_t size = 0;
    // Spent in the file's fsync and the wait for new/'s (DirSync), for the metrics.
    std::chrono::nanoseconds fsync_time{0};
};

// Writes the concatenation of `parts` as one message into `folder_dir`/new.
Result<Delivered> deliver_file(const std::string& folder_dir,
                               const std::vector<std::string_view>& parts, DirSync& sync);
// The same into the folder open at `folder` (from open_folder()); its tmp/ and new/ are
// opened without following links. `folder_dir` names it in messages and for DirSync.
Result<Delivered> deliver_file(const DirFd& folder, const std::string& folder_dir,
                               const std::vector<std::string_view>& parts, DirSync& sync);

// Removes files in `folder_dir`/tmp older than `age`; returns how many.
int remove_stale_tmp(const std::string& folder_dir, std::chrono::seconds age = kStaleTmpAge);

}  // namespace pampero::store
