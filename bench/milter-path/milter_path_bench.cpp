// milter_path_bench - pampero-milter's whole work for one message, without its socket:
// the packets Postfix's milter8 sends for one SMTP connection (option negotiation,
// macros, CONNECT, MAIL, RCPT, every header, the body in 65535-octet chunks, END OF
// MESSAGE, QUIT) framed and fed to a fresh Dialog as the server does, with what
// bench/whole-path gives the daemon: the shipped rules and levels, two mirror-mode
// blocklists, ClamAV with an EICAR signature folder (temporary files in /dev/shm), a
// signed verdict, a cached SQLite directory, the memory state, the metrics.
//
//   BM_MilterPath/source:1   the message smtp-source sends in bench/whole-path (a few
//                            headers, then 80-column lines of X up to the development
//                            corpus's mean size, 4,821 octets without it), ten times (ten
//                            connections, ten queue ids), after 20 unmeasured ones
//   BM_MilterPath/source:0   every message of the development corpus (../shared/corpus)
//
// items_per_second = messages/s on one thread. Wall times on a shared machine are noisy;
// count instructions for a steady figure (what the kernel does for the socket is not in
// it; `perf` on the daemon under bench/whole-path shows that part):
//   valgrind --tool=callgrind build/bin/bench_milter_path
//       --benchmark_filter=MilterPath/source:1 --benchmark_min_time=0.001
// with --toggle-collect='*BM_MilterPath*' (the setup and warm-up left out), and divide
// by the messages measured that it prints last (Google Benchmark may call the function
// more than once).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dialog.hpp"
#include "milter_metrics.hpp"
#include "pampero/common/config.hpp"
#include "pampero/common/directory.hpp"
#include "pampero/common/log.hpp"
#include "pampero/common/state.hpp"
#include "pampero/lists/blocklists.hpp"
#include "pampero/verdict/verdict_signature.hpp"
#include "protocol.hpp"

using namespace pampero;

namespace {

constexpr const char* kDomain = "bench.example";
constexpr std::size_t kChunk = 65535;  // Postfix's MILTER_CHUNK_SIZE

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16 & 0xff),
            static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)};
}

void packet(std::string& out, char command, std::string_view data) {
    out += be32(static_cast<std::uint32_t>(data.size() + 1));
    out += command;
    out += data;
}

std::string z(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto p : parts) {
        out += p;
        out += '\0';
    }
    return out;
}

