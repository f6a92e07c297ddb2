// test_redis.hpp - a private redis-server for the state tests (scripts/redis-instance):
// 127.0.0.1 on a free port and a unix socket in a temp folder, nothing on disk, stopped
// by its PID when the object goes. A missing redis-server fails the test (never a skip).
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace pampero::testing {

// Runs `stop_command` (a shell command) once this process has gone, however it went: an
// abort, a crash or ctest's kill on a timeout skip the destructors and TearDown() that stop
// a test's private server, and a server left behind holds its port and memory until
// someone notices. A detached shell (setsid: outside the process group ctest kills) polls
// the PID once a second; after a clean exit its command finds the server gone and does
// nothing. Call it after the server has started.
inline void stop_when_gone(const std::string& stop_command) {
    const std::string watcher = "setsid sh -c 'while kill -0 " + std::to_string(::getpid()) +
                                " 2>/dev/null; do sleep 1; done; " + stop_command +
                                "' </dev/null >/dev/null 2>&1 &";
    if (std::system(watcher.c_str()) != 0) throw std::runtime_error("cannot start: " + watcher);
}

// A TCP port on 127.0.0.1 that nobody listens on and that no other test process is handed
// while this one lives: the same claim files as harness.free_port() (flock on
// $TMPDIR/pampero-test-ports/PORT, held until the process exits).
inline int free_port() {
    const auto locks = std::filesystem::temp_directory_path() / "pampero-test-ports";
    std::filesystem::create_directories(locks);
    std::random_device rd;
    std::uniform_int_distribution<int> pick(20000, 32000);  // below the ephemeral range
    for (int i = 0; i < 200; ++i) {
        const int port = pick(rd);
        const int fd = ::open((locks / std::to_string(port)).c_str(), O_CREAT | O_WRONLY, 0644);
        if (fd < 0) continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);
            continue;
        }
        const int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool free = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(s);
        if (free) return port;  // fd stays open: the claim lasts as long as the process
        ::close(fd);
    }
    throw std::runtime_error("no free TCP port");
}

class TestRedis {
  public:
    // options go to redis-server (e.g. {"--requirepass", "pw"}).
    explicit TestRedis(std::vector<std::string> options = {})
        : options_(std::move(options)), port_(free_port()) {
        char tmpl[] = "/tmp/pampero-redis-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        start();
    }
    ~TestRedis() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    TestRedis(const TestRedis&) = delete;
    TestRedis& operator=(const TestRedis&) = delete;

    void start() {
        std::string cmd = std::string(PAMPERO_SOURCE_DIR) + "/scripts/redis-instance start " +
                          dir_ + " " + std::to_string(port_);
        for (const auto& o : options_) cmd += " '" + o + "'";
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot start redis: " + cmd);
        running_ = true;
        stop_when_gone(std::string(PAMPERO_SOURCE_DIR) + "/scripts/redis-instance stop " + dir_);
    }
    void stop() {
        if (!running_) return;
        running_ = false;
        const std::string cmd =
            std::string(PAMPERO_SOURCE_DIR) + "/scripts/redis-instance stop " + dir_;
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot stop redis: " + cmd);
    }

    int port() const { return port_; }
    const std::string& dir() const { return dir_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    std::string socket() const { return dir_ + "/redis.sock"; }
    pid_t pid() const {
        std::ifstream in(dir_ + "/redis.pid");
        pid_t p = 0;
        in >> p;
        if (p <= 0) throw std::runtime_error("no redis.pid");
        return p;
    }

    // One command on a connection of its own (db 0); the reply as text: a string or
    // status as is, an integer in decimal, nil as "(nil)", an error as "ERR: ...", an
    // array as its elements joined by spaces.
    std::string cmd(const std::vector<std::string>& args, const std::string& password = "") {
        redisContext* c = redisConnect("127.0.0.1", port_);
        if (!c || c->err) {
            if (c) redisFree(c);
            throw std::runtime_error("cannot connect to the test redis");
        }
        if (!password.empty()) text(c, {"AUTH", password});
        auto out = text(c, args);
        redisFree(c);
        return out;
    }

    // Moves Redis's view of time forward for pampero's keys: every key's expiry and every
    // sorted-set score (an expiry in ms, redis_state.hpp) comes `ms` nearer; what that
    // expires is deleted. Redis has no settable clock; this is the memory tests' FakeClock.
    void advance(long long ms) {
        static const char* script = R"lua(
local d = tonumber(ARGV[1])
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('PTTL', k)
  if t > 0 then
    if t - d <= 0 then redis.call('DEL', k) else redis.call('PEXPIRE', k, t - d) end
  end
  if redis.call('EXISTS', k) == 1 and redis.call('TYPE', k)['ok'] == 'zset' then
    local m = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
    for i = 1, #m, 2 do
      redis.call('ZADD', k, string.format('%d', tonumber(m[i + 1]) - d), m[i])
    end
  end
end
return 1
)lua";
        const auto r = cmd({"EVAL", script, "0", std::to_string(ms)});
        if (r != "1") throw std::runtime_error("advance: " + r);
    }

  private:
    static std::string text(redisContext* c, const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
        if (!r) throw std::runtime_error("redis command failed");
        std::string out = render(r);
        freeReplyObject(r);
        return out;
    }
    static std::string render(const redisReply* r) {
        switch (r->type) {
            case REDIS_REPLY_STRING:
            case REDIS_REPLY_STATUS:
                return std::string(r->str, r->len);
            case REDIS_REPLY_ERROR:
                return "ERR: " + std::string(r->str, r->len);
            case REDIS_REPLY_INTEGER:
                return std::to_string(r->integer);
            case REDIS_REPLY_NIL:
                return "(nil)";
            default: {
                std::string out;
                for (size_t i = 0; i < r->elements; ++i)
                    out += (i ? " " : "") + render(r->element[i]);
                return out;
            }
        }
    }

    std::vector<std::string> options_;
    int port_;
    std::string dir_;
    bool running_ = false;
};

}  // namespace pampero::testing
