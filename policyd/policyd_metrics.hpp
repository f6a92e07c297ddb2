// policyd_metrics.hpp - what pampero-policyd counts for Prometheus (README, "Metrics").
//
// Made once at start on the daemon's Registry; the server bumps it per policy request and
// the RADIUS listener per datagram (atomic adds, no lock: metrics.hpp). Label values are
// the fixed sets below, never text from a peer. The sessions gauge is read from `state`
// when the page is scraped (radius::count_sessions). Thread-safe.
#pragma once

#include <string_view>

#include "pampero/common/metrics.hpp"
#include "pampero/common/state.hpp"

namespace pampero::policyd {

struct PolicydMetrics {
    // `state` holds the RADIUS sessions (pampero_radius_sessions) and outlives `r`'s pages.
    PolicydMetrics(metrics::Registry& r, State& state);

    // {action}: dunno, permit, reject (relay refused, unknown user), defer (a rate limit),
    // disconnect (a banned client), malformed (answered DEFER_IF_PERMIT).
    metrics::CounterFamily& requests;
    // Requests left unanswered because the state or the directory failed (Postfix then
    // answers 451 4.3.5): the policy daemon's tempfails.
    metrics::Counter& undecided;
    // {outcome}: recorded, retransmission, malformed, not_accounting, bad_authenticator,
    // state_failed, unknown_client (radius_listener.hpp).
    metrics::CounterFamily& radius_packets;
    // pampero_radius_sessions (a gauge): RADIUS sessions live now, in the state (on a farm,
    // every node's); left out of a page when the state does not answer.
};

}  // namespace pampero::policyd
