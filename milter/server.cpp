#include "server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio.hpp>
#include <atomic>

#include "dialog.hpp"
#include "input_buffer.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/stream_server.hpp"
#include "protocol.hpp"

namespace pampero::milter {

namespace {

// The read buffer (input_buffer.hpp): what a new connection holds (an option negotiation
// is 17 octets, the macros and commands of one step a few hundred); room for at least
// kMinRead octets per read; kept between packets up to kKeepBuffer (a Postfix body chunk,
// 65535 octets, and what was pipelined behind it: a message of normal size never
// reallocates), released back to kInitialBuffer after a larger packet; never more than
// one packet of kMaxPacketLength, its length field and room for a read.
constexpr std::size_t kInitialBuffer = 4 * 1024;
constexpr std::size_t kMinRead = 1024;
constexpr std::size_t kKeepBuffer = 128 * 1024;
constexpr std::size_t kMaxBuffer = proto::kMaxPacketLength + 4 + kMinRead;

}  // namespace

class Connection;

struct Server::Impl {
    Impl(Services& s, ServerOptions o) : services(s), options(std::move(o)) {}

    Services& services;
    ServerOptions options;
    std::atomic<unsigned long> sessions{0};  // "conn-N" names, as the logs always had
    // Made by listen(): sockets, loops, the cap and stop() (stream_server.hpp).
    std::unique_ptr<StreamServer> server;
    bool tcp = false;

    std::string new_session_name() { return fmt::format("conn-{:x}", ++sessions); }
};

class Connection final : public StreamServer::Connection,
                         public std::enable_shared_from_this<Connection> {
  public:
    Connection(Server::Impl& server, StreamServer::Socket socket, StreamServer::Slot slot)
        : StreamServer::Connection(std::move(slot)),
          srv_(server),
          socket_(std::move(socket)),
          deadline_(socket_.get_executor(), std::chrono::seconds(server.options.timeout)),
          in_(kInitialBuffer, kMinRead, kKeepBuffer, kMaxBuffer),
          dialog_(server.services, [&server] { return server.new_session_name(); }) {}

    asio::any_io_executor executor() override { return socket_.get_executor(); }

    // On the connection's loop, all of them.
    void start() override {
        deadline_.touch();
        deadline_.start(shared_from_this(), [this] { on_timeout(); });
        read();
    }
    void drain() override {
        draining_ = true;
        // Idle: close, nothing to finish. Cancel the pending read rather than close the
        // socket: the reactor may already have read bytes on_read has not seen yet (a
        // MAIL under NR_MAIL gets no reply, so the MTA can have sent one just before the
        // signal), and on_read then goes on with them.
        if (reading_ && idle()) {
            std::error_code ec;
            socket_.cancel(ec);
        }
    }
    void close() override {
        if (closed_) return;
        closed_ = true;
        std::error_code ec;
        socket_.shutdown(asio::socket_base::shutdown_both, ec);
        socket_.close(ec);
        deadline_.cancel();
    }

  private:
    // The deadline for the next whole packet (or for the MTA to take our reply). Moved
    // only when the connection starts, a packet is complete or a reply has been written:
    // never by a read that brings part of a packet (see server.hpp, "time").
    void touch() { deadline_.touch(); }

    void on_timeout() {
        if (closed_) return;
        if (in_.empty()) {
            log::info("{}: no word from the MTA for {} s; closing the connection", dialog_.name(),
                      srv_.options.timeout);
        } else {
            log::info(
                "{}: no whole packet from the MTA in {} s ({} octets of one buffered); "
                "closing the connection",
                dialog_.name(), srv_.options.timeout, in_.data().size());
        }
        close();
    }

    // Nothing to finish: outside a transaction, no half packet buffered and nothing
    // waiting in the socket.
    bool idle() {
        if (dialog_.in_transaction() || !in_.empty()) return false;
        std::error_code ec;
        const std::size_t waiting = socket_.available(ec);
        return ec || waiting == 0;
    }

    void read() {
        if (closed_) return;
        if (draining_ && idle()) {
            close();
            return;
        }
        // Grows only when the octets already received fill it (input_buffer.hpp): a
        // length field alone costs nothing. next_packet() has refused any length above
        // kMaxPacketLength, so a packet being read always fits in kMaxBuffer.
        const std::span<char> room = in_.prepare();
        reading_ = true;
        // async_read_some, not async_wait + read_some: Asio registers the socket once
        // (edge-triggered) and queues a read without a system call when the last read
        // emptied the socket; async_wait re-arms epoll (epoll_ctl) on every call, which
        // was 8 system calls a message.
        socket_.async_read_some(asio::buffer(room.data(), room.size()),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    self->on_read(ec, n);
                                });
    }

