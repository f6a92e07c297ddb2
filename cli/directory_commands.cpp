// directory_commands.cpp - domains, users, aliases, levels, lists and contacts.
#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "commands.hpp"
#include "contacts_import.hpp"
#include "pampero/common/address.hpp"
#include "pampero/common/strings.hpp"
#include "pampero/common/yaml_reader.hpp"

namespace pampero::cli {
namespace {

// An address argument, normalized; prints the error and returns nullopt when malformed.
std::optional<Address> address_arg(const std::string& raw) {
    auto a = parse_address(raw);
    if (!a) fail(fmt::format("'{}' is not a valid mail address", raw));
    return a;
}

std::optional<int> level_arg(Context& c, const std::string& raw) {
    int n = 0;
    try {
        std::size_t used = 0;
        n = std::stoi(raw, &used);
        if (used != raw.size()) throw std::invalid_argument(raw);
    } catch (const std::exception&) {
        fail(fmt::format("'{}' is not a level number", raw));
        return std::nullopt;
    }
    if (!c.levels().find(n)) {
        fail(fmt::format("no level {} (levels are 1 to {})", n, c.levels().levels.size()));
        return std::nullopt;
    }
    return n;
}

// The user, or a printed error: unknown users are bad input, lookups may be temporary.
std::optional<User> existing_user(Context& c, const std::string& address, int& rc) {
    auto u = c.directory().find_user(address);
    if (!u) {
        rc = fail(u.error());
        return std::nullopt;
    }
    if (!u->has_value()) {
        rc = fail(fmt::format("no such user <{}>", address));
        return std::nullopt;
    }
    return **u;
}

int done(const Status& st, const std::string& what) {
    if (!st) return fail(Error{st.error().kind, what + ": " + st.error().message});
    return 0;
}

std::string size_text(std::uint64_t bytes) {
    if (bytes % (1024ull * 1024 * 1024) == 0) return fmt::format("{}G", bytes >> 30);
    if (bytes % (1024ull * 1024) == 0) return fmt::format("{}M", bytes >> 20);
    if (bytes % 1024 == 0) return fmt::format("{}K", bytes >> 10);
    return fmt::format("{}", bytes);
}

}  // namespace

int domain_add(Context& c, const std::string& domain) {
    auto d = normalize_domain(domain);
    if (!d) return fail(fmt::format("'{}' is not a valid domain name", domain));
    return done(c.directory().add_domain(*d), "domain " + *d);
}

int domain_del(Context& c, const std::string& domain) {
    auto d = normalize_domain(domain);
    if (!d) return fail(fmt::format("'{}' is not a valid domain name", domain));
    return done(c.directory().del_domain(*d), "domain " + *d);
}

int domain_list(Context& c) {
    auto ds = c.directory().domains();
    if (!ds) return fail(ds.error());
    for (const auto& d : *ds) fmt::print("{}\n", d);
    return 0;
}

int user_add(Context& c, const std::string& address, const UserOptions& o) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    auto local = c.directory().is_local_domain(a->domain);
    if (!local) return fail(local.error());
    if (!*local)
        return fail(
            fmt::format("domain {} is not local (pamperoctl domain add {})", a->domain, a->domain));
    User u;
    u.address = a->full();
    if (o.level) {
        auto n = level_arg(c, *o.level);
        if (!n) return EXIT_FAILURE;
        u.level = *n;
    }
    if (o.quota) {
        auto q = yaml::parse_size(*o.quota);
        if (!q) return fail(fmt::format("'{}' is not a size such as 300M", *o.quota));
        u.quota = *q;
    }
    u.node = o.node.value_or(c.config().store.node);
    u.maildir = o.maildir.value_or(a->domain + "/" + a->local + "/");
    if (u.maildir.empty() || u.maildir.front() == '/' ||
        u.maildir.find("..") != std::string::npos) {
        return fail(fmt::format("maildir '{}' must be a relative path without '..'", u.maildir));
    }
    auto existing = c.directory().find_user(u.address);
    if (!existing) return fail(existing.error());
    if (existing->has_value()) return fail(fmt::format("user <{}> exists", u.address));
    return done(c.directory().add_user(u), "user <" + u.address + ">");
}

