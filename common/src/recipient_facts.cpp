#include "pampero/common/recipient_facts.hpp"

namespace pampero {

Result<ResolvedRecipient> resolve_recipient(Directory& directory, const std::string& address,
                                            const std::string& domain) {
    ResolvedRecipient r;
    auto local = directory.is_local_domain(domain);
    if (!local) return local.error();
    r.local_domain = *local;
    if (!r.local_domain) {
        r.exists = true;
        return r;
    }
    auto user = directory.find_user(address);
    if (!user) return user.error();
    if (user->has_value()) {
        r.exists = true;
        r.owner = address;
        r.level = (*user)->level;
        return r;
    }
    auto targets = directory.find_alias(address);
    if (!targets) return targets.error();
    r.exists = !targets->empty();
    for (const auto& t : *targets) {
        auto tu = directory.find_user(t);
        if (!tu) return tu.error();
        if (tu->has_value()) {
            r.owner = t;
            r.level = (*tu)->level;
            break;
        }
    }
    return r;
}

Result<RecipientFacts> lookup_recipient_facts(Directory& directory,
                                              const std::optional<std::string>& user,
                                              const std::string& sender) {
    RecipientFacts f;
    if (!user || sender.empty()) return f;
    auto listing = directory.sender_listing(*user, sender);
    if (!listing) return listing.error();
    f.listing = *listing;
    if (f.listing != Listing::none) return f;
    auto contact = directory.is_contact(*user, sender);
    if (!contact) return contact.error();
    f.contact = *contact;
    return f;
}

}  // namespace pampero
