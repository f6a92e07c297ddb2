#include "pampero/common/config.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "pampero/common/yaml_reader.hpp"

namespace pampero {
namespace {

void read_milter(yaml::MapReader r, MilterConfig& m) {
    if (auto v = r.get_string("socket")) m.socket = *v;
    if (auto v = r.get_size("scan_limit")) m.scan_limit = *v;
    if (auto v = r.get_int("timeout", 1, 3600)) m.timeout = static_cast<int>(*v);
    if (auto v = r.get_int("threads", 1, 256)) m.threads = static_cast<int>(*v);
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

void read_store(yaml::MapReader r, StoreConfig& s, const std::string& file) {
    if (auto v = r.get_string("lmtp")) s.lmtp = *v;
    if (auto v = r.get_string("socketmap")) s.socketmap = *v;
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

// "sqlite:relative.db" is resolved against the configuration file like any path.
std::string resolve_spec(const std::string& file, const std::string& spec) {
    const auto colon = spec.find(':');
    if (colon == std::string::npos) return spec;
    const std::string scheme = spec.substr(0, colon);
    if (scheme != "sqlite") return spec;
    return scheme + ":" + resolve_path(file, spec.substr(colon + 1));
}

}  // namespace

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
        if (auto v = r.get_string("state")) c.state = *v;
        if (auto v = r.get_string("rules_dir")) c.rules_dir = resolve_path(path, *v);
        if (auto v = r.get_string("levels")) c.levels = resolve_path(path, *v);
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
        r.finish();
    } catch (const yaml::Error& e) {
        return Error::config(e.what());
    } catch (const YAML::Exception& e) {
        return Error::config(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
    }
    return c;
}

}  // namespace pampero