int user_set_level(Context& c, const std::string& address, const std::string& level) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    auto n = level_arg(c, level);
    if (!n) return EXIT_FAILURE;
    int rc = 0;
    auto u = existing_user(c, a->full(), rc);
    if (!u) return rc;
    u->level = *n;
    return done(c.directory().update_user(*u), "user <" + u->address + ">");
}

namespace {

// "default" -> nullopt (the site's); else a number 0..100000000, the bound of ratelimit:
// in pampero.yaml (config.cpp).
bool limit_arg(const std::string& option, const std::string& text, std::optional<int>& out) {
    if (text == "default") {
        out.reset();
        return true;
    }
    int n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < 0 || n > 100000000) {
        fail(option + ": '" + text + "' is not a number 0..100000000 or 'default'");
        return false;
    }
    out = n;
    return true;
}

std::string limit_text(const std::optional<int>& own, int site) {
    const int n = own.value_or(site);
    return (n == 0 ? std::string("none") : std::to_string(n)) + (own ? "" : " [default]");
}

}  // namespace

int user_set_limits(Context& c, const std::string& address, const LimitOptions& o) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    if (!o.messages_per_hour && !o.recipients_per_hour && !o.recipients_per_message)
        return fail(
            "say at least one of --messages-per-hour, --recipients-per-hour, "
            "--recipients-per-message");
    int rc = 0;
    auto u = existing_user(c, a->full(), rc);
    if (!u) return rc;
    auto& l = u->limits;
    if ((o.messages_per_hour &&
         !limit_arg("--messages-per-hour", *o.messages_per_hour, l.messages_per_hour)) ||
        (o.recipients_per_hour &&
         !limit_arg("--recipients-per-hour", *o.recipients_per_hour, l.recipients_per_hour)) ||
        (o.recipients_per_message &&
         !limit_arg("--recipients-per-message", *o.recipients_per_message,
                    l.recipients_per_message)))
        return EXIT_FAILURE;
    return done(c.directory().update_user(*u), "user <" + u->address + ">");
}

int user_show(Context& c, const std::string& address) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    int rc = 0;
    auto u = existing_user(c, a->full(), rc);
    if (!u) return rc;
    const auto& lvl = c.levels().for_user(u->level);
    fmt::print("address: {}\n", u->address);
    fmt::print("level:   {} ({}){}\n", lvl.number, lvl.name, u->level ? "" : " [default]");
    fmt::print("quota:   {}{}\n", size_text(u->quota.value_or(c.config().store.default_quota)),
               u->quota ? "" : " [default]");
    fmt::print("node:    {}\n", u->node);
    fmt::print("maildir: {}\n", u->maildir);
    if (u->migration) {
        fmt::print("migrating to: node {} maildir {}\n", u->migration->node, u->migration->maildir);
    }
    const auto& site = c.config().ratelimit;
    fmt::print("messages_per_hour:      {}\n",
               limit_text(u->limits.messages_per_hour, site.messages_per_hour));
    fmt::print("recipients_per_hour:    {}\n",
               limit_text(u->limits.recipients_per_hour, site.recipients_per_hour));
    fmt::print("recipients_per_message: {}\n",
               limit_text(u->limits.recipients_per_message, site.recipients_per_message));
    return 0;
}

int user_migrate(Context& c, const std::string& address, const MigrateOptions& o) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    if (static_cast<int>(o.node.has_value()) + o.finish + o.cancel != 1) {
        return fail("say one of --node NODE (start), --finish or --cancel");
    }
    int rc = 0;
    auto u = existing_user(c, a->full(), rc);
    if (!u) return rc;
    if (o.node) {
        MailboxLocation to{*o.node, o.maildir.value_or(u->maildir)};
        if (to.maildir.empty() || to.maildir.front() == '/' ||
            to.maildir.find("..") != std::string::npos) {
            return fail(
                fmt::format("maildir '{}' must be a relative path without '..'", to.maildir));
        }
        if (to.node == u->node && to.maildir == u->maildir)
            return fail("that is where the mailbox is now");
        u->migration = to;
    } else if (!u->migration) {
        return fail(fmt::format("user <{}> is not being migrated", u->address));
    } else if (o.finish) {
        u->node = u->migration->node;
        u->maildir = u->migration->maildir;
        u->migration.reset();
    } else {
        u->migration.reset();
    }
    return done(c.directory().update_user(*u), "user <" + u->address + ">");
}

int user_del(Context& c, const std::string& address) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    return done(c.directory().del_user(a->full()), "user <" + a->full() + ">");
}

