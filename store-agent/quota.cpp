#include "quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "maildir.hpp"

namespace pampero::store {
namespace {

bool to_int(std::string_view s, std::int64_t& v) {
    if (s.empty()) return false;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// Size of one message file: ",S=NNN" in its name, else stat().
std::uint64_t message_size(const std::string& dir, const char* name) {
    const char* s = std::strstr(name, ",S=");
    if (s) {
        std::uint64_t v = 0;
        const char* b = s + 3;
        const char* e = b;
        while (*e >= '0' && *e <= '9') ++e;
        if (e > b && std::from_chars(b, e, v).ec == std::errc()) return v;
    }
    struct stat st {};
    if (stat((dir + "/" + name).c_str(), &st) == 0) return static_cast<std::uint64_t>(st.st_size);
    return 0;  // expunged meanwhile
}

bool scan_dir(const std::string& dir, QuotaUsage& u) {
    DIR* d = opendir(dir.c_str());
    if (!d) return errno == ENOENT;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        u.bytes += static_cast<std::int64_t>(message_size(dir, e->d_name));
        ++u.messages;
    }
    closedir(d);
    return true;
}

Status read_file(const std::string& path, std::string& out, struct stat& st) {
    const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error::temporary(fmt::format("open {}: {}", path, std::strerror(errno)));
    if (fstat(fd, &st) != 0 || st.st_size > static_cast<off_t>(1 << 20)) {
        close(fd);
        return Error::temporary(path + ": unreadable or too large");
    }
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = read(fd, out.data() + got, out.size() - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    close(fd);
    return ok_status();
}

}  // namespace

std::optional<Maildirsize> parse_maildirsize(std::string_view content) {
    Maildirsize m;
    const auto nl = content.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    std::string_view def = trim(content.substr(0, nl));
    // "NNNS,MMMC": either part may be missing; an empty definition is no limit.
    while (!def.empty()) {
        const auto comma = def.find(',');
        std::string_view part = def.substr(0, comma);
        def = comma == std::string_view::npos ? std::string_view{} : def.substr(comma + 1);
        if (part.empty()) return std::nullopt;
        const char kind = part.back();
        std::int64_t v = 0;
        if (!to_int(part.substr(0, part.size() - 1), v) || v < 0) return std::nullopt;
        if (kind == 'S')
            m.limit_bytes = static_cast<std::uint64_t>(v);
        else if (kind == 'C')
            m.limit_messages = static_cast<std::uint64_t>(v);
        else
            return std::nullopt;
    }
    std::string_view rest = content.substr(nl + 1);
    while (!rest.empty()) {
        const auto end = rest.find('\n');
        if (end == std::string_view::npos) break;  // a line being appended: ignore it
        const std::string_view line = trim(rest.substr(0, end));
        rest.remove_prefix(end + 1);
        if (line.empty()) continue;
        const auto sp = line.find(' ');
        std::int64_t b = 0;
        std::int64_t c = 0;
        if (sp == std::string_view::npos || !to_int(line.substr(0, sp), b) ||
            !to_int(trim(line.substr(sp + 1)), c)) {
            return std::nullopt;
        }
        // A sum past int64 is a corrupt file, not a real mailbox: refuse it, and the
        // caller rebuilds the file from the folders.
        if (__builtin_add_overflow(m.usage.bytes, b, &m.usage.bytes) ||
            __builtin_add_overflow(m.usage.messages, c, &m.usage.messages)) {
            return std::nullopt;
        }
    }
    return m;
}

std::string quota_definition(std::uint64_t limit_bytes,
                             std::optional<std::uint64_t> limit_messages) {
    if (limit_messages) return fmt::format("{}S,{}C", limit_bytes, *limit_messages);
    return fmt::format("{}S", limit_bytes);
}

Result<QuotaUsage> recalculate_quota(const std::string& root, std::uint64_t limit_bytes) {
    QuotaUsage u;
    for (const char* sub : {"/cur", "/new"}) {
        if (!scan_dir(root + sub, u)) return Error::temporary("cannot read " + root + sub);
    }
    DIR* d = opendir(root.c_str());
    if (!d && errno == ENOENT) return QuotaUsage{};  // no maildir yet: empty
    if (!d) return Error::temporary(fmt::format("opendir {}: {}", root, std::strerror(errno)));
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] != '.' || std::strcmp(e->d_name, ".") == 0 ||
            std::strcmp(e->d_name, "..") == 0) {
            continue;
        }
        const std::string folder = root + "/" + e->d_name;
        struct stat st {};
        if (stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        for (const char* sub : {"/cur", "/new"}) scan_dir(folder + sub, u);
    }
    closedir(d);
    const std::string content =
        fmt::format("{}\n{} {}\n", quota_definition(limit_bytes), u.bytes, u.messages);
    const std::string tmp = root + "/tmp/maildirsize." + unique_name(0);
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    // tmp/ not made yet (another delivery is creating this maildir right now): the usage
    // is right, the cache file is written by a later call.
    if (fd < 0 && errno == ENOENT) return u;
    if (fd < 0) return Error::temporary(fmt::format("open {}: {}", tmp, std::strerror(errno)));
    const bool ok =
        write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    close(fd);
    if (!ok || rename(tmp.c_str(), (root + "/maildirsize").c_str()) != 0) {
        unlink(tmp.c_str());
        return Error::temporary("cannot write " + root + "/maildirsize");
    }
    return u;
}

Result<QuotaUsage> quota_usage(const std::string& root, std::uint64_t limit_bytes) {
    std::string content;
    struct stat st {};
    if (auto s = read_file(root + "/maildirsize", content, st); !s) {
        return recalculate_quota(root, limit_bytes);
    }
    const auto m = parse_maildirsize(content);
    if (!m || content.size() > kMaxMaildirsize || m->limit_bytes.value_or(0) != limit_bytes) {
        return recalculate_quota(root, limit_bytes);
    }
    if (limit_bytes > 0 && m->usage.bytes >= static_cast<std::int64_t>(limit_bytes)) {
        if (std::time(nullptr) - st.st_mtime > 15 * 60) return recalculate_quota(root, limit_bytes);
    }
    return m->usage;
}

Status quota_add(const std::string& root, std::int64_t bytes, std::int64_t messages) {
    const std::string path = root + "/maildirsize";
    const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return ok_status();  // the next reader rebuilds it
        return Error::temporary(fmt::format("open {}: {}", path, std::strerror(errno)));
    }
    const std::string line = fmt::format("{} {}\n", bytes, messages);
    const bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    close(fd);
    if (!ok) return Error::temporary("cannot append to " + path);
    return ok_status();
}

}  // namespace pampero::store
