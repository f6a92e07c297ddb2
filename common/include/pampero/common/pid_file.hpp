// pid_file.hpp - a daemon's pid file (-p FILE), as init scripts and monitoring expect.
//
// create() opens FILE (mode 0644, made if missing), takes an exclusive flock() on it and
// writes the process id and a newline. The lock is held as long as the PidFile lives:
// a second instance given the same file is refused with "already running (pid N)"
// instead of overwriting the first one's id, while a file left by a crashed run (no
// lock on it) is simply reused. The destructor removes the file; when that is not
// allowed any more (the daemon dropped root and the folder is root's), the stale file
// is harmless: the next start reuses it.
//
// Call create() before daemonize(), so that a refusal reaches the admin's terminal (the
// lock is shared with the child, and stays held when the parent exits), and update()
// after it, so that the file holds the daemon's id; both before dropping privileges
// (pid files live in root's /run). Not thread-safe; one per process.
#pragma once

#include <optional>
#include <string>

#include "pampero/common/result.hpp"

namespace pampero {

class PidFile {
  public:
    static Result<PidFile> create(const std::string& path);
    // What a daemon does with its -p option: nothing (nullopt) when `path` is empty,
    // create(path) otherwise, with the same errors.
    static Result<std::optional<PidFile>> create_if_asked(const std::string& path);
    // Writes this process's id again (after fork).
    Status update();

    PidFile(PidFile&& other) noexcept;
    PidFile& operator=(PidFile&&) = delete;
    PidFile(const PidFile&) = delete;
    ~PidFile();

  private:
    PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    std::string path_;
    int fd_ = -1;
};

}  // namespace pampero
