#include "spool.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pampero::store {
namespace {

Error sys_error(const std::string& what, int err = errno) {
    return Error::temporary(fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace

Spool::Spool(Spool&& o) noexcept
    : fd_(o.fd_), size_(o.size_), map_(o.map_), where_(std::move(o.where_)) {
    o.fd_ = -1;
    o.map_ = nullptr;
}

Spool::~Spool() {
    if (map_) munmap(map_, size_);
    if (fd_ >= 0) close(fd_);
}

Result<Spool> Spool::create(const DirFd& dir, const std::string& where) {
    Spool s;
    s.where_ = where;
    s.fd_ = openat(dir.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (s.fd_ < 0) {
        // No O_TMPFILE on this filesystem: a name for an instant.
        const std::string name = "spool." + unique_name(0);
        s.fd_ = openat(dir.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0600);
        if (s.fd_ < 0) return sys_error("spool in " + where);
        unlinkat(dir.get(), name.c_str(), 0);
    }
    return s;
}

Status Spool::append(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = write(fd_, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("spool in " + where_);
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
        size_ += static_cast<std::uint64_t>(n);
    }
    return ok_status();
}

Result<std::string_view> Spool::view() {
    if (size_ == 0) return std::string_view();
    if (!map_) {
        void* m = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
        if (m == MAP_FAILED) return sys_error("mmap spool in " + where_);
        madvise(m, size_, MADV_SEQUENTIAL);
        map_ = m;
    }
    return std::string_view(static_cast<const char*>(map_), size_);
}

}  // namespace pampero::store
