// mariadb_directory.cpp - the Directory on a MariaDB server (MariaDB Connector/C).
//
// A bounded pool of connections, each with its own prepared statements (preparing costs a
// round trip; an uncached lookup is what a dictionary attack makes of every RCPT). A call
// borrows a connection, runs, and gives it back; a connection that saw any server or
// network error is closed instead, and when the error says the connection was lost, the
// idle ones go too (after a server restart every one of them is dead): the next call
// connects afresh, so a MariaDB restart heals with no pampero restart. A read that failed
// because a pooled connection had died is retried once on a new connection; a write only
// when nothing had been executed yet (a lost reply to a write that committed must not
// become a second write).
// Matching is byte for byte (utf8mb4_nopad_bin in conf/schema/mariadb.sql), as SQLite's
// BINARY collation: addresses arrive normalized, so both backends answer alike.
#include "mariadb_directory.hpp"

#include <errmsg.h>
#include <fmt/format.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <unordered_map>
#include <variant>

#include "mariadb_schema.hpp"
#include "pampero/common/strings.hpp"

namespace pampero {
namespace {

// Bounds on what the spec may ask for (documented in mariadb_directory.hpp).
constexpr unsigned kDefaultTimeout = 5, kMaxTimeout = 300;
constexpr unsigned kDefaultPool = 8, kMaxPool = 64;
constexpr std::size_t kMaxPasswordFile = 4096;

struct Spec {
    std::string user, password, host, socket, db, password_file;
    unsigned port = 3306;
    unsigned timeout = kDefaultTimeout;
    unsigned pool = kDefaultPool;
    std::string display;  // mariadb://USER@HOST:PORT/DB, for messages (no password)
};

std::optional<unsigned> number(std::string_view s, unsigned lo, unsigned hi) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
    return v;
}

// The spec for a message: its password (USER:PASSWORD@) replaced by "***".
std::string redacted(const std::string& spec) {
    const auto start = spec.find("://");
    if (start == std::string::npos) return spec;
    // The last '@' of the authority (as parse_spec reads it): a password holding an
    // unencoded '@' is hidden whole.
    const auto at = spec.rfind('@', spec.find('/', start + 3));
    if (at == std::string::npos || at < start) return spec;
    const auto colon = spec.find(':', start + 3);
    if (colon == std::string::npos || colon > at) return spec;
    return spec.substr(0, colon + 1) + "***" + spec.substr(at);
}

Result<Spec> parse_spec(const std::string& spec) {
    const std::string_view prefix = "mariadb://";
    auto bad = [&](const std::string& why) {
        return Error::config(fmt::format(
            "directory '{}': {} (expected mariadb://USER[:PASSWORD]@HOST[:PORT]/DB[?socket=PATH"
            "&password_file=PATH&timeout=SECONDS&pool=N])",
            redacted(spec), why));
    };
    if (spec.compare(0, prefix.size(), prefix) != 0) return bad("not a mariadb:// URL");
    std::string_view rest(spec);
    rest.remove_prefix(prefix.size());
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash + 1 == rest.size()) return bad("no database");
    Spec s;
    s.db = std::string(rest.substr(slash + 1));
    if (s.db.find('/') != std::string::npos) return bad("bad database name");
    std::string_view authority = rest.substr(0, slash);
    const auto at = authority.rfind('@');
    if (at == std::string_view::npos) return bad("no user");
    std::string_view userinfo = authority.substr(0, at), hostport = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon));
    if (!user || user->empty()) return bad("bad user");
    s.user = *user;
    if (colon != std::string_view::npos) {
        auto pw = percent_decode(userinfo.substr(colon + 1));
        if (!pw) return bad("bad password encoding");
        s.password = *pw;
    }
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) return bad("bad [IPv6] host");
        s.host = std::string(hostport.substr(1, close - 1));
        hostport.remove_prefix(close + 1);
        if (!hostport.empty() && hostport.front() != ':') return bad("bad host");
        if (!hostport.empty()) hostport.remove_prefix(1);
        if (!hostport.empty()) {
            auto p = number(hostport, 1, 65535);
            if (!p) return bad("bad port");
            s.port = *p;
        }
    } else {
        const auto pc = hostport.rfind(':');
        s.host = std::string(hostport.substr(0, pc));
        if (pc != std::string_view::npos) {
            auto p = number(hostport.substr(pc + 1), 1, 65535);
            if (!p) return bad("bad port");
            s.port = *p;
        }
    }
    if (s.host.empty()) return bad("no host");
    while (!query.empty()) {
        const auto amp = query.find('&');
        std::string_view kv = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto eq = kv.find('=');
        if (eq == std::string_view::npos) return bad(fmt::format("bad parameter '{}'", kv));
        const std::string_view key = kv.substr(0, eq);
        auto value = percent_decode(kv.substr(eq + 1));
        if (!value || value->empty()) return bad(fmt::format("bad value of '{}'", key));
        if (key == "socket") {
            s.socket = *value;
        } else if (key == "password_file") {
            s.password_file = *value;
        } else if (key == "timeout") {
            auto t = number(*value, 1, kMaxTimeout);
            if (!t) return bad(fmt::format("timeout must be 1..{} seconds", kMaxTimeout));
            s.timeout = *t;
        } else if (key == "pool") {
            auto n = number(*value, 1, kMaxPool);
            if (!n) return bad(fmt::format("pool must be 1..{}", kMaxPool));
            s.pool = *n;
        } else {
            return bad(fmt::format("unknown parameter '{}'", key));
        }
    }
    s.display = s.socket.empty()
                    ? fmt::format("mariadb://{}@{}:{}/{}", s.user, s.host, s.port, s.db)
                    : fmt::format("mariadb://{}@localhost/{}?socket={}", s.user, s.db, s.socket);
    return s;
}

