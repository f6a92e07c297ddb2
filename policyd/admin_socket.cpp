// admin_socket.cpp - see admin_socket.hpp.
#include "admin_socket.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <atomic>

namespace pampero::policyd {
namespace {

// One admin connection: a question, the answer, close.
struct AdminConn {
    AdminConn(asio::local::stream_protocol::socket s, asio::io_context& io)
        : sock(std::move(s)), timer(io) {}
    asio::local::stream_protocol::socket sock;
    asio::steady_timer timer;
    asio::streambuf in{kMaxQuestion};
    std::string out;
};

class AdminSocketImpl final : public std::enable_shared_from_this<AdminSocketImpl> {
  public:
    AdminSocketImpl(asio::io_context& io, Answerer answer)
        : io_(io), answer_(std::move(answer)), acceptor_(io) {}

    Status bind(const std::string& path) {
        struct stat st {};
        // A socket left by a previous run; any other file is the admin's: bind says so.
        if (::lstat(path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                return Error::config("admin socket " + path +
                                     ": a file that is not a socket is there");
            ::unlink(path.c_str());
        }
        std::error_code ec;
        acceptor_.open(asio::local::stream_protocol(), ec);
        const mode_t old = ::umask(0177);  // 0600 from birth: no window of a wider mode
        if (!ec) acceptor_.bind(asio::local::stream_protocol::endpoint(path), ec);
        ::umask(old);
        if (!ec) acceptor_.listen(kMaxAdminConnections, ec);
        // Cannot be bound now (a folder not there yet, in use): temporary, as listen_on()
        // says of the other sockets (daemon.hpp's exit code follows).
        if (ec) return Error::temporary("admin socket " + path + ": " + ec.message());
        return ok_status();
    }

    void accept() {
        acceptor_.async_accept([self = shared_from_this()](std::error_code ec,
                                                           asio::local::stream_protocol::socket c) {
            if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
            if (!ec) {
                if (self->busy_.load() >= kMaxAdminConnections) {
                    std::error_code ignore;
                    c.close(ignore);
                } else {
                    self->serve(std::make_shared<AdminConn>(std::move(c), self->io_));
                }
            }
            self->accept();
        });
    }

    void stop() {
        asio::post(io_, [self = shared_from_this()] {
            std::error_code ec;
            self->acceptor_.close(ec);
        });
    }

  private:
    void serve(std::shared_ptr<AdminConn> conn) {
        ++busy_;
        conn->timer.expires_after(kQuestionTimeout);
        conn->timer.async_wait([conn](std::error_code ec) {
            if (ec) return;
            std::error_code ignore;
            conn->sock.close(ignore);
        });
        asio::async_read_until(
            conn->sock, conn->in, '\n',
            [self = shared_from_this(), conn](std::error_code ec, std::size_t n) {
                if (ec) {  // closed, too long, or timed out: no answer
                    self->done(conn);
                    return;
                }
                std::string q(
                    asio::buffers_begin(conn->in.data()),
                    asio::buffers_begin(conn->in.data()) + static_cast<std::ptrdiff_t>(n - 1));
                conn->out = self->answer_(q);
                asio::async_write(conn->sock, asio::buffer(conn->out),
                                  [self, conn](std::error_code, std::size_t) { self->done(conn); });
            });
    }

    void done(const std::shared_ptr<AdminConn>& conn) {
        std::error_code ignore;
        conn->timer.cancel();
        conn->sock.close(ignore);
        --busy_;
    }

    asio::io_context& io_;
    Answerer answer_;
    asio::local::stream_protocol::acceptor acceptor_;
    std::atomic<int> busy_{0};
};

}  // namespace

Result<std::unique_ptr<AdminSocket>> open_admin_socket(asio::io_context& io,
                                                       const std::string& path, Answerer answer) {
    auto impl = std::make_shared<AdminSocketImpl>(io, std::move(answer));
    if (auto st = impl->bind(path); !st) return st.error();
    // The handlers hold the implementation alive until they end (stop() closes the
    // acceptor, ending them).
    struct Handle final : AdminSocket {
        explicit Handle(std::shared_ptr<AdminSocketImpl> p) : impl(std::move(p)) {}
        void start() override { impl->accept(); }
        void stop() override { impl->stop(); }
        std::shared_ptr<AdminSocketImpl> impl;
    };
    return std::unique_ptr<AdminSocket>(std::make_unique<Handle>(std::move(impl)));
}

}  // namespace pampero::policyd
