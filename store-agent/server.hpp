// server.hpp - pampero-store's listeners: the LMTP server and the socketmap server.
//
// One thread per connection: a delivery spends its time in write() and fsync(), which
// block, so a thread each (as Dovecot's lmtp processes do) keeps the disk busy without an
// event loop fighting blocking calls. Bounded: at most kMaxLmtpSessions LMTP and
// kMaxSocketmapSessions socketmap connections; one more gets "421 4.3.2" (LMTP) or is
// closed (socketmap) and the listener keeps serving.
// Per-session bounds: command lines (lmtp_codec.hpp), kMaxRecipients recipients per
// transaction (then 452 4.5.3), kMaxErrors bad commands (then 421 4.7.0 and close),
// message size (SIZE, 552 5.3.4), 300 s idle before a command, 600 s for DATA.
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

#include "endpoint.hpp"
#include "socketmap.hpp"
#include "store.hpp"

namespace pampero::store {

constexpr int kMaxLmtpSessions = 256;
constexpr int kMaxSocketmapSessions = 128;
constexpr std::size_t kMaxRecipients = 1000;
constexpr int kMaxErrors = 100;

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
