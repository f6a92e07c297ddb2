#include "maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace pampero::store {
namespace {

Error sys_error(const std::string& what, int err = errno) {
    return Error::temporary(fmt::format("{}: {}", what, std::strerror(err)));
}

bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           c == '+' || c == '@' || c == '=';
}

// fsync of a directory, so a created/renamed entry in it is durable.
Status fsync_dir(const std::string& dir) {
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open " + dir);
    const int rc = fsync(fd);
    const int err = errno;
    close(fd);
    if (rc != 0) return sys_error("fsync " + dir, err);
    return ok_status();
}

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// mkdir -p with an fsync of each parent that got a new entry; true in `created` when
// the last component was made here.
Status make_dirs(const std::string& path, bool& created) {
    created = false;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return Error::temporary(path + ": not a directory");
        return ok_status();
    }
    const std::string parent = parent_of(path);
    if (parent != path) {
        bool parent_created = false;
        if (auto s = make_dirs(parent, parent_created); !s) return s;
    }
    if (mkdir(path.c_str(), 0700) != 0) {
        if (errno == EEXIST) return ok_status();
        return sys_error("mkdir " + path);
    }
    created = true;
    return fsync_dir(parent);
}

std::string escaped_hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) std::strcpy(buf, "localhost");
    std::string out;
    for (const char* p = buf; *p; ++p) {
        if (*p == '/')
            out += "\\057";
        else if (*p == ':')
            out += "\\072";
        else
            out.push_back(*p);
    }
    return out;
}

Status subscribe(const std::string& root, const std::string& folder) {
    const std::string path = root + "/subscriptions";
    std::string content;
    {
        std::ifstream in(path);
        std::string line;
        while (std::getline(in, line)) {
            if (line == folder) return ok_status();
            content += line + "\n";
        }
    }
    content += folder + "\n";
    const std::string tmp =
        fmt::format("{}/tmp/subscriptions.{}.{}", root, getpid(), unique_name(0));
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("open " + tmp);
    const bool wrote =
        write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
        fsync(fd) == 0;
    const int err = errno;
    close(fd);
    if (!wrote || rename(tmp.c_str(), path.c_str()) != 0) {
        unlink(tmp.c_str());
        return sys_error("write " + path, wrote ? errno : err);
    }
    return fsync_dir(root);
}

// fsync of an open directory.
Status fsync_fd(int fd, const std::string& what) {
    if (fsync(fd) != 0) return sys_error("fsync " + what);
    return ok_status();
}

// One component below `dir` (named `path` in messages), never through a link; created
// (0700) when missing and `create`, with `created` telling so.
Result<DirFd> open_component(int dir, const std::string& name, const std::string& path, bool create,
                             bool& created) {
    created = false;
    for (int attempt = 0; attempt < 2; ++attempt) {
        const int fd = openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) return DirFd(fd);
        const int err = errno;
        if (err == ENOENT && create) {
            if (mkdirat(dir, name.c_str(), 0700) == 0)
                created = true;
            else if (errno != EEXIST)
                return sys_error("mkdir " + path);
            continue;
        }
        struct stat st {};
        if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISLNK(st.st_mode)) {
                return Error::temporary(path + ": symbolic link below mail_root, refused");
            }
            if (!S_ISDIR(st.st_mode)) return Error::temporary(path + ": not a directory, refused");
        }
        return sys_error("open " + path, err);
    }
    return sys_error("open " + path, ENOENT);
}

// cur/ new/ tmp/ below an open maildir or folder; true when any was made.
Result<bool> ensure_subdirs(int dir, const std::string& path) {
    bool any = false;
    for (const char* sub : {"cur", "new", "tmp"}) {
        bool created = false;
        auto d = open_component(dir, sub, path + "/" + sub, true, created);
        if (!d) return d.error();
        any = any || created;
    }
    if (any) {
        if (auto s = fsync_fd(dir, path); !s) return s.error();
    }
    return any;
}

}  // namespace

