// migrate_directory_command.cpp - pamperoctl migrate-directory FROM TO: copies a whole
// directory to another spec (a site that started on one box with SQLite moves to the
// farm's MariaDB). The source is opened read-only and never changed. A target that holds
// anything is refused, saying what it holds and what would be overwritten, unless --force:
// then the source is merged in (a user in both takes the source's values; rows only the
// target has stay). Stops at the first failure with a non-zero exit; prints the counts.
#include <fmt/format.h>

#include <set>

#include "commands.hpp"

namespace pampero::cli {
namespace {

struct Counts {
    std::size_t domains = 0, users = 0, aliases = 0, list_entries = 0, contacts = 0;
    std::size_t total() const { return domains + users + aliases + list_entries + contacts; }
    std::string text() const {
        return fmt::format("{} domains, {} users, {} aliases, {} list entries, {} contacts",
                           domains, users, aliases, list_entries, contacts);
    }
};

// Everything a directory holds, read whole (a site's directory fits in memory: the seeds'
// largest held some hundred thousand users).
struct Snapshot {
    std::vector<std::string> domains;
    std::vector<User> users;
    std::vector<Alias> aliases;
    std::vector<ListEntry> list_entries;
    std::vector<std::pair<std::string, Contact>> contacts;
    Counts counts() const {
        return {domains.size(), users.size(), aliases.size(), list_entries.size(), contacts.size()};
    }
};

Result<Snapshot> read_all(DirectoryAdmin& d) {
    Snapshot s;
    auto domains = d.domains();
    if (!domains) return domains.error();
    s.domains = std::move(domains).value();
    auto users = d.users("");
    if (!users) return users.error();
    s.users = std::move(users).value();
    auto aliases = d.aliases();
    if (!aliases) return aliases.error();
    s.aliases = std::move(aliases).value();
    auto lists = d.all_list_entries();
    if (!lists) return lists.error();
    s.list_entries = std::move(lists).value();
    auto contacts = d.all_contacts();
    if (!contacts) return contacts.error();
    s.contacts = std::move(contacts).value();
    return s;
}

// Under --force an add that meets an existing row is no failure (permanent: "exists").
bool exists_ok(const Status& st, bool force) {
    return st || (force && st.error().kind == ErrorKind::permanent);
}

}  // namespace

int migrate_directory(const std::string& from, const std::string& to, bool force) {
    const std::string from_name = directory_display(from), to_name = directory_display(to);
    auto src = open_directory(from, OpenMode::read_only);
    if (!src) return fail(Error{src.error().kind, "from: " + src.error().message});
    auto snap = read_all(**src);
    if (!snap)
        return fail(Error{snap.error().kind, "reading " + from_name + ": " + snap.error().message});
    auto dst = open_directory(to, OpenMode::read_write);
    if (!dst) return fail(Error{dst.error().kind, "to: " + dst.error().message});
    DirectoryAdmin& d = **dst;
    auto existing = read_all(d);
    if (!existing) {
        return fail(
            Error{existing.error().kind, "reading " + to_name + ": " + existing.error().message});
    }
    if (existing->counts().total() > 0) {
        std::set<std::string> there;
        for (const auto& u : existing->users) there.insert(u.address);
        std::size_t overlap = 0;
        for (const auto& u : snap->users) overlap += there.count(u.address);
        const std::string what =
            fmt::format("{} is not empty ({}); {} of its users are also in {}", to_name,
                        existing->counts().text(), overlap, from_name);
        if (!force) {
            return fail(what + ": --force merges into it, the source's values overwriting those " +
                        std::to_string(overlap) + " users");
        }
        fmt::print(stderr, "pamperoctl: {}: merging (--force)\n", what);
    }

    auto step = [&](const Status& st, const std::string& item) -> int {
        if (exists_ok(st, force)) return 0;
        return fail(Error{st.error().kind,
                          fmt::format("copying {} to {}: {}", item, to_name, st.error().message)});
    };
    for (const auto& dom : snap->domains) {
        if (int rc = step(d.add_domain(dom), "domain " + dom)) return rc;
    }
    for (const auto& u : snap->users) {
        Status st = d.add_user(u);
        if (!st && force && st.error().kind == ErrorKind::permanent) st = d.update_user(u);
        if (!st) {
            return fail(Error{st.error().kind, fmt::format("copying user <{}> to {}: {}", u.address,
                                                           to_name, st.error().message)});
        }
    }
    for (const auto& a : snap->aliases) {
        if (int rc = step(d.add_alias(a), "alias <" + a.address + ">")) return rc;
    }
    for (const auto& e : snap->list_entries) {
        const std::string item = fmt::format("{} list entry {}{}", to_string(e.kind), e.pattern,
                                             e.user.empty() ? "" : " of <" + e.user + ">");
        if (int rc = step(d.add_list_entry(e), item)) return rc;
    }
    // Contacts by owner, one transaction each (add_contacts upserts: --force needs no retry).
    for (std::size_t i = 0; i < snap->contacts.size();) {
        const std::string& owner = snap->contacts[i].first;
        std::vector<Contact> batch;
        for (; i < snap->contacts.size() && snap->contacts[i].first == owner; ++i) {
            batch.push_back(snap->contacts[i].second);
        }
        auto n = d.add_contacts(owner, batch);
        if (!n) {
            return fail(Error{n.error().kind, fmt::format("copying the contacts of <{}> to {}: {}",
                                                          owner, to_name, n.error().message)});
        }
    }
    fmt::print("copied {} from {} to {}\n", snap->counts().text(), from_name, to_name);
    return 0;
}

}  // namespace pampero::cli
