// bench_policy_load: a Postfix policy client that keeps C connections busy for S seconds
// and prints requests per second. Each connection does what smtpd does: one request,
// wait for its reply, the next (no pipelining). One thread, poll() over the connections,
// so the client costs little of the 2 cores it shares with the server.
// Requests are RCPT requests of an authenticated user (Postfix 3.7's attributes), the
// user one of U, so every request walks the relay and rate-limit path; replies are
// counted by action (OK, DUNNO, 4xx, 5xx, other).
//   bench_policy_load PORT [CONNECTIONS=20] [SECONDS=5] [USERS=1000]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

std::string request(int user, long n) {
    std::string r;
    r.reserve(900);
    r += "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n";
    r += "helo_name=client.example\nqueue_id=\nsender=user" + std::to_string(user) +
         "@example.org\n";
    r += "recipient=rcpt" + std::to_string(n % 97) + "@example.net\nrecipient_count=0\n";
    r += "client_address=10.1." + std::to_string(user / 250) + "." +
         std::to_string(user % 250 + 1) + "\nclient_name=unknown\nreverse_client_name=unknown\n";
    r += "instance=" + std::to_string(n) + ".0\nsasl_method=PLAIN\nsasl_username=user" +
         std::to_string(user) + "@example.org\nsasl_sender=\nsize=0\nccert_subject=\n";
    r += "ccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=\n";
    r += "encryption_cipher=\nencryption_keysize=0\netrn_domain=\nstress=\n";
    r += "server_address=127.0.0.1\nserver_port=25\npolicy_context=\ncompatibility_level=3.6\n";
    r += "mail_version=3.7.11\n\n";
    return r;
}

struct Conn {
    int fd = -1;
    std::string out;
    std::size_t sent = 0;
    std::string in;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PORT [CONNECTIONS] [SECONDS] [USERS]\n", argv[0]);
        return 64;
    }
    const int port = std::atoi(argv[1]);
    const int nconn = argc > 2 ? std::atoi(argv[2]) : 20;
    const double seconds = argc > 3 ? std::atof(argv[3]) : 5;
    const int users = argc > 4 ? std::atoi(argv[4]) : 1000;
    std::vector<Conn> conns(nconn);
    std::vector<pollfd> pfds(nconn);
    long next = 0;
    for (int i = 0; i < nconn; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            std::perror("connect");
            return 1;
        }
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[i].fd = fd;
        conns[i].out = request(static_cast<int>(next % users), next);
        ++next;
        pfds[i] = {fd, POLLOUT, 0};
    }
    std::map<std::string, long> actions;
    long done = 0, closed = 0;
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    char buf[8192];
    while (std::chrono::steady_clock::now() < end && closed < nconn) {
        if (poll(pfds.data(), pfds.size(), 1000) <= 0) continue;
        for (int i = 0; i < nconn; ++i) {
            Conn& c = conns[i];
            if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
            if (pfds[i].revents & POLLOUT) {
                const ssize_t n =
                    send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
                if (n > 0) c.sent += static_cast<std::size_t>(n);
                if (c.sent == c.out.size()) pfds[i].events = POLLIN;
                continue;
            }
            const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
            if (n <= 0) {
                pfds[i].fd = -1;
                ++closed;
                continue;
            }
            c.in.append(buf, static_cast<std::size_t>(n));
            const auto e = c.in.find("\n\n");
            if (e == std::string::npos) continue;
            const std::string action = c.in.substr(7, 3);  // "action=" then OK/DUN/450/554...
            ++actions[action == "OK\n" ? "OK" : action];
            c.in.erase(0, e + 2);
            ++done;
            c.out = request(static_cast<int>(next % users), next);
            ++next;
            c.sent = 0;
            pfds[i].events = POLLOUT;
        }
    }
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%ld requests in %.2f s over %d connections: %.0f requests/s", done, took, nconn,
                done / took);
    for (const auto& [a, n] : actions) std::printf("; %s %ld", a.c_str(), n);
    if (closed) std::printf("; %ld connections closed by the server", closed);
    std::printf("\n");
    for (auto& c : conns) close(c.fd);
    return closed == nconn ? 1 : 0;
}