// The schema's versions, from conf/schema/mariadb.sql: "-- @version N" opens a block;
// statements end with ";" at the end of a line.
struct Migration {
    int version;
    std::vector<std::string> statements;
};

const std::vector<Migration>& migrations() {
    static const std::vector<Migration> all = [] {
        std::vector<Migration> out;
        std::string text(kMariadbSchema), statement;
        std::size_t pos = 0;
        while (pos < text.size()) {
            auto nl = text.find('\n', pos);
            if (nl == std::string::npos) nl = text.size();
            std::string line = text.substr(pos, nl - pos);
            pos = nl + 1;
            if (line.rfind("-- @version ", 0) == 0) {
                out.push_back({std::stoi(line.substr(12)), {}});
                continue;
            }
            if (out.empty() || line.rfind("--", 0) == 0) continue;
            statement += line + "\n";
            auto end = line.find_last_not_of(" \t\r");
            if (end != std::string::npos && line[end] == ';') {
                out.back().statements.push_back(statement);
                statement.clear();
            }
        }
        return out;
    }();
    return all;
}

int latest_version() {
    return migrations().empty() ? 0 : migrations().back().version;
}

// A statement parameter: NULL, text or an integer.
using Param = std::variant<std::monostate, std::string, std::int64_t>;
using Row = std::vector<std::optional<std::string>>;

struct Conn {
    MYSQL* my = nullptr;
    // Keyed by the SQL text's address: only string literals and function-local statics,
    // which live as long as the program (a temporary's address could be reused).
    std::unordered_map<const char*, MYSQL_STMT*> stmts;
    bool executed = false;  // a statement was sent for execution in this call
    unsigned err = 0;       // the last error's code and message
    std::string msg;

    ~Conn() {
        for (auto& [sql, st] : stmts) mysql_stmt_close(st);
        if (my) mysql_close(my);
    }

    bool fail_my() {
        err = mysql_errno(my);
        msg = mysql_error(my);
        return false;
    }
    bool fail_st(MYSQL_STMT* st) {
        err = mysql_stmt_errno(st);
        msg = mysql_stmt_error(st);
        return false;
    }

