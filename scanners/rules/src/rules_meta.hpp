// rules_meta.hpp - meta rule expressions (internal to the rule engine).
//
// compile() turns "(A && !B) || (C + D + E) >= 2" into a small postfix program; run()
// evaluates it over the hits of the other rules. Grammar, loosest binding first:
//   or  := and ('||' and)*        and := cmp ('&&' cmp)*
//   cmp := sum (('>'|'>='|'<'|'<='|'=='|'!=') sum)?
//   sum := unary (('+'|'-') unary)*
//   unary := '!' unary | '(' or ')' | NAME | INTEGER
// Bounds: an expression is at most kMaxMetaLength bytes and nests at most
// kMaxMetaNesting levels (parentheses and '!'), so parsing and evaluation are bounded.
// Errors: compile() returns a message naming the column (1-based) of the problem.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pampero::scan::meta {

constexpr std::size_t kMaxMetaLength = 4096;
constexpr int kMaxMetaNesting = 64;

enum class Op : std::uint8_t { rule, constant, not_, and_, or_, add, sub, gt, ge, lt, le, eq, ne };

struct Instr {
    Op op;
    std::int64_t value = 0;  // Op::rule: index (into names until resolved); Op::constant: the value
};

struct Program {
    std::vector<Instr> code;
    std::vector<std::string> names;  // distinct rule names the expression uses
};

std::variant<Program, std::string> compile(std::string_view expr);

// hit(i) tells whether rule i (a resolved index) hit. Nonzero means the meta hits.
template <class HitFn>
std::int64_t run(const Program& p, HitFn hit) {
    std::int64_t stack[kMaxMetaLength];
    std::size_t sp = 0;
    for (const Instr& in : p.code) {
        switch (in.op) {
            case Op::rule:
                stack[sp++] = hit(static_cast<std::size_t>(in.value)) ? 1 : 0;
                break;
            case Op::constant:
                stack[sp++] = in.value;
                break;
            case Op::not_:
                stack[sp - 1] = stack[sp - 1] ? 0 : 1;
                break;
            default: {
                const std::int64_t b = stack[--sp];
                const std::int64_t a = stack[sp - 1];
                std::int64_t r = 0;
                switch (in.op) {
                    case Op::and_:
                        r = (a && b) ? 1 : 0;
                        break;
                    case Op::or_:
                        r = (a || b) ? 1 : 0;
                        break;
                    case Op::add:
                        r = a + b;
                        break;
                    case Op::sub:
                        r = a - b;
                        break;
                    case Op::gt:
                        r = a > b;
                        break;
                    case Op::ge:
                        r = a >= b;
                        break;
                    case Op::lt:
                        r = a < b;
                        break;
                    case Op::le:
                        r = a <= b;
                        break;
                    case Op::eq:
                        r = a == b;
                        break;
                    case Op::ne:
                        r = a != b;
                        break;
                    default:
                        break;
                }
                stack[sp - 1] = r;
            }
        }
    }
    return sp ? stack[sp - 1] : 0;
}

}  // namespace pampero::scan::meta