// One SMTP connection carrying `message` (LF or CRLF) as milter8 sends it.
// The line of `message` starting at `pos`, without its LF or CRLF; `pos` moves past it.
std::string_view next_line(const std::string& message, std::size_t& pos) {
    auto nl = message.find('\n', pos);
    if (nl == std::string::npos) nl = message.size();
    std::string_view line(message.data() + pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

std::string conversation(const std::string& message, int n) {
    std::string out;
    // Version 6, every action, every protocol flag up to HDR_LEADSPC.
    packet(out, 'O', be32(6) + be32(0x1ff) + be32(0x1fffff));
    packet(out, 'D', "C" + z({"j", "mx.bench.example", "{daemon_name}", "smtpd", "v", "Postfix"}));
    packet(out, 'C', z({"localhost"}) + "4" + std::string("\x30\x39", 2) + z({"127.0.0.1"}));
    packet(out, 'D', "M" + z({"{mail_addr}", "sender@source.example"}));
    packet(out, 'M', z({"<sender@source.example>"}));
    const std::string qid = fmt::format("4Q{:08X}", n);
    packet(out, 'D',
           "R" + z({"i", qid, "{rcpt_addr}", "user@bench.example", "{rcpt_mailer}", "lmtp"}));
    packet(out, 'R', z({"<user@bench.example>"}));
    // Postfix's own Received: first, then the message's header, each folded line joined
    // with LF as cleanup hands it over; the value as sent (HDR_LEADSPC).
    std::vector<std::pair<std::string, std::string>> headers;
    headers.emplace_back("Received",
                         fmt::format(" from localhost (localhost [127.0.0.1])\n\tby "
                                     "mx.bench.example (Postfix) with ESMTP id {}\n\tfor "
                                     "<user@bench.example>; Wed,  2 Dec 2026 00:00:00 +0000 (UTC)",
                                     qid));
    std::size_t pos = 0;
    while (pos < message.size()) {
        const std::string_view line = next_line(message, pos);
        if (line.empty()) break;
        if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
            headers.back().second += '\n';
            headers.back().second += line;
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) break;
        headers.emplace_back(std::string(line.substr(0, colon)),
                             std::string(line.substr(colon + 1)));
    }
    for (const auto& [name, value] : headers) packet(out, 'L', z({name, value}));
    packet(out, 'N', "");
    std::string body;
    while (pos < message.size()) {
        const std::string_view line = next_line(message, pos);
        body += line;
        body += "\r\n";
    }
    for (std::size_t at = 0; at < body.size(); at += kChunk)
        packet(out, 'B', std::string_view(body).substr(at, kChunk));
    packet(out, 'D', "E" + z({"i", qid}));
    packet(out, 'E', "");
    packet(out, 'Q', "");
    return out;
}

// What smtp-source -l SIZE sends: its header, then 80-column lines of X.
std::string source_message(std::size_t size) {
    std::string m =
        "From: <sender@source.example>\nTo: <user@bench.example>\n"
        "Date: Wed, 2 Dec 2026 00:00:00 +0000 (UTC)\nMessage-Id: <1234.5678.9abc@source.example>\n"
        "\n";
    std::string body(size, 'X');
    for (std::size_t i = 80; i <= size; i += 80) body[i - 1] = '\n';
    return m + body + "\n";
}

struct World {
    std::filesystem::path dir;
    Config cfg;
    std::unique_ptr<Directory> directory;
    std::unique_ptr<State> state;
    std::unique_ptr<policy::Guard> guard;
    std::unique_ptr<scan::EngineHolder> holder;
    std::unique_ptr<scan::AntivirusWatcher> antivirus;
    std::unique_ptr<Snapshot<scan::Blocklists>> lists;
    std::unique_ptr<Snapshot<const scan::VerdictKeys>> keys;
    metrics::Registry registry;
    std::unique_ptr<milter::MilterMetrics> counters;
    std::unique_ptr<milter::Services> services;
};

World* g_world = nullptr;
std::vector<std::string> g_source;  // one conversation: the smtp-source message
std::vector<std::string> g_corpus;  // one conversation per corpus message
std::size_t g_measured = 0;         // messages BM_MilterPath ran, every call of it counted

bool die(const std::string& what) {
    std::fprintf(stderr, "bench_milter_path: %s\n", what.c_str());
    std::exit(1);
}

void make_world(World& w) {
    char tmpl[] = "/tmp/pampero-bench-milter-path-XXXXXX";
    if (!mkdtemp(tmpl)) die("mkdtemp failed");
    w.dir = tmpl;
    const std::string src = PAMPERO_SOURCE_DIR;
    {
        std::ofstream sigs(w.dir / "bench-eicar.ndb");
        const std::string eicar =
            R"(X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*)";
        std::string hex;
        for (unsigned char c : eicar) hex += fmt::format("{:02x}", c);
        sigs << "Pampero.Bench.EICAR:0:*:" << hex << "\n";
    }
    std::filesystem::create_directories(w.dir / "signatures");
    std::filesystem::rename(w.dir / "bench-eicar.ndb", w.dir / "signatures" / "bench-eicar.ndb");
    {
        std::ofstream zone(w.dir / "mirror.ip4set");
        zone << ":127.0.0.2:Listed\n";
        for (int i = 0; i < 100000; ++i)
            zone << fmt::format("198.{}.{}.{}\n", 18 + (i >> 16 & 1), i >> 8 & 255, i & 255);
    }
    {
        std::ofstream keys(w.dir / "verdict.keys");
        keys << "bench " << std::string(64, 'a') << "\n";
    }
    ::chmod((w.dir / "verdict.keys").c_str(), 0600);
    const bool shm = std::filesystem::is_directory("/dev/shm");
    std::filesystem::path tmp =
        shm ? std::filesystem::path("/dev/shm") / w.dir.filename() : w.dir / "clamav-tmp";
    std::filesystem::create_directories(tmp);
    const std::string yaml = fmt::format(
        "milter:\n  socket: inet:10025@127.0.0.1\n"
        "directory: sqlite:{0}/directory.db\ndirectory_cache_ttl: 30\nstate: memory\n"
        "rules_dir: {1}/conf/rules.d\nlevels: {1}/conf/levels.yaml\n"
        "verdict_keys: {0}/verdict.keys\n"
        "blocklists:\n"
        "  - zone: zen.bench.example\n    target: client_ip\n    mode: mirror\n"
        "    file: {0}/mirror.ip4set\n"
        "    returns:\n      127.0.0.2: {{ rule: RCVD_IN_BENCH, score: 4.0 }}\n"
        "  - zone: zen.bench.example\n    target: received_ip\n    mode: mirror\n"
        "    file: {0}/mirror.ip4set\n"
        "    returns:\n      127.0.0.2: {{ rule: RCVD_HOP_IN_BENCH, score: 2.0 }}\n"
        "antivirus:\n  signatures: {0}/signatures\n  max_size: 25M\n  on_error: tempfail\n"
        "  tmpdir: {2}\n",
        w.dir.string(), src, tmp.string());
    std::ofstream(w.dir / "pampero.yaml") << yaml;
    auto cfg = load_config((w.dir / "pampero.yaml").string());
    if (!cfg) die(cfg.error().message);
    w.cfg = *cfg;
    {
        auto admin = open_directory(w.cfg.directory, OpenMode::read_write);
        if (!admin) die(admin.error().message);
        if (!(*admin)->add_domain(kDomain)) die("add_domain failed");
        User u;
        u.address = "user@bench.example";
        u.node = "local";
        u.maildir = "bench.example/user/";
        if (!(*admin)->add_user(u)) die("add_user failed");
    }
    auto dir = open_directory(w.cfg.directory, OpenMode::read_only);
    if (!dir) die(dir.error().message);
    w.directory = make_cached_directory(std::move(dir).value(),
                                        std::chrono::seconds(w.cfg.directory_cache_ttl));
    auto state = open_state(w.cfg);
    if (!state) die(state.error().message);
    w.state = std::move(state).value();
    w.guard = std::make_unique<policy::Guard>(*w.state, w.cfg.guard);
    auto engine = scan::load_engine(w.cfg);
    if (!engine) die(engine.error().message);
    w.holder = std::make_unique<scan::EngineHolder>(*engine);
    auto av = scan::Antivirus::load(w.cfg.antivirus.signatures, w.cfg.antivirus.max_size,
                                    w.cfg.antivirus.tmpdir);
    if (!av) die(av.error().message);
    w.antivirus = std::make_unique<scan::AntivirusWatcher>(
        w.cfg.antivirus.signatures, w.cfg.antivirus.max_size, *av, w.cfg.antivirus.tmpdir);
    auto bl = scan::Blocklists::create(w.cfg.blocklists);
    if (!bl) die(bl.error().message);
    w.lists = std::make_unique<Snapshot<scan::Blocklists>>(*bl);
    auto keys = scan::VerdictKeys::load(w.cfg.verdict_keys);
    if (!keys) die(keys.error().message);
    w.keys = std::make_unique<Snapshot<const scan::VerdictKeys>>(*keys);
    w.counters = std::make_unique<milter::MilterMetrics>(w.registry);
    w.services = std::make_unique<milter::Services>(
        milter::Services{*w.directory, *w.guard, *w.holder, w.antivirus.get(), w.cfg.antivirus,
                         w.lists.get(), w.keys.get(), w.counters.get()});
}

// Frames and feeds one connection's packets as the server does; the replies are dropped.
bool run_connection(std::string_view bytes, unsigned long& names, std::string& out) {
    milter::Dialog dialog(*g_world->services,
                          [&names] { return fmt::format("conn-{:x}", ++names); });
    while (!bytes.empty()) {
        const auto f = milter::proto::next_packet(bytes, dialog.max_packet_length());
        if (f.status != milter::proto::Framing::Status::ok) return false;
        bytes.remove_prefix(f.consumed);
        out.clear();
        if (!dialog.feed(f.packet, out)) return bytes.empty();
    }
    return true;
}

void BM_MilterPath(benchmark::State& state) {
    const auto& conversations = state.range(0) ? g_source : g_corpus;
    if (conversations.empty()) {
        state.SkipWithError("development corpus not found");
        return;
    }
    unsigned long names = 0;
    std::string out;
    for (auto _ : state) {
        for (const auto& c : conversations) {
            if (!run_connection(c, names, out)) {
                state.SkipWithError("a conversation failed");
                return;
            }
            ++g_measured;
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * conversations.size()));
}

}  // namespace

