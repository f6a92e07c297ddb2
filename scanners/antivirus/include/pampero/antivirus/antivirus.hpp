// antivirus.hpp - ClamAV (libclamav) in-process.
//
// An Antivirus is one compiled libclamav engine over the signatures of one folder
// (cvd/cld databases and custom .ndb/.hdb/.ldb ...). It is immutable once built and may
// scan from many threads at once (libclamav's compiled engines are thread-safe).
// Reload is a swap: AntivirusWatcher builds a new engine beside the old one when the
// folder's fingerprint (names, sizes, mtimes of its files) changes and swaps it in;
// scans in flight keep the engine they started with, and a failed build keeps the old
// engine serving.
//
// Errors: load() returns ErrorKind::config for a missing folder or bad signatures.
// scan() never throws; a libclamav failure is Outcome::error (the milter turns it into
// 4xx when antivirus.on_error is tempfail). Bounds: data over max_size is not scanned
// (Outcome::skipped, logged by the caller); libclamav applies its own recursion and
// archive limits to what it unpacks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pampero/common/result.hpp"
#include "pampero/common/snapshot.hpp"
#include "pampero/mime/parsed_mime.hpp"

struct cl_engine;

namespace pampero::scan {

struct VirusScan {
    enum class Outcome { clean, virus, skipped, error } outcome = Outcome::clean;
    std::string detail;  // the virus name, or the error / skip reason
};

class Antivirus {
  public:
    ~Antivirus();
    Antivirus(const Antivirus&) = delete;
    Antivirus& operator=(const Antivirus&) = delete;

    // tmpdir: where libclamav writes the parts it unpacks (a tmpfs saves a few ms per
    // message); empty keeps libclamav's default ($TMPDIR or /tmp).
    static Result<std::shared_ptr<const Antivirus>> load(const std::string& dir,
                                                         std::uint64_t max_size,
                                                         const std::string& tmpdir = "");

    // `parsed`, when given, is GMime's parse of `data` (see parsed_mime.hpp).
    VirusScan scan(std::string_view data, const ParsedMime* parsed = nullptr) const;
    unsigned signatures() const { return signatures_; }
    const std::string& fingerprint() const { return fingerprint_; }

  private:
    Antivirus() = default;
    // One libclamav scan of `data` from memory; its mail parser only when asked.
    VirusScan scan_buffer(std::string_view data, const char* name, bool mail_parser) const;
    cl_engine* engine_ = nullptr;
    unsigned signatures_ = 0;
    std::uint64_t max_size_ = 0;
    std::string fingerprint_;
};

// A fingerprint of the signature files in dir: changes when any is added, removed or
// rewritten. Empty if the folder cannot be read.
std::string signature_fingerprint(const std::string& dir);

// Holds the current engine and rebuilds it when the signatures change.
class AntivirusWatcher {
  public:
    AntivirusWatcher(std::string dir, std::uint64_t max_size,
                     std::shared_ptr<const Antivirus> first, std::string tmpdir = "")
        : dir_(std::move(dir)),
          max_size_(max_size),
          tmpdir_(std::move(tmpdir)),
          current_(std::move(first)) {}

    std::shared_ptr<const Antivirus> get() const { return current_.get(); }
    // Rebuilds if the folder changed since the current engine was built. Returns the
    // error of a failed rebuild (the old engine stays); ok when nothing changed or the
    // new engine is in place. A folder that is gone, unreadable or empty is an
    // ErrorKind::temporary error once (the old engine stays), ok after that until it is
    // back (then it reloads). Call from one thread (the daemon's reload/timer thread).
    Status refresh();

  private:
    std::string dir_;
    std::uint64_t max_size_;
    std::string tmpdir_;
    Snapshot<const Antivirus> current_;
    std::optional<std::string> failed_fingerprint_;  // a broken set: not retried until it changes
    bool missing_reported_ = false;                  // the folder's absence was said
};

}  // namespace pampero::scan
