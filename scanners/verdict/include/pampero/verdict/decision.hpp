// decision.hpp - where one recipient's copy of a message goes.
//
// The one function both the milter (at end of message) and the store agent (when
// filing) call, so the two can never disagree:
//   white-listed sender (global list, user's list, or a contact)  -> inbox
//   black-listed sender                                           -> reject
//   score < level.tag                                             -> inbox
//   score < level.cutoff                                          -> spam (folder)
//   otherwise                                                     -> reject
// Pure and allocation-free.
#pragma once

#include "pampero/common/directory.hpp"
#include "pampero/verdict/levels.hpp"

namespace pampero::scan {

enum class Action { inbox, spam, reject };
const char* to_string(Action action);

Action decide(double score, Listing listing, bool sender_is_contact, const Level& level);

}  // namespace pampero::scan
