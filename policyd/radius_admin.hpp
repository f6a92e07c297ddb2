// radius_admin.hpp - the questions `pamperoctl sessions` asks pampero-policyd.
//
// With the memory state backend the sessions live in the daemon's own memory, so the
// command line cannot read them: it asks the daemon on its admin socket
// (admin_socket.hpp: unix, mode 0600, one question per connection). Questions:
//   "sessions\n"       -> "ok N\n" then N lines
//   "session IP\n"     -> "ok 0\n" or "ok 1\n" then 1 line
// each line "IP\tUSER\tNAS\tACCT-SESSION-ID\tUPDATED-UNIX-TIME\n" (USER and the session
// id escaped: no tabs or control characters), or on failure one line
// "error temporary|permanent MESSAGE\n". Then the daemon closes.
// Bounds: a listing stops at kMaxListed sessions (the socket's own: admin_socket.hpp).
// Thread-safety: answer() may run on many threads (Accounting's State is thread-safe).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "radius_accounting.hpp"

namespace pampero::radius {

constexpr std::size_t kMaxListed = 1000000;

// The whole answer to one question line (without its "\n"). Pure over Accounting.
std::string answer_admin(Accounting& accounting, std::string_view question);

}  // namespace pampero::radius
