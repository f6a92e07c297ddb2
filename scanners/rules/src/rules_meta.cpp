#include "rules_meta.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace pampero::scan::meta {
namespace {

struct Failure {
    std::string message;
};

class Parser {
  public:
    explicit Parser(std::string_view s) : s_(s) {}

    Program parse() {
        parse_or(0);
        skip_blanks();
        if (pos_ < s_.size()) fail(fmt::format("unexpected '{}'", s_[pos_]));
        if (p_.code.empty()) fail("empty expression");
        return std::move(p_);
    }

  private:
    [[noreturn]] void fail(const std::string& why) const {
        throw Failure{fmt::format("column {}: {}", std::min(pos_, s_.size()) + 1, why)};
    }

    void skip_blanks() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }

    bool accept(std::string_view tok) {
        skip_blanks();
        if (s_.substr(pos_, tok.size()) != tok) return false;
        // "!" must not eat the "!" of "!=", nor "<" the "<" of "<=".
        if ((tok == "<" || tok == ">" || tok == "!") && pos_ + 1 < s_.size() && s_[pos_ + 1] == '=')
            return false;
        pos_ += tok.size();
        return true;
    }

    void emit(Op op, std::int64_t v = 0) { p_.code.push_back({op, v}); }

    void parse_or(int depth) {
        parse_and(depth);
        while (accept("||")) {
            parse_and(depth);
            emit(Op::or_);
        }
    }

    void parse_and(int depth) {
        parse_cmp(depth);
        while (accept("&&")) {
            parse_cmp(depth);
            emit(Op::and_);
        }
    }

    void parse_cmp(int depth) {
        parse_sum(depth);
        static constexpr std::pair<std::string_view, Op> kOps[] = {{">=", Op::ge}, {"<=", Op::le},
                                                                   {"==", Op::eq}, {"!=", Op::ne},
                                                                   {">", Op::gt},  {"<", Op::lt}};
        for (const auto& [tok, op] : kOps) {
            if (accept(tok)) {
                parse_sum(depth);
                emit(op);
                return;
            }
        }
    }

    void parse_sum(int depth) {
        parse_unary(depth);
        while (true) {
            if (accept("+")) {
                parse_unary(depth);
                emit(Op::add);
            } else if (accept("-")) {
                parse_unary(depth);
                emit(Op::sub);
            } else {
                return;
            }
        }
    }

    void parse_unary(int depth) {
        if (depth >= kMaxMetaNesting) fail(fmt::format("nested deeper than {}", kMaxMetaNesting));
        skip_blanks();
        if (accept("!")) {
            parse_unary(depth + 1);
            emit(Op::not_);
            return;
        }
        if (accept("(")) {
            parse_or(depth + 1);
            if (!accept(")")) fail("missing ')'");
            return;
        }
        skip_blanks();
        if (pos_ >= s_.size()) fail("expression ends too early");
        const char c = s_[pos_];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            std::int64_t v = 0;
            while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
                v = v * 10 + (s_[pos_] - '0');
                if (v > 1'000'000'000) fail("number too large");
                ++pos_;
            }
            emit(Op::constant, v);
            return;
        }
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            const std::size_t start = pos_;
            while (pos_ < s_.size() &&
                   (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
                ++pos_;
            }
            const std::string name(s_.substr(start, pos_ - start));
            auto it = std::find(p_.names.begin(), p_.names.end(), name);
            const auto index = static_cast<std::int64_t>(it - p_.names.begin());
            if (it == p_.names.end()) p_.names.push_back(name);
            emit(Op::rule, index);
            return;
        }
        fail(fmt::format("unexpected '{}'", c));
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    Program p_;
};

}  // namespace

std::variant<Program, std::string> compile(std::string_view expr) {
    if (expr.size() > kMaxMetaLength)
        return fmt::format("longer than {} characters", kMaxMetaLength);
    try {
        return Parser(expr).parse();
    } catch (const Failure& f) {
        return f.message;
    }
}

}  // namespace pampero::scan::meta
