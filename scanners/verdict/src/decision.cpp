#include "pampero/verdict/decision.hpp"

namespace pampero::scan {

const char* to_string(Action action) {
    switch (action) {
        case Action::inbox:
            return "inbox";
        case Action::spam:
            return "spam";
        case Action::reject:
            return "reject";
    }
    return "inbox";
}

Action decide(double score, Listing listing, bool sender_is_contact, const Level& level) {
    if (listing == Listing::white || sender_is_contact) return Action::inbox;
    if (listing == Listing::black) return Action::reject;
    if (score < level.tag) return Action::inbox;
    if (score < level.cutoff) return Action::spam;
    return Action::reject;
}

}  // namespace pampero::scan
