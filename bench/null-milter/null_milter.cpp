// bench_null_milter - a milter that scans nothing: Postfix's own cost of a milter.
//
//   bench_null_milter PORT [--no-headers]
//
// Listens on 127.0.0.1:PORT, one thread, one event loop. Negotiates what pampero-milter
// negotiates (the same steps skipped and unanswered, so the MTA makes the same round
// trips), answers every step that waits with "continue" and, at end of message, adds
// three X-Spam-* headers as pampero does (none with --no-headers), so Postfix does the
// same header edits. bench/smtp-pipeline runs it as its "null milter" variant: the rate
// Postfix keeps with a milter that costs nothing is the ceiling for any real one.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "protocol.hpp"

namespace proto = pampero::milter::proto;

namespace {

// As milter/server.cpp negotiates (see server.hpp for why each).
constexpr std::uint32_t kProtocol =
    proto::flag::rcpt_rej | proto::flag::no_unknown | proto::flag::header_leading_space |
    proto::flag::nr_header | proto::flag::nr_body | proto::flag::nr_eoh | proto::flag::no_helo |
    proto::flag::no_data | proto::flag::nr_mail;
constexpr std::uint32_t kActions =
    proto::action::add_headers | proto::action::change_headers | proto::action::delete_rcpt;
bool g_headers = true;

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    explicit Connection(asio::ip::tcp::socket s) : socket_(std::move(s)) { in_.resize(64 * 1024); }
    void read() {
        socket_.async_read_some(asio::buffer(in_.data() + end_, in_.size() - end_),
                                [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                    if (!ec) self->on_read(n);
                                });
    }

  private:
    void on_read(std::size_t n) {
        end_ += n;
        bool open = true;
        for (;;) {
            const proto::Framing f = proto::next_packet({in_.data() + begin_, end_ - begin_});
            if (f.status == proto::Framing::Status::error) return;  // drop the connection
            if (f.status == proto::Framing::Status::incomplete) {
                if (f.needed > in_.size() - begin_) in_.resize(f.needed + begin_);
                break;
            }
            begin_ += f.consumed;
            open = handle(f.packet) && open;
        }
        std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        if (!open) return;
        if (out_.empty()) {
            // As pampero-milter does (milter/server.cpp): ACK at once what needs no reply,
            // or Postfix's next small write waits under Nagle for our delayed ACK.
            const int one = 1;
            ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
            return read();
        }
        asio::async_write(socket_, asio::buffer(out_),
                          [self = shared_from_this()](std::error_code ec, std::size_t) {
                              self->out_.clear();
                              if (!ec) self->read();
                          });
    }
    bool handle(const proto::Packet& p) {
        switch (p.command) {
            case 'O':
                proto::encode_negotiation(out_, {proto::kVersion, kActions, kProtocol});
                return true;
            case 'C':
            case 'H':
            case 'R':
            case 'T':
            case 'U':
                (void)proto::encode_simple(out_, 'c');
                return true;
            case 'E':
                if (g_headers) {
                    (void)proto::encode_add_header(out_, "X-Spam-Score", " 0.0");
                    (void)proto::encode_add_header(out_, "X-Spam-Level", " ");
                    (void)proto::encode_add_header(out_, "X-Spam-Status", " No, score=0.0");
                }
                (void)proto::encode_simple(out_, 'c');
                return true;
            case 'Q':
                return false;
            default:  // 'D' macros, 'M' (NR_MAIL), 'L' 'N' 'B' (NR_*), 'A', 'K'
                return true;
        }
    }

    asio::ip::tcp::socket socket_;
    std::vector<char> in_;
    std::size_t begin_ = 0, end_ = 0;
    std::string out_;
};

void accept(asio::ip::tcp::acceptor& a) {
    a.async_accept([&a](std::error_code ec, asio::ip::tcp::socket s) {
        if (!ec) {
            s.set_option(asio::ip::tcp::no_delay(true));
            std::make_shared<Connection>(std::move(s))->read();
        }
        accept(a);
    });
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::atoi(argv[1]) <= 0) {
        std::fprintf(stderr, "usage: bench_null_milter PORT [--no-headers]\n");
        return 64;
    }
    g_headers = !(argc > 2 && std::strcmp(argv[2], "--no-headers") == 0);
    asio::io_context io(1);
    asio::ip::tcp::acceptor acceptor(
        io, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))});
    accept(acceptor);
    io.run();
}
