#include "contacts_import.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include "pampero/common/address.hpp"
#include "pampero/common/strings.hpp"

namespace pampero::cli {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string cur;
    for (char c : text) {
        if (c == '\n') {
            if (!cur.empty() && cur.back() == '\r') cur.pop_back();
            lines.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) lines.push_back(cur);
    return lines;
}

void add(ImportedContacts& out, std::set<std::string>& seen, const std::string& raw,
         const std::string& name) {
    auto a = parse_address(raw);
    if (!a) {
        if (!raw.empty()) out.skipped.push_back(raw);
        return;
    }
    if (seen.insert(a->full()).second) out.contacts.push_back({a->full(), name});
}

ImportedContacts parse_vcard(const std::string& text) {
    // Unfold: a line starting with a space or tab continues the previous one.
    std::vector<std::string> lines;
    for (auto& l : split_lines(text)) {
        if (!l.empty() && (l[0] == ' ' || l[0] == '\t') && !lines.empty()) {
            lines.back() += l.substr(1);
        } else {
            lines.push_back(l);
        }
    }
    ImportedContacts out;
    std::set<std::string> seen;
    std::string name;
    std::vector<std::string> emails;
    for (const auto& l : lines) {
        const auto colon = l.find(':');
        if (colon == std::string::npos) continue;
        std::string prop = ascii_lower(l.substr(0, colon));
        const std::string value = l.substr(colon + 1);
        if (auto dot = prop.find('.'); dot != std::string::npos && dot < prop.find(';')) {
            prop = prop.substr(dot + 1);  // group prefix "item1."
        }
        const std::string key = prop.substr(0, prop.find(';'));
        if (key == "begin") {
            name.clear();
            emails.clear();
        } else if (key == "fn") {
            name = value;
        } else if (key == "email") {
            emails.push_back(value);
        } else if (key == "end") {
            for (const auto& e : emails) add(out, seen, e, name);
            emails.clear();
        }
    }
    return out;
}

std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> f(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                f.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                f.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',' || c == ';') {
            f.emplace_back();
        } else {
            f.back() += c;
        }
    }
    for (auto& s : f) {
        while (!s.empty() && s.front() == ' ') s.erase(s.begin());
        while (!s.empty() && s.back() == ' ') s.pop_back();
    }
    return f;
}

Result<ImportedContacts> parse_csv(const std::string& text) {
    const auto lines = split_lines(text);
    if (lines.empty()) return Error::permanent("empty file");
    const auto head = csv_fields(lines[0]);
    int email_col = -1, name_col = -1, first_col = -1, last_col = -1;
    for (std::size_t i = 0; i < head.size(); ++i) {
        const std::string h = ascii_lower(head[i]);
        if (email_col < 0 && h.find("mail") != std::string::npos) email_col = static_cast<int>(i);
        if (h == "name" || h == "full name" || h == "display name") name_col = static_cast<int>(i);
        if (h == "first name" || h == "given name") first_col = static_cast<int>(i);
        if (h == "last name" || h == "family name") last_col = static_cast<int>(i);
    }
    if (email_col < 0) return Error::permanent("CSV has no e-mail column in its first row");
    ImportedContacts out;
    std::set<std::string> seen;
    auto field = [](const std::vector<std::string>& f, int col) {
        return col >= 0 && static_cast<std::size_t>(col) < f.size()
                   ? f[static_cast<std::size_t>(col)]
                   : std::string();
    };
    for (std::size_t i = 1; i < lines.size(); ++i) {
        if (lines[i].empty()) continue;
        const auto f = csv_fields(lines[i]);
        std::string name = field(f, name_col);
        if (name.empty()) {
            name = field(f, first_col);
            const std::string last = field(f, last_col);
            if (!last.empty()) name += (name.empty() ? "" : " ") + last;
        }
        add(out, seen, field(f, email_col), name);
    }
    return out;
}

}  // namespace

Result<ImportedContacts> parse_contacts(const std::string& text) {
    if (text.size() > kMaxContactsFile) return Error::permanent("file too large");
    std::string upper = text.substr(0, std::min<std::size_t>(text.size(), 4096));
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    if (upper.find("BEGIN:VCARD") != std::string::npos) return parse_vcard(text);
    return parse_csv(text);
}

}  // namespace pampero::cli
