// radius_admin.hpp - the question `pamperoctl sessions` asks pampero-policyd.
//
// With the memory state backend the sessions live in the daemon's own memory, so the
// command line cannot read them: it asks the daemon on a local (unix) stream socket,
// `radius.admin_socket`, created mode 0600 by the daemon before it drops root (so root,
// or the daemon's user, may ask; the mapping of addresses to customers is private).
// Protocol, one question per connection:
//   "sessions\n"       -> "ok N\n" then N lines
//   "session IP\n"     -> "ok 0\n" or "ok 1\n" then 1 line
// each line "IP\tUSER\tNAS\tACCT-SESSION-ID\tUPDATED-UNIX-TIME\n" (USER and the session
// id escaped: no tabs or control characters), or on failure one line
// "error temporary|permanent MESSAGE\n". Then the daemon closes.
// Bounds: a question is at most kMaxQuestion octets and must arrive within
// kQuestionTimeout; at most kMaxAdminConnections are served at once (more are closed at
// once); a listing stops at kMaxListed sessions.
// Thread-safety: answer() may run on many threads (Accounting's State is thread-safe).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "radius_accounting.hpp"

namespace pampero::radius {

constexpr std::size_t kMaxQuestion = 256;
constexpr std::chrono::seconds kQuestionTimeout{10};
constexpr int kMaxAdminConnections = 8;
constexpr std::size_t kMaxListed = 1000000;

// The whole answer to one question line (without its "\n"). Pure over Accounting.
std::string answer_admin(Accounting& accounting, std::string_view question);

}  // namespace pampero::radius
