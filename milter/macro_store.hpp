// macro_store.hpp - the macros the MTA defined ('D' packets), per stage, as libmilter
// keeps them: a new 'D' packet for a stage replaces that stage's macros; a lookup
// searches the latest stage first; "i" and "{i}" are the same name.
//
// Stages other than libmilter's seven (kStages) are ignored: nothing here looks at them.
// Bounds: a 'D' packet carries at most proto::kMaxMacros pairs (protocol.hpp), and one
// set per stage is kept, so the store holds at most seven packets' worth.
// Errors: none. Not thread-safe: one connection's Dialog uses it from one handler at a time.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pampero::milter {

class MacroStore {
  public:
    static constexpr std::string_view kStages = "CHMRTEN";  // libmilter's order

    // Replaces `stage`'s macros with `pairs` (copied).
    void set(char stage, const std::vector<std::pair<std::string_view, std::string_view>>& pairs);
    // The value of `name` ("i" or "{i}"), from the latest stage that defines it. The view
    // is valid until the next set() or clear_from() of that stage.
    std::optional<std::string_view> get(std::string_view name) const;
    // The stage `from` and every later one: the end of a transaction drops its macros
    // (MAIL, RCPT, DATA, end of message, end of headers), so a queue id or a refused
    // recipient's "error" mailer never leaks into the next one.
    void clear_from(char from);

  private:
    std::array<std::vector<std::pair<std::string, std::string>>, kStages.size()> stages_;
};

}  // namespace pampero::milter