    void on_read(std::error_code ec, std::size_t n) {
        reading_ = false;
        if (ec == asio::error::operation_aborted && draining_ && !closed_) {
            read();  // cancelled by drain(): closes unless bytes came in meanwhile
            return;
        }
        if (ec) {
            if (ec != asio::error::eof && ec != asio::error::operation_aborted && !closed_) {
                log::debug("{}: read: {}", dialog_.name(), ec.message());
            }
            close();
            return;
        }
        in_.commit(n);
        const bool keep = handle_buffered();
        if (srv_.tcp && out_.empty()) {
            // Nothing to answer (macros, a header under NR_HDR, half a packet): ACK now,
            // or the MTA's next small write waits under Nagle for our delayed ACK. A
            // reply carries the ACK itself.
            const int one = 1;
            ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        if (!out_.empty()) {
            write(keep);
        } else if (keep) {
            read();
        } else {
            close();
        }
    }

    void write(bool keep) {
        touch();  // the MTA has `timeout` seconds to take the reply ...
        asio::async_write(socket_, asio::buffer(out_),
                          [self = shared_from_this(), keep](std::error_code ec, std::size_t) {
                              self->out_.clear();
                              if (ec || !keep) {
                                  self->close();
                                  return;
                              }
                              self->touch();  // ... and as long again for its next packet
                              self->read();
                          });
    }

    // Every complete packet buffered, in order; replies go to out_. False: close after
    // writing out_. Nothing is reserved for a packet whose length is known and whose
    // octets are not here yet: the buffer grows as they arrive (read()).
    bool handle_buffered() {
        for (;;) {
            // Before negotiation only an 'O' packet may come: a small bound (protocol.hpp).
            const proto::Framing f = proto::next_packet(in_.data(), dialog_.max_packet_length());
            if (f.status == proto::Framing::Status::incomplete) return true;
            if (f.status == proto::Framing::Status::error) {
                dialog_.framing_error(f.error, out_);
                return false;
            }
            touch();  // a whole packet: the next one has `timeout` seconds from now
            // The packet's views stay valid: consume() moves no octets.
            in_.consume(f.consumed);
            if (!dialog_.feed(f.packet, out_)) return false;
        }
    }

    Server::Impl& srv_;
    StreamServer::Socket socket_;
    IdleDeadline deadline_;
    InputBuffer in_;   // read and not yet handled
    Dialog dialog_;    // the milter protocol (dialog.hpp)
    std::string out_;  // the replies of this step, written at once
    bool draining_ = false;
    bool reading_ = false;
    bool closed_ = false;
};

Server::Server(Services& services, ServerOptions options)
    : impl_(std::make_unique<Impl>(services, std::move(options))) {}

Server::~Server() = default;  // the StreamServer stops itself if still running

Status Server::listen() {
    Impl& m = *impl_;
    auto spec = parse_endpoint(m.options.socket);
    if (!spec) return spec.error();
    m.tcp = spec->tcp();
    StreamServerOptions o{"milter",          "milter.max_connections", *spec, m.options.unix_access,
                          m.options.threads, m.options.max_connections};
    m.server = std::make_unique<StreamServer>(
        std::move(o), [&m](StreamServer::Socket s, std::uint64_t, StreamServer::Slot slot) {
            return std::make_shared<Connection>(m, std::move(s), std::move(slot));
        });
    return m.server->listen();
}

void Server::before_fork() {
    if (impl_->server) impl_->server->before_fork();
}
void Server::after_fork_in_child() {
    if (impl_->server) impl_->server->after_fork_in_child();
}

void Server::start() {
    if (impl_->server) impl_->server->start();
}

void Server::stop(std::chrono::seconds grace) {
    if (impl_->server) impl_->server->stop(grace);
}

}  // namespace pampero::milter
