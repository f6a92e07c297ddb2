// pamperoctl verdict-key new FILE [--id ID]   a key file, or one more key in it
// pamperoctl verdict-key promote FILE ID      make key ID the signing (first) key
//
// The key file signs the spam verdict (scan/verdict_signature.hpp). `new` on a missing
// FILE makes it with one key, mode 0640; on an existing FILE it appends the key last, so
// it verifies but does not sign yet (rotation step 1, on every node, then SIGHUP the
// daemons); `promote` moves a key first (step 2, then SIGHUP). Dropping the old key
// later is deleting its line. Each prints the key id it handled on stdout.
// The file is written as a whole beside itself and renamed over the old one (after
// fsync), keeping the old file's owner, group and mode; the result is parsed before the
// rename, so a broken file never replaces a good one. Secrets come from OpenSSL's
// RAND_bytes and are never printed.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include "commands.hpp"
#include "pampero/verdict/verdict_signature.hpp"

namespace pampero::cli {
namespace {

// Writes `text` to `path` via PATH.tmp + fsync + rename; mode/owner as given.
Status replace_file(const std::string& path, const std::string& text, mode_t mode, uid_t uid,
                    gid_t gid) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return Error::temporary(fmt::format("{}: {}", tmp, std::strerror(errno)));
    bool ok = ::fchmod(fd, mode) == 0;
    if (ok && (uid != ::geteuid() || gid != ::getegid())) ok = ::fchown(fd, uid, gid) == 0;
    std::size_t done = 0;
    while (ok && done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(ok ? errno : saved);
        ::unlink(tmp.c_str());
        return Error::temporary(fmt::format("{}: {}", path, why));
    }
    return ok_status();
}

std::string default_id() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char day[16];
    std::strftime(day, sizeof day, "%Y%m%d", &tm);
    return fmt::format("k{}-{}", day, static_cast<unsigned>(now % 100000));
}

}  // namespace

int verdict_key_new(const std::string& file, const std::string& id_arg) {
    std::string text;
    struct stat st {};
    mode_t mode = 0640;
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (::stat(file.c_str(), &st) == 0) {
        std::ifstream in(file, std::ios::binary);
        std::ostringstream buf;
        buf << in.rdbuf();
        text = buf.str();
        if (!in) return fail(fmt::format("{}: cannot read", file), EX_CONFIG);
        auto keys = scan::VerdictKeys::parse(text, file);
        if (!keys) return fail(keys.error());
        mode = st.st_mode & 0770;  // never readable by others
        uid = st.st_uid;
        gid = st.st_gid;
        if (!text.empty() && text.back() != '\n') text += '\n';
    } else if (errno != ENOENT) {
        return fail(fmt::format("{}: {}", file, std::strerror(errno)), EX_CONFIG);
    } else {
        text =
            "# pampero verdict keys: KEYID SECRET; the first key signs, every key verifies.\n"
            "# Keep this file unreadable by others (pampero refuses it otherwise).\n";
    }
    const std::string id = id_arg.empty() ? default_id() : id_arg;
    auto secret = scan::new_verdict_secret();
    if (!secret) return fail(secret.error());
    text += id + " " + *secret + "\n";
    auto check = scan::VerdictKeys::parse(text, file);  // a bad or duplicate id stops here
    if (!check) return fail(check.error());
    if (auto st2 = replace_file(file, text, mode, uid, gid); !st2) return fail(st2.error());
    std::printf("%s\n", id.c_str());
    return 0;
}

int verdict_key_promote(const std::string& file, const std::string& id) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail(fmt::format("{}: {}", file, std::strerror(errno)), EX_CONFIG);
    std::ostringstream buf;
    buf << in.rdbuf();
    auto keys = scan::VerdictKeys::parse(buf.str(), file);
    if (!keys) return fail(keys.error());
    if (!keys->find(id)) return fail(fmt::format("{}: no key '{}'", file, id));
    // Comments and the other keys stay where they are; the promoted line goes before
    // the first key line.
    std::istringstream lines(buf.str());
    std::string line, before, keys_text, promoted;
    bool seen_key = false;
    while (std::getline(lines, line)) {
        std::istringstream words(line.substr(0, line.find('#')));
        std::string first;
        const bool is_key = static_cast<bool>(words >> first);
        if (is_key && first == id) {
            promoted = line + "\n";
            continue;
        }
        seen_key = seen_key || is_key;
        (seen_key ? keys_text : before) += line + "\n";
    }
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0)
        return fail(fmt::format("{}: {}", file, std::strerror(errno)), EX_CONFIG);
    const std::string text = before + promoted + keys_text;
    auto check = scan::VerdictKeys::parse(text, file);
    if (!check || check->signing().id != id)
        return fail(fmt::format("{}: could not move '{}' first", file, id));
    if (auto s = replace_file(file, text, st.st_mode & 0770, st.st_uid, st.st_gid); !s)
        return fail(s.error());
    std::printf("%s\n", id.c_str());
    return 0;
}

}  // namespace pampero::cli