    // Runs one statement; rows (when it returns a result) into `rows`, the affected rows
    // into `affected`. False with err/msg set on failure.
    bool run(const char* sql, const std::vector<Param>& params, std::vector<Row>* rows,
             std::uint64_t* affected = nullptr) {
        MYSQL_STMT* st = nullptr;
        if (auto it = stmts.find(sql); it != stmts.end()) {
            st = it->second;
        } else {
            st = mysql_stmt_init(my);
            if (!st) return fail_my();
            if (mysql_stmt_prepare(st, sql, std::strlen(sql)) != 0) {
                fail_st(st);
                mysql_stmt_close(st);
                return false;
            }
            stmts.emplace(sql, st);
        }
        std::vector<MYSQL_BIND> in(params.size());  // value-initialised: zeroed
        for (std::size_t i = 0; i < params.size(); ++i) {
            if (auto* s = std::get_if<std::string>(&params[i])) {
                in[i].buffer_type = MYSQL_TYPE_STRING;
                in[i].buffer = const_cast<char*>(s->data());
                in[i].buffer_length = s->size();
            } else if (auto* n = std::get_if<std::int64_t>(&params[i])) {
                in[i].buffer_type = MYSQL_TYPE_LONGLONG;
                in[i].buffer = const_cast<std::int64_t*>(n);
            } else {
                in[i].buffer_type = MYSQL_TYPE_NULL;
            }
        }
        if (!params.empty() && mysql_stmt_bind_param(st, in.data()) != 0) return fail_st(st);
        executed = true;
        if (mysql_stmt_execute(st) != 0) return fail_st(st);
        const unsigned cols = mysql_stmt_field_count(st);
        if (cols == 0) {
            if (affected) *affected = mysql_stmt_affected_rows(st);
            return true;
        }
        // Every column fetched as text (integers converted by the client library); one
        // longer than the buffer is fetched again whole with mysql_stmt_fetch_column.
        constexpr std::size_t kBuf = 512;
        std::vector<MYSQL_BIND> out(cols);  // value-initialised: zeroed
        std::vector<std::vector<char>> bufs(cols, std::vector<char>(kBuf));
        std::vector<unsigned long> lengths(cols);
        std::vector<my_bool> nulls(cols), errors(cols);
        for (unsigned i = 0; i < cols; ++i) {
            out[i].buffer_type = MYSQL_TYPE_STRING;
            out[i].buffer = bufs[i].data();
            out[i].buffer_length = kBuf;
            out[i].length = &lengths[i];
            out[i].is_null = &nulls[i];
            out[i].error = &errors[i];
        }
        if (mysql_stmt_bind_result(st, out.data()) != 0) return fail_st(st);
        for (;;) {
            const int rc = mysql_stmt_fetch(st);
            if (rc == MYSQL_NO_DATA) break;
            if (rc == 1) {
                fail_st(st);
                mysql_stmt_free_result(st);
                return false;
            }
            Row row(cols);
            for (unsigned i = 0; i < cols; ++i) {
                if (nulls[i]) continue;
                if (lengths[i] <= kBuf) {
                    row[i] = std::string(bufs[i].data(), lengths[i]);
                    continue;
                }
                std::string whole(lengths[i], '\0');
                MYSQL_BIND b;
                std::memset(&b, 0, sizeof b);
                unsigned long len = 0;
                b.buffer_type = MYSQL_TYPE_STRING;
                b.buffer = whole.data();
                b.buffer_length = whole.size();
                b.length = &len;
                if (mysql_stmt_fetch_column(st, &b, i, 0) != 0) {
                    fail_st(st);
                    mysql_stmt_free_result(st);
                    return false;
                }
                row[i] = std::move(whole);
            }
            if (rows) rows->push_back(std::move(row));
        }
        mysql_stmt_free_result(st);
        return true;
    }

    // A statement without parameters or result, by the text protocol (transactions, DDL).
    bool plain(const std::string& sql) {
        executed = true;
        if (mysql_real_query(my, sql.data(), sql.size()) != 0) return fail_my();
        if (MYSQL_RES* r = mysql_store_result(my)) mysql_free_result(r);
        return mysql_errno(my) == 0 || fail_my();
    }
};

// An error that ends the connection: the next call must not reuse its socket.
bool connection_lost(unsigned err) {
    return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST || err == CR_CONNECTION_ERROR ||
           err == CR_CONN_HOST_ERROR || err == CR_SERVER_LOST_EXTENDED || err == CR_ERR_NET_READ ||
           err == CR_ERR_NET_WRITE || err == ER_CONNECTION_KILLED || err == ER_SERVER_SHUTDOWN ||
           err == CR_COMMANDS_OUT_OF_SYNC || err == ER_UNKNOWN_STMT_HANDLER;
}

// Bad admin input rather than a server in trouble.
bool constraint(unsigned err) {
    return err == ER_DUP_ENTRY || err == ER_NO_REFERENCED_ROW_2 || err == ER_CONSTRAINT_FAILED ||
           err == ER_BAD_NULL_ERROR || err == ER_DATA_TOO_LONG;
}

std::pair<std::string, std::string> sender_patterns(const std::string& sender) {
    const auto at = sender.rfind('@');
    return {sender, at == std::string::npos ? sender : sender.substr(at)};
}

template <typename T>
Param opt(const std::optional<T>& v) {
    if (!v) return std::monostate{};
    return static_cast<std::int64_t>(*v);
}