DirFd& DirFd::operator=(DirFd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

DirFd::~DirFd() {
    if (fd_ >= 0) close(fd_);
}

Result<DirFd> open_below(const std::string& mail_root, const std::string& path, bool create) {
    std::string base = mail_root;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    if (path != base && !(path.size() > base.size() && path.starts_with(base) &&
                          (path[base.size()] == '/' || base == "/"))) {
        return Error::temporary(fmt::format("{}: not below mail_root {}, refused", path, base));
    }
    if (create) {
        bool created = false;
        if (auto s = make_dirs(base, created); !s) return s.error();
    }
    const int root = open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return sys_error("open " + base);
    DirFd cur(root);
    std::string walked = base;
    std::size_t i = base.size();
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') ++i;
        const auto slash = path.find('/', i);
        const std::string comp =
            path.substr(i, slash == std::string::npos ? std::string::npos : slash - i);
        i = slash == std::string::npos ? path.size() : slash;
        if (comp.empty()) continue;
        if (comp == "." || comp == "..")
            return Error::temporary(path + ": '.' or '..' component, refused");
        walked += "/" + comp;
        bool created = false;
        auto next = open_component(cur.get(), comp, walked, create, created);
        if (!next) return next.error();
        if (created) {
            if (auto s = fsync_fd(cur.get(), walked); !s) return s.error();
        }
        cur = std::move(*next);
    }
    return cur;
}

