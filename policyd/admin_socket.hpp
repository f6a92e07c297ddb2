// admin_socket.hpp - pampero-policyd's admin socket: the local (unix) stream socket
// `pamperoctl` asks what lives in the daemon's memory (with the memory state backend, the
// bans, rate counters and RADIUS sessions exist nowhere else). `policyd.admin_socket`
// (`radius.admin_socket` is read too, from before the socket served more than RADIUS).
//
// Protocol, one question per connection: a line (at most kMaxQuestion octets, within
// kQuestionTimeout), then the daemon writes the whole answer the Answerer gives and
// closes. The questions and answers are admin.hpp's and radius_admin.hpp's.
// Access: created mode 0600 (umask set for the bind, so no window of a wider mode) by
// the daemon before it drops root, so root or the daemon's user may ask: the bans and
// who holds which address are private, and `ban del` changes state.
// Bounds: at most kMaxAdminConnections are served at once (more are closed at once).
// Use: open() at start-up, before the daemon starts threads (the umask is process-wide)
// and before dropping root; start() queues the accept on the io_context; stop() closes it
// (from any thread). The Answerer runs on the io_context's threads, so it must be
// thread-safe and quick (State operations only).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pampero/common/result.hpp"

namespace asio {
class io_context;
}

namespace pampero::policyd {

constexpr std::size_t kMaxQuestion = 256;
constexpr std::chrono::seconds kQuestionTimeout{10};
constexpr int kMaxAdminConnections = 8;

// The whole answer to one question line (without its "\n").
using Answerer = std::function<std::string(std::string_view question)>;

class AdminSocket {
  public:
    virtual ~AdminSocket() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
};

// Binds `path` now (a socket file left by a previous run is replaced; any other file is
// an ErrorKind::config error; a bind failure, as a folder not there yet, is temporary).
Result<std::unique_ptr<AdminSocket>> open_admin_socket(asio::io_context& io,
                                                       const std::string& path, Answerer answer);

}  // namespace pampero::policyd
