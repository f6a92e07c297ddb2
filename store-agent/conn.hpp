// conn.hpp - one buffered, blocking stream connection with timeouts, for the LMTP and
// socketmap sessions and the LMTP client.
//
// Reads go through an input buffer so pipelined commands are served in order; replies are
// queued and flushed whenever the session is about to wait for input (RFC 2920: a server
// may hold replies while more commands are already buffered). Waiting is done in short
// poll() slices so a graceful stop can interrupt an idle session.
// Writes wait at most the write timeout (set_write_timeout, default 300 s) for the peer to
// take our bytes: a client that pipelines commands and never reads its replies would
// otherwise pin the session's thread in send() forever, and a graceful stop with it. Once
// a stop is under way a blocked write gets at most kStopWriteGrace more.
// Bounds: a line longer than the caller's `max` is reported once as too_long and the rest
// of it is skipped up to its LF, so a peer cannot make the buffer grow without limit.
// Not thread-safe: one thread owns a Conn.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

namespace pampero::store {

constexpr std::chrono::seconds kStopWriteGrace{2};

class Conn {
  public:
    enum class Status { ok, eof, timeout, too_long, error, stopping, write_timeout };

    // Takes ownership of fd. `stopping`, when set, ends waits that were started with
    // interruptible = true.
    Conn(int fd, const std::atomic<bool>* stopping = nullptr) : fd_(fd), stopping_(stopping) {}
    ~Conn();
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    // One line without its CRLF/LF, at most `max` octets including the line end.
    Status read_line(std::string& line, std::size_t max, std::chrono::seconds timeout,
                     bool interruptible = false);
    // Reads at least one more byte into the buffer.
    Status fill(std::chrono::seconds timeout, bool interruptible = false);
    std::string_view buffered() const { return std::string_view(in_).substr(pos_); }
    void consume(std::size_t n);
    bool has_line() const;

    void queue(std::string_view s) { out_.append(s); }
    // False when the peer is gone or did not read for the write timeout (then
    // write_timed_out() is true and the session should just close).
    bool flush();
    void set_write_timeout(std::chrono::seconds t) { write_timeout_ = t; }
    bool write_timed_out() const { return write_timed_out_; }
    bool send(std::string_view s) {
        queue(s);
        return flush();
    }
    int fd() const { return fd_; }

  private:
    Status wait_readable(std::chrono::seconds timeout, bool interruptible);
    int fd_;
    const std::atomic<bool>* stopping_;
    std::string in_;
    std::size_t pos_ = 0;
    std::string out_;
    bool skipping_ = false;  // inside an over-long line: drop up to its LF
    std::chrono::seconds write_timeout_{300};
    bool write_timed_out_ = false;
};

}  // namespace pampero::store