std::optional<std::int64_t> integer(const std::optional<std::string>& s) {
    if (!s) return std::nullopt;
    std::int64_t v = 0;
    std::from_chars(s->data(), s->data() + s->size(), v);
    return v;
}

std::optional<std::uint64_t> unsigned_integer(const std::optional<std::string>& s) {
    if (!s) return std::nullopt;
    std::uint64_t v = 0;
    std::from_chars(s->data(), s->data() + s->size(), v);
    return v;
}

constexpr const char* kUserColumns =
    "SELECT u.address, u.level, u.quota, u.node, u.maildir, m.node, m.maildir, "
    "l.messages_per_hour, l.recipients_per_hour, l.recipients_per_message "
    "FROM users u LEFT JOIN migrations m ON m.address = u.address "
    "LEFT JOIN user_limits l ON l.address = u.address ";

User row_user(const Row& r) {
    User u;
    u.address = r[0].value_or("");
    if (auto l = integer(r[1])) u.level = static_cast<int>(*l);
    u.quota = unsigned_integer(r[2]);
    u.node = r[3].value_or("");
    u.maildir = r[4].value_or("");
    if (r[5]) u.migration = MailboxLocation{*r[5], r[6].value_or("")};
    auto limit = [&](int col) -> std::optional<int> {
        if (auto v = integer(r[col])) return static_cast<int>(*v);
        return std::nullopt;
    };
    u.limits = {limit(7), limit(8), limit(9)};
    return u;
}

class MariadbDirectory final : public DirectoryAdmin {
  public:
    MariadbDirectory(Spec spec, OpenMode mode) : spec_(std::move(spec)), mode_(mode) {}
    ~MariadbDirectory() override = default;

    Status open_now() {
        auto c = acquire();
        if (!c) return c.error();
        release(std::move(c.value()), true);
        return ok_status();
    }

    Result<bool> is_local_domain(const std::string& domain) override {
        return read<bool>([&](Conn& c) -> Result<bool> {
            std::vector<Row> rows;
            if (!c.run("SELECT 1 FROM domains WHERE name = ?", {domain}, &rows)) return fail(c);
            return !rows.empty();
        });
    }

    Result<std::optional<User>> find_user(const std::string& address) override {
        using R = std::optional<User>;
        return read<R>([&](Conn& c) -> Result<R> {
            static const std::string sql = std::string(kUserColumns) + "WHERE u.address = ?";
            std::vector<Row> rows;
            if (!c.run(sql.c_str(), {address}, &rows)) return fail(c);
            if (rows.empty()) return R{};
            return R{row_user(rows.front())};
        });
    }

    Result<std::vector<std::string>> find_alias(const std::string& address) override {
        return strings("SELECT target FROM aliases WHERE address = ? ORDER BY target", {address});
    }

    Result<Listing> sender_listing(const std::string& user, const std::string& sender) override {
        return read<Listing>([&](Conn& c) -> Result<Listing> {
            const auto [exact, domain] = sender_patterns(sender);
            std::vector<Row> rows;
            if (!c.run("SELECT kind FROM lists WHERE (`user` = '' OR `user` = ?) "
                       "AND pattern IN (?, ?) ORDER BY kind = 'white' DESC LIMIT 1",
                       {user, exact, domain}, &rows)) {
                return fail(c);
            }
            if (rows.empty()) return Listing::none;
            return rows[0][0] == "white" ? Listing::white : Listing::black;
        });
    }

    Result<bool> is_contact(const std::string& user, const std::string& sender) override {
        return read<bool>([&](Conn& c) -> Result<bool> {
            std::vector<Row> rows;
            if (!c.run("SELECT 1 FROM contacts WHERE `user` = ? AND address = ?", {user, sender},
                       &rows)) {
                return fail(c);
            }
            return !rows.empty();
        });
    }

    Status add_domain(const std::string& domain) override {
        return exec("INSERT INTO domains(name) VALUES (?)", {domain}, "domain exists");
    }
    Status del_domain(const std::string& domain) override {
        return exec_changed("DELETE FROM domains WHERE name = ?", {domain}, "no such domain");
    }
    Result<std::vector<std::string>> domains() override {
        return strings("SELECT name FROM domains ORDER BY name", {});
    }