Result<DirFd> open_folder(const std::string& mail_root, const std::string& root,
                          const std::string& folder) {
    auto r = open_below(mail_root, root, true);
    if (!r) return r.error();
    if (auto s = ensure_subdirs(r->get(), root); !s) return s.error();
    if (folder.empty()) return r;
    const std::string dir = folder_path(root, folder);
    bool created = false;
    auto f = open_component(r->get(), "." + folder, dir, true, created);
    if (!f) return f.error();
    if (created) {
        if (auto s = fsync_fd(r->get(), root); !s) return s.error();
    }
    auto subs = ensure_subdirs(f->get(), dir);
    if (!subs) return subs.error();
    if (created || *subs) {
        const int fd =
            openat(f->get(), "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return sys_error("create " + dir + "/maildirfolder");
        close(fd);
        if (auto s = fsync_fd(f->get(), dir); !s) return s.error();
        if (auto s = subscribe(root, folder); !s) return s.error();
    }
    return f;
}

Result<std::string> resolve_maildir(const std::string& mail_root, const std::string& relative) {
    if (relative.empty() || relative.front() == '/') {
        return Error::permanent(fmt::format("maildir '{}' is not a relative path", relative));
    }
    std::string out = mail_root;
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    std::size_t i = 0;
    int components = 0;
    while (i < relative.size()) {
        const auto slash = relative.find('/', i);
        const std::string_view comp = std::string_view(relative).substr(
            i, slash == std::string::npos ? std::string::npos : slash - i);
        i = slash == std::string::npos ? relative.size() : slash + 1;
        if (comp.empty()) continue;
        if (comp.front() == '.' || !std::all_of(comp.begin(), comp.end(), name_char)) {
            return Error::permanent(
                fmt::format("maildir '{}' has a bad component '{}'", relative, comp));
        }
        out += '/';
        out += comp;
        ++components;
    }
    if (components == 0) return Error::permanent(fmt::format("maildir '{}' is empty", relative));
    return out;
}

std::string folder_path(const std::string& root, const std::string& folder) {
    return folder.empty() ? root : root + "/." + folder;
}

Status ensure_maildir(const std::string& root) {
    bool created = false;
    if (auto s = make_dirs(root, created); !s) return s;
    bool any = false;
    for (const char* sub : {"/cur", "/new", "/tmp"}) {
        const std::string p = root + sub;
        if (mkdir(p.c_str(), 0700) == 0)
            any = true;
        else if (errno != EEXIST)
            return sys_error("mkdir " + p);
    }
    if (any) return fsync_dir(root);
    return ok_status();
}

Status ensure_folder(const std::string& root, const std::string& folder) {
    if (auto s = ensure_maildir(root); !s) return s;
    if (folder.empty()) return ok_status();
    const std::string dir = folder_path(root, folder);
    struct stat st {};
    if (stat((dir + "/new").c_str(), &st) == 0) return ok_status();
    if (auto s = ensure_maildir(dir); !s) return s;
    const std::string marker = dir + "/maildirfolder";
    const int fd = open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("create " + marker);
    close(fd);
    if (auto s = fsync_dir(dir); !s) return s;
    return subscribe(root, folder);
}

std::string unique_name(std::uint64_t size) {
    static const std::string host = escaped_hostname();
    static std::atomic<std::uint64_t> counter{0};
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return fmt::format("{}.M{}P{}Q{}.{},S={}", ts.tv_sec, ts.tv_nsec / 1000, getpid(), ++counter,
                       host, size);
}

Status DirSync::sync(const std::string& dir) {
    std::unique_lock lock(mu_);
    State& st = dirs_[dir];
    const std::uint64_t ticket = ++st.requested;
    ++st.waiters;
    while (st.done < ticket) {
        if (!st.running) {
            st.running = true;
            const std::uint64_t lo = st.done;
            const std::uint64_t hi = st.requested;
            lock.unlock();
            Status s = fsync_dir(dir);
            lock.lock();
            st.running = false;
            st.done = hi;
            if (!s) {
                if (st.failed.size() >= 64) st.failed.erase(st.failed.begin());
                st.failed.emplace_back(lo, hi);
                st.error = s.error().message;
            }
            cv_.notify_all();
        } else {
            cv_.wait(lock);
        }
    }
    bool failed = false;
    for (const auto& [lo, hi] : st.failed) {
        if (ticket > lo && ticket <= hi) failed = true;
    }
    std::string error = st.error;
    if (--st.waiters == 0 && !st.running) dirs_.erase(dir);
    if (failed) return Error::temporary(error);
    return ok_status();
}

Result<Delivered> deliver_file(const std::string& folder_dir,
                               const std::vector<std::string_view>& parts, DirSync& sync) {
    const int fd = open(folder_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open " + folder_dir);
    return deliver_file(DirFd(fd), folder_dir, parts, sync);
}

Result<Delivered> deliver_file(const DirFd& folder, const std::string& folder_dir,
                               const std::vector<std::string_view>& parts, DirSync& sync) {
    std::uint64_t size = 0;
    for (const auto& p : parts) size += p.size();
    bool created = false;
    auto tmpdir = open_component(folder.get(), "tmp", folder_dir + "/tmp", false, created);
    if (!tmpdir) return tmpdir.error();
    auto newdir = open_component(folder.get(), "new", folder_dir + "/new", false, created);
    if (!newdir) return newdir.error();
    std::string name;
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 5 && fd < 0; ++attempt) {
        name = unique_name(size);
        tmp = folder_dir + "/tmp/" + name;
        fd = openat(tmpdir->get(), name.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) return sys_error("open " + tmp);
    }
    if (fd < 0) return Error::temporary("cannot make a unique file name in " + folder_dir + "/tmp");

    auto abandon = [&](const std::string& what, int err) -> Result<Delivered> {
        if (fd >= 0) close(fd);
        unlinkat(tmpdir->get(), name.c_str(), 0);
        return sys_error(what, err);
    };
    // writev in slices of at most IOV_MAX parts, resuming after short writes.
    std::vector<iovec> iov;
    for (const auto& p : parts) {
        if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
    }
    std::size_t first = 0;
    while (first < iov.size()) {
        const int count = static_cast<int>(std::min<std::size_t>(iov.size() - first, 1024));
        const ssize_t n = writev(fd, iov.data() + first, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return abandon("write " + tmp, errno);
        }
        auto left = static_cast<std::size_t>(n);
        while (first < iov.size() && left >= iov[first].iov_len) {
            left -= iov[first].iov_len;
            ++first;
        }
        if (left > 0) {
            iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
            iov[first].iov_len -= left;
        }
    }
    const auto fsync_start = std::chrono::steady_clock::now();
    if (fsync(fd) != 0) return abandon("fsync " + tmp, errno);
    auto fsync_time = std::chrono::steady_clock::now() - fsync_start;
    const int rc = close(fd);
    fd = -1;
    if (rc != 0) return abandon("close " + tmp, errno);
    const std::string final_path = folder_dir + "/new/" + name;
    if (renameat(tmpdir->get(), name.c_str(), newdir->get(), name.c_str()) != 0) {
        return abandon("rename " + tmp, errno);
    }
    const auto dir_start = std::chrono::steady_clock::now();
    if (auto s = sync.sync(folder_dir + "/new"); !s) {
        // The entry may or may not be durable: take it back so the sender's retry is the
        // only copy, rather than risk a 250 for a message a crash could lose.
        unlinkat(newdir->get(), name.c_str(), 0);
        return s.error();
    }
    fsync_time += std::chrono::steady_clock::now() - dir_start;
    return Delivered{final_path, size,
                     std::chrono::duration_cast<std::chrono::nanoseconds>(fsync_time)};
}

int remove_stale_tmp(const std::string& folder_dir, std::chrono::seconds age) {
    const std::string dir = folder_dir + "/tmp";
    DIR* d = opendir(dir.c_str());
    if (!d) return 0;
    const time_t cutoff = time(nullptr) - static_cast<time_t>(age.count());
    int removed = 0;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        const std::string p = dir + "/" + e->d_name;
        struct stat st {};
        if (lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < cutoff &&
            st.st_atime < cutoff && unlink(p.c_str()) == 0) {
            ++removed;
        }
    }
    closedir(d);
    return removed;
}

}  // namespace pampero::store
