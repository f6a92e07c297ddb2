#include "pampero/common/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <filesystem>

#include "pampero/common/socket_access.hpp"
#include "pampero/common/yaml_reader.hpp"

namespace pampero {
namespace {

// socket_owner / socket_group / socket_mode of a unix: listener ("0660": octal, as chmod).
void read_socket_access(yaml::MapReader& r, std::string& owner, std::string& group,
                        unsigned& mode) {
    if (auto v = r.get_string("socket_owner")) owner = *v;
    if (auto v = r.get_string("socket_group")) group = *v;
    if (auto v = r.get_string("socket_mode")) {
        auto m = parse_socket_mode(*v);
        if (!m) r.fail_at("socket_mode", "must be an octal mode such as 0660 (at most 0777)");
        mode = *m;
    }
}

std::vector<std::string> read_client_list(yaml::MapReader& r, const std::string& key,
                                          std::vector<std::string> fallback) {
    auto v = r.get_string_list(key);
    if (!v) return fallback;
    if (auto list = ClientAllowList::parse(*v); !list) r.fail_at(key, list.error().message);
    return *v;
}

void read_milter(yaml::MapReader r, MilterConfig& m) {
    if (auto v = r.get_string("socket")) m.socket = *v;
    if (auto v = r.get_size("scan_limit")) m.scan_limit = *v;
    if (auto v = r.get_int("timeout", 1, 3600)) m.timeout = static_cast<int>(*v);
    if (auto v = r.get_int("threads", 1, 256)) m.threads = static_cast<int>(*v);
    read_socket_access(r, m.socket_owner, m.socket_group, m.socket_mode);
    // Connection cap (milter/server.hpp "connections").
    if (auto v = r.get_int("max_connections", 1, 1000000)) m.max_connections = static_cast<int>(*v);
    if (auto v = r.get_int("max_headers", 100, 1000000)) m.max_headers = static_cast<int>(*v);
    if (auto v = r.get_size("max_header_bytes")) {
        if (*v < 16 * 1024) r.fail_at("max_header_bytes", "must be at least 16K");
        m.max_header_bytes = *v;
    }
    if (auto v = r.get_size("max_message_memory")) m.max_message_memory = *v;
    if (auto v = r.get_string("metrics")) m.metrics = *v;
    if (auto v = r.get_bool("relay_check")) m.relay_check = *v;
    r.finish();
}

void read_guard(yaml::MapReader r, GuardConfig& g) {
    if (auto v = r.get_int("unknown_limit", 1, 1000000)) g.unknown_limit = static_cast<int>(*v);
    if (auto v = r.get_int("window", 1, 86400 * 7)) g.window = static_cast<int>(*v);
    if (auto v = r.get_int("ban", 1, 86400 * 30)) g.ban = static_cast<int>(*v);
    if (auto v = r.get_int("ipv4_prefix", 16, 32)) g.ipv4_prefix = static_cast<int>(*v);
    if (auto v = r.get_int("ipv6_prefix", 32, 128)) g.ipv6_prefix = static_cast<int>(*v);
    if (auto v = r.get_int("max_tracked", 100, 100000000))
        g.max_tracked = static_cast<std::size_t>(*v);
    r.finish();
}

void read_policyd(yaml::MapReader r, PolicydConfig& p, const std::string& file) {
    if (auto v = r.get_string("socket")) p.socket = *v;
    if (auto v = r.get_int("threads", 1, 256)) p.threads = static_cast<int>(*v);
    if (auto v = r.get_int("timeout", 1, 3600)) p.timeout = static_cast<int>(*v);
    if (auto v = r.get_int("max_connections", 1, 1000000)) p.max_connections = static_cast<int>(*v);
    if (auto v = r.get_string("metrics")) p.metrics = *v;
    if (auto v = r.get_string("admin_socket")) p.admin_socket = resolve_path(file, *v);
    read_socket_access(r, p.socket_owner, p.socket_group, p.socket_mode);
    r.finish();
}

void read_ratelimit(yaml::MapReader r, RateLimitConfig& l) {
    const std::int64_t max = 100000000;
    if (auto v = r.get_int("messages_per_hour", 0, max)) l.messages_per_hour = static_cast<int>(*v);
    if (auto v = r.get_int("recipients_per_hour", 0, max))
        l.recipients_per_hour = static_cast<int>(*v);
    if (auto v = r.get_int("recipients_per_message", 0, max))
        l.recipients_per_message = static_cast<int>(*v);
    r.finish();
}

void read_store(yaml::MapReader r, StoreConfig& s, const std::string& file) {
    if (auto v = r.get_string("lmtp")) s.lmtp = *v;
    if (auto v = r.get_string("socketmap")) s.socketmap = *v;
    if (auto v = r.get_string("metrics")) s.metrics = *v;
    if (auto v = r.get_string("node")) s.node = *v;
    if (auto v = r.get_string("mail_root")) s.mail_root = resolve_path(file, *v);
    if (auto v = r.get_string("spam_folder")) {
        if (v->empty() || v->find_first_of("/.\\") != std::string::npos) {
            r.fail_at("spam_folder", "must be a plain folder name (no '.', '/' or '\\')");
        }
        s.spam_folder = *v;
    }
    if (auto v = r.get_size("default_quota")) s.default_quota = *v;
    if (auto v = r.get_bool("over_quota_tempfail")) s.over_quota_tempfail = *v;
    if (auto v = r.get_size("message_size_limit")) s.message_size_limit = *v;
    read_socket_access(r, s.socket_owner, s.socket_group, s.socket_mode);
    s.lmtp_clients = read_client_list(r, "lmtp_clients", s.lmtp_clients);
    s.socketmap_clients = read_client_list(r, "socketmap_clients", s.socketmap_clients);
    if (auto v = r.get_int("socketmap_sessions", 1, 65536))
        s.socketmap_sessions = static_cast<int>(*v);
    if (auto v = r.get_int("write_timeout", 1, 3600)) s.write_timeout = static_cast<int>(*v);
    if (auto v = r.get_size("spool_threshold")) s.spool_threshold = *v;
    for (const auto& [key, rule] : {std::pair{"unsigned", &s.unsigned_rule},
                                    std::pair{"bad_signature", &s.bad_signature_rule}}) {
        if (auto v = r.get_string(key)) {
            if (*v == "inbox")
                *rule = UnverifiedRule::inbox;
            else if (*v == "spam")
                *rule = UnverifiedRule::spam;
            else if (*v == "tempfail")
                *rule = UnverifiedRule::tempfail;
            else
                r.fail_at(key, "must be inbox, spam or tempfail");
        }
    }
    if (auto v = r.get_int("verdict_max_age", 0, 86400 * 365))
        s.verdict_max_age = static_cast<int>(*v);
    if (r.has("nodes")) {
        const YAML::Node nodes = r.node("nodes");
        if (!nodes.IsMap()) r.fail_at("nodes", "must map node names to LMTP sockets");
        for (const auto& kv : nodes) {
            if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
                yaml::fail(file, kv.second, "store.nodes: each node needs an LMTP socket");
            }
            s.nodes[kv.first.Scalar()] = kv.second.Scalar();
        }
    }
    r.finish();
}

void read_antivirus(yaml::MapReader r, AntivirusConfig& a, const std::string& file) {
    a.enabled = true;
    a.signatures = resolve_path(file, r.require_string("signatures"));
    if (auto v = r.get_size("max_size")) a.max_size = *v;
    if (auto v = r.get_string("on_error")) {
        if (*v != "tempfail" && *v != "accept") r.fail_at("on_error", "must be tempfail or accept");
        a.tempfail_on_error = *v == "tempfail";
    }
    if (auto v = r.get_int("reload_check", 1, 86400)) a.reload_check = static_cast<int>(*v);
    if (auto v = r.get_string("tmpdir")) a.tmpdir = resolve_path(file, *v);
    r.finish();
}

void read_radius(yaml::MapReader r, RadiusConfig& c, const std::string& file) {
    c.enabled = true;
    if (r.has("listen")) {
        const YAML::Node n = r.self()["listen"];
        c.listen = n.IsScalar() ? std::vector<std::string>{*r.get_string("listen")}
                                : *r.get_string_list("listen");
        for (const auto& l : c.listen)
            if (!parse_udp_endpoint(l))
                r.fail_at("listen", "'" + l + "' is not IP:PORT (an IPv6 address in [])");
    }
    const YAML::Node clients = r.node("clients");
    if (clients.IsDefined() && !clients.IsSequence())
        r.fail_at("clients", "must be a list of { address, secret }");
    for (const auto& item : clients) {
        yaml::MapReader cr(file, item, "radius.clients");
        RadiusClient client{cr.require_string("address"), cr.require_string("secret")};
        if (auto ok = ClientAllowList::parse({client.address}); !ok)
            cr.fail_at("address", ok.error().message);
        if (client.secret.empty()) cr.fail_at("secret", "must not be empty");
        cr.finish();
        c.clients.push_back(std::move(client));
    }
    if (auto v = r.get_int("session_ttl", 60, 86400 * 30)) c.session_ttl = static_cast<int>(*v);
    if (auto v = r.get_int("interim_factor", 1, 100)) c.interim_factor = static_cast<int>(*v);
    if (auto v = r.get_int("duplicate_window", 1, 3600)) c.duplicate_window = static_cast<int>(*v);
    if (auto v = r.get_string("admin_socket")) c.admin_socket = resolve_path(file, *v);
    if (auto v = r.get_int("threads", 1, 64)) c.threads = static_cast<int>(*v);
    if (auto v = r.get_int("max_sessions", 100, 100000000))
        c.max_sessions = static_cast<std::size_t>(*v);
    r.finish();
}

// "sqlite:relative.db" is resolved against the configuration file like any path.
std::string resolve_spec(const std::string& file, const std::string& spec) {
    const auto colon = spec.find(':');
    if (colon == std::string::npos) return spec;
    const std::string scheme = spec.substr(0, colon);
    if (scheme != "sqlite") return spec;
    return scheme + ":" + resolve_path(file, spec.substr(colon + 1));
}

void read_classifier(yaml::MapReader r, ClassifierConfig& c, const std::string& file) {
    if (auto v = r.get_bool("enabled")) c.enabled = *v;
    if (auto v = r.get_string("store")) c.store = resolve_spec(file, *v);
    if (auto v = r.get_int("min_spam", 0, 1'000'000'000)) c.min_spam = *v;
    if (auto v = r.get_int("min_ham", 0, 1'000'000'000)) c.min_ham = *v;
    if (auto v = r.get_string("model")) {
        if (*v != "site" && *v != "domain" && *v != "user")
            r.fail_at("model", "expected site, domain or user, not '" + *v + "'");
        c.model = *v;
    }
    if (auto v = r.get_string("model_store")) {
        if (v->find("%m") == std::string::npos)
            r.fail_at("model_store", "must contain %m (the model's key)");
        c.model_store = resolve_spec(file, *v);
    }
    if (auto v = r.get_int("max_open_models", 1, 100'000)) c.max_open_models = *v;
    if (auto v = r.get_int("max_models_per_message", 1, 1'000)) c.max_models_per_message = *v;
    if (c.model != "site" && c.model_store.empty())
        r.fail_at("model", "model: " + c.model + " needs classifier.model_store (with %m)");
    r.finish();
}

}  // namespace

const char* to_string(UnverifiedRule rule) {
    switch (rule) {
        case UnverifiedRule::inbox:
            return "inbox";
        case UnverifiedRule::spam:
            return "spam";
        case UnverifiedRule::tempfail:
            return "tempfail";
    }
    return "?";
}

std::optional<UdpEndpoint> parse_udp_endpoint(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size()) return std::nullopt;
    std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    unsigned long n = 0;
    for (char ch : port) {
        if (ch < '0' || ch > '9' || n > 65535) return std::nullopt;
        n = n * 10 + static_cast<unsigned long>(ch - '0');
    }
    if (n == 0 || n > 65535) return std::nullopt;
    unsigned char buf[16];
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        if (inet_pton(AF_INET6, host.c_str(), buf) != 1) return std::nullopt;
    } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
        return std::nullopt;
    }
    return UdpEndpoint{host, static_cast<std::uint16_t>(n)};
}

std::string resolve_path(const std::string& relative_to_file, const std::string& path) {
    if (path.empty() || path.front() == '/') return path;
    const auto dir = std::filesystem::path(relative_to_file).parent_path();
    return (dir / path).lexically_normal().string();
}

Result<Config> load_config(const std::string& path) {
    Config c;
    c.file = path;
    try {
        yaml::MapReader r(path, yaml::load_file(path), "configuration");
        if (auto v = r.get_string("directory")) c.directory = resolve_spec(path, *v);
        if (auto v = r.get_int("directory_cache_ttl", 0, 3600)) {
            c.directory_cache_ttl = static_cast<int>(*v);
        }
        // A MariaDB directory's password file and timeout: carried in the spec as its
        // ?password_file= and ?timeout= (mariadb_directory.hpp), so every open_directory()
        // and every reload comparison of `directory` sees them.
        for (const char* key : {"directory_password_file", "directory_timeout"}) {
            std::optional<std::string> value;
            if (std::string(key) == "directory_timeout") {
                if (auto t = r.get_int(key, 1, 300)) value = std::to_string(*t);
            } else if (auto f = r.get_string(key)) {
                if (f->empty() || f->find_first_of("&%") != std::string::npos)
                    r.fail_at(key, "expected a file name without '&' or '%'");
                value = resolve_path(path, *f);
            }
            if (!value) continue;
            if (c.directory.rfind("mariadb://", 0) != 0)
                r.fail_at(key, "only for a directory: mariadb://... (not " + c.directory + ")");
            const char* param =
                std::string(key) == "directory_timeout" ? "timeout" : "password_file";
            c.directory += (c.directory.find('?') == std::string::npos ? "?" : "&") +
                           std::string(param) + "=" + *value;
        }
        if (auto v = r.get_string("state")) c.state = *v;
        if (auto v = r.get_string("state_password_file"))
            c.state_password_file = resolve_path(path, *v);
        if (auto v = r.get_int("state_timeout_ms", 10, 60000))
            c.state_timeout_ms = static_cast<int>(*v);
        if (auto v = r.get_int("state_pool", 1, 1024)) c.state_pool = static_cast<int>(*v);
        if (auto v = r.get_string("state_prefix")) c.state_prefix = *v;
        if (auto v = r.get_string("on_state_error")) {
            if (*v != "tempfail" && *v != "continue")
                r.fail_at("on_state_error", "must be tempfail or continue");
            c.guard.continue_on_state_error = *v == "continue";
        }
        if (auto v = r.get_string("rules_dir")) c.rules_dir = resolve_path(path, *v);
        if (auto v = r.get_string("levels")) c.levels = resolve_path(path, *v);
        if (auto v = r.get_string("verdict_keys")) c.verdict_keys = resolve_path(path, *v);
        if (auto v = r.get_string("user")) c.user = *v;
        if (auto v = r.get_string("group")) c.group = *v;
        if (r.has("milter"))
            read_milter(yaml::MapReader(path, r.node("milter"), "milter"), c.milter);
        if (r.has("guard")) read_guard(yaml::MapReader(path, r.node("guard"), "guard"), c.guard);
        if (r.has("store")) {
            read_store(yaml::MapReader(path, r.node("store"), "store"), c.store, path);
        }
        if (r.has("blocklists")) c.blocklists = read_blocklists(path, r.node("blocklists"));
        if (r.has("antivirus")) {
            read_antivirus(yaml::MapReader(path, r.node("antivirus"), "antivirus"), c.antivirus,
                           path);
        }
        if (r.has("policyd"))
            read_policyd(yaml::MapReader(path, r.node("policyd"), "policyd"), c.policyd, path);
        if (r.has("ratelimit"))
            read_ratelimit(yaml::MapReader(path, r.node("ratelimit"), "ratelimit"), c.ratelimit);
        if (r.has("radius"))
            read_radius(yaml::MapReader(path, r.node("radius"), "radius"), c.radius, path);
        if (r.has("classifier")) {
            read_classifier(yaml::MapReader(path, r.node("classifier"), "classifier"), c.classifier,
                            path);
        }
        r.finish();
        // The admin socket's older name, from when it served RADIUS sessions only.
        if (c.policyd.admin_socket.empty()) c.policyd.admin_socket = c.radius.admin_socket;
    } catch (const yaml::Error& e) {
        return Error::config(e.what());
    } catch (const YAML::Exception& e) {
        return Error::config(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
    }
    return c;
}

}  // namespace pampero
