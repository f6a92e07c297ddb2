// recipient_facts.hpp - what the directory says about one sender for one recipient.
//
// The milter (at end of message), the store agent (when filing) and `pamperoctl scan`
// all need the same facts before calling scan::decide(); they get them here, so the
// three agree. The contact lookup is skipped when a list already decides.
#pragma once

#include <optional>
#include <string>

#include "pampero/common/directory.hpp"
#include "pampero/common/result.hpp"

namespace pampero {

// Where a recipient address leads in the directory.
struct ResolvedRecipient {
    bool local_domain = false;
    bool exists = false;               // a user or an alias (always true when not local)
    std::optional<std::string> owner;  // the local user whose level and lists apply
    std::optional<int> level;          // that user's level (nullopt: the default)
};

// A user is its own owner; an alias is owned by its first target that is a local user
// (an alias pointing elsewhere exists but has no owner: the default level applies).
Result<ResolvedRecipient> resolve_recipient(Directory& directory, const std::string& address,
                                            const std::string& domain);

struct RecipientFacts {
    Listing listing = Listing::none;
    bool contact = false;
};

// `user` is the local user owning the mailbox (nullopt: not local, no lists apply);
// `sender` is the normalized envelope sender ("" for the null sender: no lists apply).
Result<RecipientFacts> lookup_recipient_facts(Directory& directory,
                                              const std::optional<std::string>& user,
                                              const std::string& sender);

}  // namespace pampero
