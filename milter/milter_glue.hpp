// milter_glue.hpp - libmilter callbacks that feed a Session and apply its replies.
//
// The only file that includes libmilter. It negotiates SMFIP_RCPT_REJ (so recipients the
// MTA refused itself are counted by the guard) and the actions it needs (add and change
// headers, delete recipients), maps Reply to smfi_setreply + SMFIS_*, and takes the MTA's
// queue id from the {i} macro as soon as the MTA has one.
#pragma once

#include "session.hpp"

namespace pampero::milter {

// Registers the callbacks and opens the listening socket (Postfix syntax: inet:PORT@HOST,
// unix:PATH). `services` must outlive run(). Returns false with a logged error.
bool register_milter(Services& services, const std::string& socket, int timeout);

// libmilter's main loop; returns when stop() is called. True on a clean stop.
bool run();
void stop();

}  // namespace pampero::milter
