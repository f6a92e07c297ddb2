// server.hpp - pampero-store's listeners: the LMTP server and the socketmap server.
//
// One thread per connection: a delivery spends its time in write() and fsync(), which
// block, so a thread each (as Dovecot's lmtp processes do) keeps the disk busy without an
// event loop fighting blocking calls. Bounded: at most kMaxLmtpSessions LMTP and
// store.socketmap_sessions socketmap connections (Postfix keeps one per process that uses
// the map: with default_process_limit 100 that is up to ~100 smtpd plus cleanup and
// trivial-rewrite, so the default 512 leaves margin); one more gets "421 4.3.2" (LMTP) or
// is closed (socketmap), a warning is logged (at most once a second) and the listener
// keeps serving.
// Access: unix sockets get store.socket_owner/group/mode; a TCP peer outside
// store.lmtp_clients / store.socketmap_clients gets "421 4.7.0 ... not allowed" (LMTP) or
// is closed (socketmap), with a warning (at most once a second).
// Per-session bounds: the LMTP dialog's (command lines, recipients, errors, message size,
// spooling) are enforced by LmtpSession (lmtp_session.hpp); the server keeps the clock:
// 300 s idle before a command, 600 s for DATA, store.write_timeout for the client to take
// a reply (then the session closes).
// stop(): stops accepting; idle sessions are told 421 4.3.2 and closed; a session inside
// a transaction finishes it first (bounded by the grace period), so no acknowledged
// delivery is cut short.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pampero/common/endpoint.hpp"
#include "pampero/common/socket_access.hpp"
#include "socketmap.hpp"
#include "store.hpp"

namespace pampero::store {

constexpr int kMaxLmtpSessions = 256;

// A warning at most once a second, counting the ones it swallowed. One thread uses it.
class RateLimitedLog {
  public:
    void hit(const std::string& what);

  private:
    std::chrono::steady_clock::time_point last_{};
    int suppressed_ = 0;
};

class Server {
  public:
    Server(Store& store, SocketmapService& maps, SnapshotHolder& snapshot)
        : store_(store), maps_(maps), snap_(snapshot) {}
    ~Server() { stop(std::chrono::seconds(0)); }  // after a successful stop(): nothing left

    // Binds both sockets (before daemonizing, so errors reach the admin's terminal).
    Status listen(const Endpoint& lmtp, const Endpoint& socketmap);
    void start();
    // False when sessions were still busy after `grace`: their threads still use this
    // object, so the caller must end the process without running destructors.
    bool stop(std::chrono::seconds grace);

  private:
    void accept_loop(int fd, bool lmtp);
    void lmtp_session(int fd, std::uint64_t id);
    void socketmap_session(int fd);

    Store& store_;
    SocketmapService& maps_;
    SnapshotHolder& snap_;
    int lmtp_fd_ = -1;
    int map_fd_ = -1;
    bool lmtp_tcp_ = false;
    bool map_tcp_ = false;
    int map_limit_ = 512;
    ClientAllowList lmtp_clients_;
    ClientAllowList map_clients_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> next_id_{1};
    std::mutex mu_;
    std::condition_variable cv_;
    int lmtp_active_ = 0;
    int map_active_ = 0;
    std::vector<std::thread> acceptors_;
    std::string hostname_;
};

}  // namespace pampero::store