int main(int argc, char** argv) {
    // The daemon logs one line a message (to stderr with -f in the bench): so does this.
    log::open("bench_milter_path", true);
    World world;
    make_world(world);
    g_world = &world;

    const std::filesystem::path corpus =
        std::filesystem::path(PAMPERO_SOURCE_DIR).parent_path() / "shared" / "corpus";
    std::size_t bytes = 0;
    int n = 0;
    for (const char* sub : {"ham", "spam"}) {
        if (!std::filesystem::is_directory(corpus / sub)) continue;
        for (const auto& e : std::filesystem::directory_iterator(corpus / sub)) {
            if (e.path().extension() != ".eml") continue;
            std::ifstream in(e.path(), std::ios::binary);
            std::ostringstream s;
            s << in.rdbuf();
            bytes += s.str().size();
            g_corpus.push_back(conversation(s.str(), ++n));
        }
    }
    const std::size_t mean = g_corpus.empty() ? 4821 : bytes / g_corpus.size();
    // Ten connections, each with its own queue id (Postfix's Received: differs per message,
    // as it does in the bench: libclamav's clean cache sees a new message each time).
    const std::string source = source_message(mean);
    for (int i = 0; i < 10; ++i) g_source.push_back(conversation(source, 1000000 + i));
    // Warm up outside the measured function (first-use allocations of Hyperscan, GMime,
    // libclamav, the directory cache), so that one iteration under callgrind is steady.
    {
        unsigned long names = 0;
        std::string out;
        for (int i = 0; i < 20; ++i) {
            if (!run_connection(conversation(source, 2000000 + i), names, out))
                die("the warm-up conversation failed");
        }
    }
    std::fprintf(stderr,
                 "bench_milter_path: smtp-source message of %zu octets; %zu corpus messages\n",
                 mean, g_corpus.size());

    benchmark::RegisterBenchmark("BM_MilterPath", BM_MilterPath)
        ->ArgName("source")
        ->Arg(1)
        ->Arg(0)
        ->Unit(benchmark::kMicrosecond);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    // Google Benchmark may call the function more than once: divide callgrind's total by this.
    std::fprintf(stderr, "bench_milter_path: %zu messages measured\n", g_measured);
    g_world = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(world.cfg.antivirus.tmpdir, ec);
    std::filesystem::remove_all(world.dir, ec);
    return 0;
}
