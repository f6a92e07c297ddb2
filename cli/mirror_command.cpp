// pamperoctl mirror sync [--zone ZONE] [--min-ratio R] [--timeout SECONDS]
//
// For each mirror list with `sync: rsync://HOST[:PORT]/MODULE/FILE`:
//   1. take a lock beside the file (.NAME.sync.lock, flock): two syncs never race;
//   2. rsync the remote file into a fresh temporary folder beside the mirror file, using
//      a hard link of the current file as rsync's basis (only the differences travel;
//      rsync writes a new file and renames it, so the current file is never touched);
//   3. parse the new file as the list's format; refuse it when it does not parse, or when
//      it has fewer than R (default 0.5) times the entries of the current file (a
//      truncated or emptied download);
//   4. fsync it, rename it over the mirror file, fsync the folder. The daemons see the
//      new mtime/inode and reload it (Blocklists::reload_changed).
// On any failure the current file stays as it was, a one-line error names the list
// ("pamperoctl: mirror sync ZONE: why") and the exit code is 75, after the other lists
// have been tried. Success prints one line per list:
//   ZONE updated FILE (N entries, was M)  |  ZONE unchanged FILE (N entries)
// rsync runs without a shell, with --timeout/--contimeout and a hard deadline (--timeout
// SECONDS, default 600) after which it is killed by its PID.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.hpp"
#include "pampero/lists/zone.hpp"

extern char** environ;