int user_list(Context& c, const std::string& domain) {
    auto us = c.directory().users(domain.empty() ? "" : ascii_lower(domain));
    if (!us) return fail(us.error());
    for (const auto& u : *us) {
        fmt::print("{} level={} node={} maildir={}\n", u.address,
                   u.level ? std::to_string(*u.level) : "default", u.node, u.maildir);
    }
    return 0;
}

int alias_add(Context& c, const std::string& address, const std::string& target) {
    auto a = address_arg(address);
    auto t = address_arg(target);
    if (!a || !t) return EXIT_FAILURE;
    auto local = c.directory().is_local_domain(a->domain);
    if (!local) return fail(local.error());
    if (!*local) return fail(fmt::format("domain {} is not local", a->domain));
    return done(c.directory().add_alias({a->full(), t->full()}), "alias <" + a->full() + ">");
}

int alias_del(Context& c, const std::string& address) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    return done(c.directory().del_alias(a->full()), "alias <" + a->full() + ">");
}

int level_list(Context& c) {
    const auto& ls = c.levels();
    fmt::print("{:>5}  {:<12} {:>7} {:>7}\n", "level", "name", "tag", "cutoff");
    for (const auto& l : ls.levels) {
        fmt::print("{:>5}  {:<12} {:>7.1f} {:>7.1f}{}\n", l.number, l.name, l.tag, l.cutoff,
                   l.number == ls.default_level ? "  (default)" : "");
    }
    return 0;
}

int list_change(Context& c, bool add, const std::string& kind, const std::string& pattern,
                const std::string& user) {
    ListEntry e;
    if (kind == "white")
        e.kind = ListKind::white;
    else if (kind == "black")
        e.kind = ListKind::black;
    else
        return fail(fmt::format("list kind must be white or black, not '{}'", kind));
    if (!pattern.empty() && pattern.front() == '@') {
        auto d = normalize_domain(pattern.substr(1));
        if (!d) return fail(fmt::format("'{}' is not an address or @domain", pattern));
        e.pattern = "@" + *d;
    } else {
        auto a = parse_address(pattern);
        if (!a) return fail(fmt::format("'{}' is not an address or @domain", pattern));
        e.pattern = a->full();
    }
    if (!user.empty()) {
        auto a = address_arg(user);
        if (!a) return EXIT_FAILURE;
        int rc = 0;
        if (!existing_user(c, a->full(), rc)) return rc;
        e.user = a->full();
    }
    const std::string what = fmt::format("{} list entry {}", kind, e.pattern);
    return done(add ? c.directory().add_list_entry(e) : c.directory().del_list_entry(e), what);
}

int list_show(Context& c, const std::string& user) {
    std::string owner;
    if (!user.empty()) {
        auto a = address_arg(user);
        if (!a) return EXIT_FAILURE;
        owner = a->full();
    }
    auto es = c.directory().list_entries(owner);
    if (!es) return fail(es.error());
    for (const auto& e : *es) fmt::print("{} {}\n", to_string(e.kind), e.pattern);
    return 0;
}

int contacts_import(Context& c, const std::string& address, const std::string& file) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    int rc = 0;
    if (!existing_user(c, a->full(), rc)) return rc;
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail(fmt::format("{}: cannot open", file));
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = parse_contacts(text.str());
    if (!parsed) return fail(file + ": " + parsed.error().message);
    for (const auto& s : parsed->skipped) {
        std::fprintf(stderr, "pamperoctl: %s: skipped '%s': not an address\n", file.c_str(),
                     s.c_str());
    }
    if (parsed->contacts.empty()) return fail(file + ": no addresses found");
    auto n = c.directory().add_contacts(a->full(), parsed->contacts);
    if (!n) return fail(n.error());
    fmt::print("imported {} contacts for {}\n", *n, a->full());
    return 0;
}

int contacts_show(Context& c, const std::string& address) {
    auto a = address_arg(address);
    if (!a) return EXIT_FAILURE;
    int rc = 0;
    if (!existing_user(c, a->full(), rc)) return rc;
    auto cs = c.directory().contacts(a->full());
    if (!cs) return fail(cs.error());
    for (const auto& ct : *cs) {
        fmt::print("{}{}\n", ct.address, ct.name.empty() ? "" : "  " + ct.name);
    }
    return 0;
}

}  // namespace pampero::cli
