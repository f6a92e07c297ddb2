#include "conn.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace pampero::store {

Conn::~Conn() {
    if (fd_ >= 0) close(fd_);
}

void Conn::consume(std::size_t n) {
    pos_ += n;
    if (pos_ >= in_.size()) {
        in_.clear();
        pos_ = 0;
    } else if (pos_ > 65536) {
        in_.erase(0, pos_);
        pos_ = 0;
    }
}

bool Conn::has_line() const {
    return in_.find('\n', pos_) != std::string::npos;
}

bool Conn::flush() {
    using Clock = std::chrono::steady_clock;
    if (write_timed_out_) {
        out_.clear();
        return false;
    }
    auto deadline = Clock::now() + write_timeout_;
    bool stop_seen = false;
    std::size_t done = 0;
    while (done < out_.size()) {
        const ssize_t n =
            ::send(fd_, out_.data() + done, out_.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            out_.clear();
            return false;
        }
        // The peer's window is full: wait in slices, so a stop shortens the wait.
        if (!stop_seen && stopping_ && stopping_->load()) {
            stop_seen = true;
            deadline = std::min(deadline, Clock::now() + kStopWriteGrace);
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            write_timed_out_ = true;
            out_.clear();
            return false;
        }
        pollfd p{fd_, POLLOUT, 0};
        if (poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 250))) < 0 &&
            errno != EINTR) {
            out_.clear();
            return false;
        }
    }
    out_.clear();
    return true;
}

Conn::Status Conn::wait_readable(std::chrono::seconds timeout, bool interruptible) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (interruptible && stopping_ && stopping_->load()) return Status::stopping;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return Status::timeout;
        pollfd p{fd_, POLLIN, 0};
        const int slice = static_cast<int>(std::min<long>(left.count(), 250));
        const int n = poll(&p, 1, slice);
        if (n < 0 && errno != EINTR) return Status::error;
        if (n > 0) return Status::ok;
    }
}

Conn::Status Conn::fill(std::chrono::seconds timeout, bool interruptible) {
    if (!out_.empty() && !flush()) return write_timed_out_ ? Status::write_timeout : Status::error;
    if (const Status s = wait_readable(timeout, interruptible); s != Status::ok) return s;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::error;
        if (n == 0) return Status::eof;
        if (pos_ > 0 && pos_ == in_.size()) {
            in_.clear();
            pos_ = 0;
        }
        in_.append(buf, static_cast<std::size_t>(n));
        return Status::ok;
    }
}

Conn::Status Conn::read_line(std::string& line, std::size_t max, std::chrono::seconds timeout,
                             bool interruptible) {
    for (;;) {
        const auto lf = in_.find('\n', pos_);
        if (skipping_) {
            if (lf == std::string::npos) {
                in_.clear();
                pos_ = 0;
            } else {
                consume(lf + 1 - pos_);
                skipping_ = false;
                continue;
            }
        } else if (lf != std::string::npos) {
            if (lf + 1 - pos_ > max) {
                consume(lf + 1 - pos_);
                return Status::too_long;
            }
            std::size_t end = lf;
            if (end > pos_ && in_[end - 1] == '\r') --end;
            line.assign(in_, pos_, end - pos_);
            consume(lf + 1 - pos_);
            return Status::ok;
        } else if (in_.size() - pos_ > max) {
            in_.clear();
            pos_ = 0;
            skipping_ = true;
            return Status::too_long;
        }
        const Status s = fill(timeout, interruptible);
        if (s != Status::ok) return s;
    }
}

}  // namespace pampero::store