    Status add_user(const User& u) override {
        return transaction([&](Conn& c) -> Result<Ok> {
            const auto at = u.address.rfind('@');
            if (!c.run("INSERT INTO users(address, domain, level, quota, node, maildir) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       {u.address, u.address.substr(at + 1), opt(u.level), opt(u.quota), u.node,
                        u.maildir},
                       nullptr)) {
                if (constraint(c.err)) return Error::permanent("user exists or domain unknown");
                return fail(c);
            }
            return write_extras(c, u);
        });
    }
    Status update_user(const User& u) override {
        return transaction([&](Conn& c) -> Result<Ok> {
            std::uint64_t changed = 0;
            // CLIENT_FOUND_ROWS (see connect): rows matched, not only rows changed.
            if (!c.run("UPDATE users SET level = ?, quota = ?, node = ?, maildir = ? "
                       "WHERE address = ?",
                       {opt(u.level), opt(u.quota), u.node, u.maildir, u.address}, nullptr,
                       &changed)) {
                if (constraint(c.err)) return Error::permanent(c.msg);
                return fail(c);
            }
            if (changed == 0) return Error::permanent("no such user");
            return write_extras(c, u);
        });
    }
    Status del_user(const std::string& address) override {
        return exec_changed("DELETE FROM users WHERE address = ?", {address}, "no such user");
    }
    Result<std::vector<User>> users(const std::string& domain) override {
        using R = std::vector<User>;
        return read<R>([&](Conn& c) -> Result<R> {
            static const std::string sql =
                std::string(kUserColumns) + "WHERE ? = '' OR u.domain = ? ORDER BY u.address";
            std::vector<Row> rows;
            if (!c.run(sql.c_str(), {domain, domain}, &rows)) return fail(c);
            R out;
            for (const auto& r : rows) out.push_back(row_user(r));
            return out;
        });
    }

    Status add_alias(const Alias& a) override {
        return exec("INSERT INTO aliases(address, target) VALUES (?, ?)", {a.address, a.target},
                    "alias exists");
    }
    Status del_alias(const std::string& address) override {
        return exec_changed("DELETE FROM aliases WHERE address = ?", {address}, "no such alias");
    }

    Status add_list_entry(const ListEntry& e) override {
        return exec("INSERT INTO lists(kind, `user`, pattern) VALUES (?, ?, ?)",
                    {std::string(to_string(e.kind)), e.user, e.pattern}, "entry exists");
    }
    Status del_list_entry(const ListEntry& e) override {
        return exec_changed("DELETE FROM lists WHERE kind = ? AND `user` = ? AND pattern = ?",
                            {std::string(to_string(e.kind)), e.user, e.pattern}, "no such entry");
    }
    Result<std::vector<ListEntry>> list_entries(const std::string& user) override {
        using R = std::vector<ListEntry>;
        return read<R>([&](Conn& c) -> Result<R> {
            std::vector<Row> rows;
            if (!c.run("SELECT kind, `user`, pattern FROM lists WHERE `user` = ? "
                       "ORDER BY kind, pattern",
                       {user}, &rows)) {
                return fail(c);
            }
            R out;
            for (const auto& r : rows) {
                out.push_back({r[0] == "white" ? ListKind::white : ListKind::black,
                               r[1].value_or(""), r[2].value_or("")});
            }
            return out;
        });
    }

    Result<int> add_contacts(const std::string& user, const std::vector<Contact>& cs) override {
        return transaction([&](Conn& c) -> Result<int> {
            int added = 0;
            for (const auto& ct : cs) {
                if (!c.run("INSERT INTO contacts(`user`, address, name) VALUES (?, ?, ?) "
                           "ON DUPLICATE KEY UPDATE name = IF(VALUES(name) != '', VALUES(name), "
                           "name)",
                           {user, ct.address, ct.name}, nullptr)) {
                    if (constraint(c.err)) return Error::permanent(c.msg);
                    return fail(c);
                }
                ++added;
            }
            return added;
        });
    }
    Result<std::vector<Contact>> contacts(const std::string& user) override {
        using R = std::vector<Contact>;
        return read<R>([&](Conn& c) -> Result<R> {
            std::vector<Row> rows;
            if (!c.run("SELECT address, name FROM contacts WHERE `user` = ? ORDER BY address",
                       {user}, &rows)) {
                return fail(c);
            }
            R out;
            for (const auto& r : rows) out.push_back({r[0].value_or(""), r[1].value_or("")});
            return out;
        });
    }

    Result<std::vector<Alias>> aliases() override {
        using R = std::vector<Alias>;
        return read<R>([&](Conn& c) -> Result<R> {
            std::vector<Row> rows;
            if (!c.run("SELECT address, target FROM aliases ORDER BY address, target", {}, &rows))
                return fail(c);
            R out;
            for (const auto& r : rows) out.push_back({r[0].value_or(""), r[1].value_or("")});
            return out;
        });
    }
    Result<std::vector<ListEntry>> all_list_entries() override {
        using R = std::vector<ListEntry>;
        return read<R>([&](Conn& c) -> Result<R> {
            std::vector<Row> rows;
            if (!c.run("SELECT kind, `user`, pattern FROM lists ORDER BY `user`, kind, pattern", {},
                       &rows)) {
                return fail(c);
            }
            R out;
            for (const auto& r : rows) {
                out.push_back({r[0] == "white" ? ListKind::white : ListKind::black,
                               r[1].value_or(""), r[2].value_or("")});
            }
            return out;
        });
    }
    Result<std::vector<std::pair<std::string, Contact>>> all_contacts() override {
        using R = std::vector<std::pair<std::string, Contact>>;
        return read<R>([&](Conn& c) -> Result<R> {
            std::vector<Row> rows;
            if (!c.run("SELECT `user`, address, name FROM contacts ORDER BY `user`, address", {},
                       &rows)) {
                return fail(c);
            }
            R out;
            for (const auto& r : rows) {
                out.push_back({r[0].value_or(""), {r[1].value_or(""), r[2].value_or("")}});
            }
            return out;
        });
    }

  private:
    Error fail(const Conn& c) const {
        return Error::temporary(fmt::format("directory {}: {}", spec_.display, c.msg));
    }

    // The user's migration and limits rows as `u` says (within the caller's transaction).
    Result<Ok> write_extras(Conn& c, const User& u) {
        if (!c.run("DELETE FROM migrations WHERE address = ?", {u.address}, nullptr)) {
            return fail(c);
        }
        if (u.migration && !c.run("INSERT INTO migrations(address, node, maildir) "
                                  "VALUES (?, ?, ?)",
                                  {u.address, u.migration->node, u.migration->maildir}, nullptr)) {
            if (constraint(c.err)) return Error::permanent(c.msg);
            return fail(c);
        }
        if (!c.run("DELETE FROM user_limits WHERE address = ?", {u.address}, nullptr)) {
            return fail(c);
        }
        const auto& l = u.limits;
        if (l != UserLimits{} &&
            !c.run("INSERT INTO user_limits(address, messages_per_hour, recipients_per_hour, "
                   "recipients_per_message) VALUES (?, ?, ?, ?)",
                   {u.address, opt(l.messages_per_hour), opt(l.recipients_per_hour),
                    opt(l.recipients_per_message)},
                   nullptr)) {
            return fail(c);
        }
        return Ok{};
    }

    Result<std::vector<std::string>> strings(const char* sql, std::vector<Param> params) {
        using R = std::vector<std::string>;
        return read<R>([&](Conn& c) -> Result<R> {
            std::vector<Row> rows;
            if (!c.run(sql, params, &rows)) return fail(c);
            R out;
            for (const auto& r : rows) out.push_back(r[0].value_or(""));
            return out;
        });
    }

    Status exec(const char* sql, std::vector<Param> params, const char* conflict) {
        return write<Ok>([&](Conn& c) -> Result<Ok> {
            if (c.run(sql, params, nullptr)) return Ok{};
            if (constraint(c.err)) {
                return Error::permanent(c.err == ER_DATA_TOO_LONG ? c.msg : conflict);
            }
            return fail(c);
        });
    }

    Status exec_changed(const char* sql, std::vector<Param> params, const char* none) {
        return write<Ok>([&](Conn& c) -> Result<Ok> {
            std::uint64_t changed = 0;
            if (!c.run(sql, params, nullptr, &changed)) return fail(c);
            if (changed == 0) return Error::permanent(none);
            return Ok{};
        });
    }

    // fn inside START TRANSACTION ... COMMIT (ROLLBACK when it fails).
    template <typename Fn>
    auto transaction(Fn&& fn) -> decltype(fn(std::declval<Conn&>())) {
        using R = decltype(fn(std::declval<Conn&>()));
        return write<typename std::remove_reference_t<decltype(std::declval<R&>().value())>>(
            [&](Conn& c) -> R {
                if (!c.plain("START TRANSACTION")) return fail(c);
                R r = fn(c);
                if (!r.ok()) {
                    if (!c.plain("ROLLBACK")) return fail(c);
                    return r;
                }
                if (!c.plain("COMMIT")) return fail(c);
                return r;
            });
    }

    template <typename T, typename Fn>
    Result<T> read(Fn&& fn) {
        return call<T>(std::forward<Fn>(fn), true);
    }
    template <typename T, typename Fn>
    Result<T> write(Fn&& fn) {
        return call<T>(std::forward<Fn>(fn), false);
    }

    // Borrows a connection, runs fn, gives it back (or drops it after a server error).
    template <typename T, typename Fn>
    Result<T> call(Fn&& fn, bool idempotent) {
        for (int attempt = 0;; ++attempt) {
            bool reused = false;
            auto got = acquire(&reused);
            if (!got) return got.error();
            std::unique_ptr<Conn> c = std::move(got.value());
            // A write does not go out on a pooled connection that may have died with a
            // server restart: its lost reply could not be told from a lost write. One
            // round trip, and writes come from pamperoctl, not the mail path.
            if (reused && !idempotent && mysql_ping(c->my) != 0) {
                release(std::move(c), false);
                drop_idle();
                continue;
            }
            c->executed = false;
            c->err = 0;
            Result<T> r = fn(*c);
            if (r.ok() || r.error().kind != ErrorKind::temporary) {
                release(std::move(c), true);
                return r;
            }
            const bool lost = connection_lost(c->err);
            const bool retry = lost && reused && attempt == 0 && (idempotent || !c->executed);
            release(std::move(c), false);
            if (lost) drop_idle();
            if (!retry) return r;
        }
    }

    Result<std::unique_ptr<Conn>> acquire(bool* reused = nullptr) {
        {
            std::unique_lock lock(mu_);
            const bool ready = cv_.wait_for(lock, std::chrono::seconds(spec_.timeout),
                                            [&] { return !idle_.empty() || open_ < spec_.pool; });
            if (!ready) {
                return Error::temporary(
                    fmt::format("directory {}: all {} connections busy for {} s", spec_.display,
                                spec_.pool, spec_.timeout));
            }
            if (!idle_.empty()) {
                auto c = std::move(idle_.back());
                idle_.pop_back();
                if (reused) *reused = true;
                return c;
            }
            ++open_;
        }
        auto c = connect();
        if (!c) {
            std::lock_guard lock(mu_);
            --open_;
            cv_.notify_one();
        }
        return c;
    }

    // A broken connection is closed outside the lock (mysql_close may write to its socket).
    void release(std::unique_ptr<Conn> c, bool healthy) {
        std::lock_guard lock(mu_);
        if (healthy) {
            idle_.push_back(std::move(c));
        } else {
            --open_;
        }
        cv_.notify_one();
    }

    // After a lost connection: the idle ones most likely lost theirs too (a restart).
    void drop_idle() {
        std::vector<std::unique_ptr<Conn>> dead;
        {
            std::lock_guard lock(mu_);
            dead.swap(idle_);
            open_ -= static_cast<unsigned>(dead.size());
            cv_.notify_all();
        }
    }

    Result<std::string> password() const {
        if (spec_.password_file.empty()) return spec_.password;
        std::ifstream in(spec_.password_file, std::ios::binary);
        if (!in) {
            return Error::temporary(fmt::format("directory {}: cannot read password file {}: {}",
                                                spec_.display, spec_.password_file,
                                                std::strerror(errno)));
        }
        std::string pw(kMaxPasswordFile + 1, '\0');
        in.read(pw.data(), static_cast<std::streamsize>(pw.size()));
        pw.resize(static_cast<std::size_t>(in.gcount()));
        if (pw.size() > kMaxPasswordFile) {
            return Error::temporary(fmt::format("directory {}: password file {} is over {} bytes",
                                                spec_.display, spec_.password_file,
                                                kMaxPasswordFile));
        }
        pw = pw.substr(0, pw.find_first_of("\r\n"));
        return pw;
    }

    Result<std::unique_ptr<Conn>> connect() {
        static std::once_flag init;
        std::call_once(init, [] { mysql_library_init(0, nullptr, nullptr); });
        auto pw = password();
        if (!pw) return pw.error();
        auto c = std::make_unique<Conn>();
        c->my = mysql_init(nullptr);
        if (!c->my) return Error::temporary("directory: out of memory");
        unsigned t = spec_.timeout;
        mysql_optionsv(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &t);
        mysql_optionsv(c->my, MYSQL_OPT_READ_TIMEOUT, &t);
        mysql_optionsv(c->my, MYSQL_OPT_WRITE_TIMEOUT, &t);
        mysql_optionsv(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        my_bool no = 0;
        mysql_optionsv(c->my, MYSQL_OPT_RECONNECT, &no);  // we reconnect, with a fresh state
        unsigned protocol = spec_.socket.empty() ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
        mysql_optionsv(c->my, MYSQL_OPT_PROTOCOL, &protocol);
        const char* host = spec_.socket.empty() ? spec_.host.c_str() : "localhost";
        if (!mysql_real_connect(c->my, host, spec_.user.c_str(), pw->c_str(), spec_.db.c_str(),
                                spec_.socket.empty() ? spec_.port : 0,
                                spec_.socket.empty() ? nullptr : spec_.socket.c_str(),
                                CLIENT_FOUND_ROWS)) {
            return Error::temporary(
                fmt::format("directory {}: {}", spec_.display, mysql_error(c->my)));
        }
        // Strict: a value too long is refused, never cut short; autocommit outside the
        // explicit transactions.
        if (!c->plain("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'") ||
            mysql_autocommit(c->my, 1) != 0) {
            return fail(*c);
        }
        if (auto st = check_schema(*c); !st) return st.error();
        return c;
    }

    // Version of the schema in the database: -1 without table schema_version, 0 empty.
    Result<int> schema_version(Conn& c) {
        std::vector<Row> rows;
        if (!c.run("SELECT MAX(version) FROM schema_version", {}, &rows)) {
            if (c.err == ER_NO_SUCH_TABLE) return -1;
            return fail(c);
        }
        if (rows.empty() || !rows[0][0]) return 0;
        return static_cast<int>(integer(rows[0][0]).value_or(0));
    }

    // read_only: the database must have this build's schema (or newer). read_write: applies
    // the missing versions, one pamperoctl at a time (GET_LOCK).
    Status check_schema(Conn& c) {
        if (mode_ == OpenMode::read_only) {
            auto v = schema_version(c);
            if (!v) return v.error();
            if (*v < latest_version()) {
                return Error::temporary(fmt::format(
                    "directory {}: {} (this pampero needs schema version {} of "
                    "conf/schema/mariadb.sql); run any pamperoctl directory command once, "
                    "e.g. `pamperoctl domain list`, to apply it",
                    spec_.display,
                    *v < 0 ? std::string("no pampero schema (table schema_version missing)")
                           : fmt::format("schema version {} is older", *v),
                    latest_version()));
            }
            return ok_status();
        }
        std::vector<Row> rows;
        // A literal: statements are cached by the address of their SQL text.
        if (!c.run("SELECT GET_LOCK('pampero_directory_schema', ?)",
                   {static_cast<std::int64_t>(spec_.timeout)}, &rows)) {
            return fail(c);
        }
        if (rows.empty() || rows[0][0] != "1") {
            return Error::temporary(fmt::format(
                "directory {}: another pamperoctl holds the schema lock", spec_.display));
        }
        Status result = ok_status();
        auto v = schema_version(c);
        if (!v) {
            result = v.error();
        } else {
            for (const auto& m : migrations()) {
                if (m.version <= *v) continue;
                for (const auto& s : m.statements) {
                    if (!c.plain(s)) {
                        result = Error::temporary(
                            fmt::format("directory {}: applying schema version {}: {}",
                                        spec_.display, m.version, c.msg));
                        break;
                    }
                }
                if (!result) break;
                if (!c.plain(fmt::format("INSERT INTO schema_version(version) VALUES ({})",
                                         m.version))) {
                    result = fail(c);
                    break;
                }
            }
        }
        c.plain("SELECT RELEASE_LOCK('pampero_directory_schema')");
        return result;
    }

    const Spec spec_;
    const OpenMode mode_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Conn>> idle_;  // connected, not lent
    unsigned open_ = 0;                        // connections that exist (idle + lent)
};

}  // namespace

std::string directory_display(const std::string& spec) {
    return redacted(spec);
}

Result<std::unique_ptr<DirectoryAdmin>> open_mariadb_directory(const std::string& spec,
                                                               OpenMode mode) {
    auto s = parse_spec(spec);
    if (!s) return s.error();
    auto d = std::make_unique<MariadbDirectory>(std::move(s.value()), mode);
    if (mode == OpenMode::read_write) {
        if (auto st = d->open_now(); !st) return st.error();
    }
    return std::unique_ptr<DirectoryAdmin>(std::move(d));
}

}  // namespace pampero
