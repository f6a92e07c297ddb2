#include "pampero/common/pid_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace pampero {

Result<PidFile> PidFile::create(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return Error::config(fmt::format("pid file {}: {}", path, std::strerror(errno)));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        // Held by a running instance: say which (its id is in the file).
        char buf[32] = {};
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        std::string owner = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
        while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
        ::close(fd);
        return Error::config(fmt::format("pid file {}: already running (pid {})", path,
                                         owner.empty() ? "?" : owner));
    }
    PidFile p(path, fd);
    if (auto st = p.update(); !st) return st.error();
    return p;
}

Result<std::optional<PidFile>> PidFile::create_if_asked(const std::string& path) {
    if (path.empty()) return std::optional<PidFile>();
    auto p = create(path);
    if (!p) return p.error();
    return std::optional<PidFile>(std::move(p).value());
}

Status PidFile::update() {
    const std::string text = fmt::format("{}\n", ::getpid());
    if (::ftruncate(fd_, 0) != 0 ||
        ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
        return Error::config(fmt::format("pid file {}: {}", path_, std::strerror(errno)));
    }
    return ok_status();
}

PidFile::PidFile(PidFile&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
    other.fd_ = -1;
}

PidFile::~PidFile() {
    if (fd_ < 0) return;
    ::unlink(path_.c_str());  // may fail after the privilege drop: see the header
    ::close(fd_);
}

}  // namespace pampero