namespace pampero::cli {

namespace fs = std::filesystem;

namespace {

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

struct TempDir {
    fs::path path;
    ~TempDir() {
        if (!path.empty()) {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    }
};

std::string one_line(std::string s) {
    for (char& c : s) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

// Runs rsync; returns "" on success, else why it failed.
std::string run_rsync(const std::string& url, const std::string& dest, int timeout_s) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    Fd rd(pipefd[0]), wr(pipefd[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, wr.fd, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    const std::string io_timeout = "--timeout=" + std::to_string(std::max(1, timeout_s));
    const std::string con_timeout =
        "--contimeout=" + std::to_string(std::min(60, std::max(1, timeout_s)));
    std::vector<std::string> args = {"rsync",     "--quiet", "--no-motd", "--times", io_timeout,
                                     con_timeout, "--",      url,         dest};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, "rsync", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return std::string("cannot run rsync: ") + std::strerror(rc);
    ::close(wr.fd);
    wr.fd = -1;

    std::string err;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    bool killed = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        pollfd p{rd.fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (n < 0 && errno != EINTR) break;
        if (n > 0) {
            char buf[4096];
            const ssize_t got = ::read(rd.fd, buf, sizeof buf);
            if (got <= 0) break;  // rsync closed stderr: it is exiting
            if (err.size() < 65536) err.append(buf, static_cast<std::size_t>(got));
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (killed) return "rsync killed after " + std::to_string(timeout_s) + " s";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    // rsync's last message line is the useful one ("@ERROR: Unknown module", "connection refused").
    std::string last;
    std::size_t pos = 0;
    while (pos < err.size()) {
        std::size_t nl = err.find('\n', pos);
        if (nl == std::string::npos) nl = err.size();
        const std::string line = err.substr(pos, nl - pos);
        if (line.find_first_not_of(" \t\r") != std::string::npos &&
            line.rfind("rsync error:", 0) != 0)
            last = line;
        if (last.empty() && !line.empty()) last = line;
        pos = nl + 1;
    }
    const std::string code =
        WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "killed by a signal";
    return "rsync failed (" + code + ")" + (last.empty() ? "" : ": " + one_line(last));
}

Status sync_one(const BlocklistConfig& c, const MirrorSyncOptions& o, std::string& report) {
    const fs::path file(c.file);
    const fs::path dir = file.parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Error::temporary("cannot create " + dir.string() + ": " + ec.message());

    const fs::path lock_path = dir / ("." + file.filename().string() + ".sync.lock");
    Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (lock.fd < 0)
        return Error::temporary("cannot open " + lock_path.string() + ": " + std::strerror(errno));
    if (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0)
        return Error::temporary("another sync of " + c.file + " is running");

    TempDir tmp;
    std::string tmpl = (dir / ".pampero-sync-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
        return Error::temporary("cannot create a temporary folder in " + dir.string() + ": " +
                                std::strerror(errno));
    tmp.path = tmpl;
    const std::string remote_name = c.sync.substr(c.sync.rfind('/') + 1);
    const fs::path incoming = tmp.path / remote_name;

    struct stat cur {};
    const bool have_current = ::stat(c.file.c_str(), &cur) == 0;
    if (have_current && ::link(c.file.c_str(), incoming.c_str()) != 0) {
        fs::copy_file(file, incoming, ec);  // basis for the delta only; failure is harmless
    }

    if (auto why = run_rsync(c.sync, incoming.string(), o.timeout); !why.empty())
        return Error::temporary(why);

    struct stat got {};
    if (::stat(incoming.c_str(), &got) != 0)
        return Error::temporary("rsync left no file " + remote_name);
    if (!S_ISREG(got.st_mode))
        return Error::temporary("the remote " + remote_name + " is not a regular file");

    auto fresh = scan::Zone::load_file(incoming.string(), c.format);
    if (!fresh) return Error::temporary("downloaded file refused: " + fresh.error().message);
    const std::size_t new_entries = fresh.value()->stats().entries;
    std::size_t old_entries = 0;
    if (have_current) {
        if (auto old = scan::Zone::load_file(c.file, c.format))
            old_entries = old.value()->stats().entries;
    }
    fresh = Error::temporary("");  // free the parsed copy before the next list

    if (have_current && got.st_dev == cur.st_dev && got.st_ino == cur.st_ino) {
        report = fmt::format("{} unchanged {} ({} entries)", c.zone, c.file, new_entries);
        return ok_status();
    }
    if (static_cast<double>(new_entries) < o.min_ratio * static_cast<double>(old_entries)) {
        return Error::temporary(
            fmt::format("downloaded file refused: {} entries against {} now (below {:.0f}%)",
                        new_entries, old_entries, o.min_ratio * 100));
    }
    {
        Fd f(::open(incoming.c_str(), O_RDONLY | O_CLOEXEC));
        if (f.fd < 0 || ::fsync(f.fd) != 0)
            return Error::temporary(std::string("fsync: ") + std::strerror(errno));
        ::fchmod(f.fd, 0644);
    }
    if (::rename(incoming.c_str(), c.file.c_str()) != 0) {
        return Error::temporary("cannot rename into " + c.file + ": " + std::strerror(errno));
    }
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.fd >= 0) ::fsync(d.fd);
    report =
        fmt::format("{} updated {} ({} entries, was {})", c.zone, c.file, new_entries, old_entries);
    return ok_status();
}

}  // namespace

int mirror_sync(Context& ctx, const MirrorSyncOptions& o) {
    if (!(o.min_ratio >= 0 && o.min_ratio <= 1))
        return fail("--min-ratio must be between 0 and 1", 64);
    if (o.timeout < 1 || o.timeout > 86400) return fail("--timeout must be 1..86400 seconds", 64);
    const Config& cfg = ctx.config();
    bool any = false, failed = false;
    for (const auto& c : cfg.blocklists) {
        if (c.mode != BlocklistMode::mirror || c.sync.empty()) continue;
        if (!o.zone.empty() && c.zone != o.zone) continue;
        any = true;
        std::string report;
        auto st = sync_one(c, o, report);
        if (st.ok()) {
            std::printf("%s\n", report.c_str());
            std::fflush(stdout);
        } else {
            failed = true;
            fail("mirror sync " + c.zone + ": " + one_line(st.error().message), EX_TEMPFAIL);
        }
    }
    if (!any) {
        if (!o.zone.empty())
            return fail("no mirror list " + o.zone + " with a sync: source", EX_CONFIG);
        std::printf("no mirror list has a sync: source\n");
        return 0;
    }
    return failed ? EX_TEMPFAIL : 0;
}

}  // namespace pampero::cli
