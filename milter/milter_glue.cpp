#include "milter_glue.hpp"

#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "pampero/common/log.hpp"

namespace pampero::milter {
namespace {

Services* g_services = nullptr;
std::atomic<unsigned long> g_connections{0};

Session* session(SMFICTX* ctx) { return static_cast<Session*>(smfi_getpriv(ctx)); }

void pick_up_queue_id(SMFICTX* ctx, Session* s) {
    if (const char* qid = smfi_getsymval(ctx, const_cast<char*>("i"))) s->set_queue_id(qid);
}

std::string peer_ip(const sockaddr* sa) {
    if (!sa) return "";
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    }
    return buf;
}

// The one place a Reply becomes a milter answer.
sfsistat apply(SMFICTX* ctx, const Reply& r) {
    if (r.kind == Reply::Kind::proceed) return SMFIS_CONTINUE;
    // smfi_setreply treats '%' as a format character.
    std::string text;
    for (char c : r.text) text += c == '%' ? std::string("%%") : std::string(1, c);
    if (smfi_setreply(ctx, const_cast<char*>(r.rcode.c_str()), const_cast<char*>(r.xcode.c_str()),
                      const_cast<char*>(text.c_str())) != MI_SUCCESS) {
        log::warning("smfi_setreply({} {}) failed", r.rcode, r.xcode);
    }
    return r.kind == Reply::Kind::reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

Session* session_for(SMFICTX* ctx) {
    if (Session* s = session(ctx)) return s;
    const unsigned long n = ++g_connections;
    auto* s = new Session(*g_services, fmt::format("conn-{:x}", n));
    smfi_setpriv(ctx, s);
    return s;
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                      unsigned long* pf0, unsigned long* pf1, unsigned long* pf2,
                      unsigned long* pf3) {
    const unsigned long want_actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT;
    if ((f0 & want_actions) != want_actions) {
        log::warning("the MTA does not offer all milter actions pampero uses (offered {:#x})", f0);
    }
    *pf0 = f0 & want_actions;
    if (!(f1 & SMFIP_RCPT_REJ)) {
        log::warning("the MTA cannot show refused recipients: the guard counts only its own");
    }
    // HDR_LEADSPC: header values exactly as sent, so `full` and header rules see the
    // message the client wrote, not a re-spaced copy.
    // Not SMFIP_NOHELO/SMFIP_NODATA: Postfix still sends those stages' macro packets
    // (SMFIC_MACRO 'H'/'T', even with empty milter_*_macros) but no command after them, so
    // nothing answers them; the milter host delays its ACK (40 ms on Linux) and Postfix's
    // next small write (the first header, from cleanup) waits for it under Nagle. With the
    // commands sent and answered (on_helo/on_data), every Postfix write gets a reply.
    *pf1 = f1 & (SMFIP_RCPT_REJ | SMFIP_NOUNKNOWN | SMFIP_HDR_LEADSPC);
    session_for(ctx)->set_verbatim_headers((*pf1 & SMFIP_HDR_LEADSPC) != 0);
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

sfsistat on_helo(SMFICTX*, char*) { return SMFIS_CONTINUE; }
sfsistat on_data(SMFICTX*) { return SMFIS_CONTINUE; }

// libmilter never sets TCP_NODELAY, and its end-of-message answer is several small writes
// (one per header added, then the verdict): with Nagle on, every write after the first
// waits for the MTA's delayed ACK (40 ms). libmilter does not expose its sockets, so set
// the option on the listening socket, which Linux (and the BSDs) copy to every accepted one.
void set_nodelay_on_listeners() {
    const long max_fd = std::min(sysconf(_SC_OPEN_MAX), 4096L);
    for (int fd = 0; fd < max_fd; ++fd) {
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) continue;
        if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
        const int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            log::warning("cannot set TCP_NODELAY on the milter socket: {}", std::strerror(errno));
    }
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR* addr) {
    return apply(ctx, session_for(ctx)->connect(peer_ip(addr)));
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    Session* s = session(ctx);
    if (!s) return SMFIS_TEMPFAIL;
    const char* auth = smfi_getsymval(ctx, const_cast<char*>("{auth_authen}"));
    return apply(ctx, s->mail_from(argv[0] ? argv[0] : "", auth && *auth));
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    Session* s = session(ctx);
    if (!s) return SMFIS_TEMPFAIL;
    pick_up_queue_id(ctx, s);
    const char* mailer = smfi_getsymval(ctx, const_cast<char*>("{rcpt_mailer}"));
    const bool refused = mailer && std::strcmp(mailer, "error") == 0;
    return apply(ctx, s->rcpt(argv[0] ? argv[0] : "", refused));
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    if (Session* s = session(ctx)) s->header(name ? name : "", value ? value : "");
    return SMFIS_CONTINUE;
}

sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t len) {
    if (Session* s = session(ctx)) s->body({reinterpret_cast<const char*>(chunk), len});
    return SMFIS_CONTINUE;
}

sfsistat on_eom(SMFICTX* ctx) {
    Session* s = session(ctx);
    if (!s) return SMFIS_TEMPFAIL;
    pick_up_queue_id(ctx, s);
    EndOfMessage eom = s->end_of_message();
    if (!eom.log_line.empty()) log::info("{}", eom.log_line);
    if (eom.reply.kind != Reply::Kind::proceed) {
        sfsistat r = apply(ctx, eom.reply);
        s->reset_message();
        return r;
    }
    bool failed = false;
    for (const auto& rcpt : eom.delete_recipients) {
        failed |= smfi_delrcpt(ctx, const_cast<char*>(rcpt.c_str())) != MI_SUCCESS;
    }
    for (const auto& [name, index] : eom.delete_headers) {
        failed |= smfi_chgheader(ctx, const_cast<char*>(name.c_str()), index, nullptr) != MI_SUCCESS;
    }
    for (const auto& [name, value] : eom.add_headers) {
        failed |= smfi_addheader(ctx, const_cast<char*>(name.c_str()),
                                 const_cast<char*>(value.c_str())) != MI_SUCCESS;
    }
    s->reset_message();
    if (failed) {
        // A recipient we meant to refuse could otherwise be delivered: let the MTA retry.
        log::error("{}: applying the verdict failed; answering 451", s->id());
        return apply(ctx, Reply::tempfail("451", "4.3.0", "Temporary internal failure, try again later"));
    }
    return SMFIS_CONTINUE;
}

sfsistat on_abort(SMFICTX* ctx) {
    if (Session* s = session(ctx)) s->reset_message();
    return SMFIS_CONTINUE;
}

sfsistat on_close(SMFICTX* ctx) {
    delete session(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

}  // namespace

bool register_milter(Services& services, const std::string& socket, int timeout) {
    g_services = &services;
    static smfiDesc desc{};
    desc.xxfi_name = const_cast<char*>("pampero");
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT;
    desc.xxfi_connect = on_connect;
    desc.xxfi_helo = on_helo;
    desc.xxfi_data = on_data;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_header = on_header;
    desc.xxfi_body = on_body;
    desc.xxfi_eom = on_eom;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;
    desc.xxfi_negotiate = on_negotiate;
    if (smfi_register(desc) != MI_SUCCESS) {
        log::error("smfi_register failed");
        return false;
    }
    if (smfi_setconn(const_cast<char*>(socket.c_str())) != MI_SUCCESS) {
        log::error("bad milter socket '{}'", socket);
        return false;
    }
    smfi_settimeout(timeout);
    if (smfi_opensocket(true) != MI_SUCCESS) {
        log::error("cannot listen on milter socket '{}'", socket);
        return false;
    }
    set_nodelay_on_listeners();
    return true;
}

bool run() { return smfi_main() == MI_SUCCESS; }
void stop() { smfi_stop(); }

}  // namespace pampero::milter
