// milter_metrics.hpp - what pampero-milter counts for Prometheus (README, "Metrics").
//
// Made once at start on the daemon's Registry; the Session bumps it at RCPT and end of
// message (atomic adds, no lock: metrics.hpp). Label values are bounded: verdicts,
// actions and causes are the fixed sets below, rule names come from the loaded rule files
// and blocklist names from pampero.yaml, never from the peer (and a family caps its
// series anyway). Thread-safe.
#pragma once

#include "pampero/common/metrics.hpp"

namespace pampero::milter {

struct MilterMetrics {
    explicit MilterMetrics(metrics::Registry& r);

    // Per message, at end of data: inbox (every recipient), spam (some to a spam folder,
    // nobody refused), partial_reject (some recipients removed), reject (all refused:
    // spam or black list), virus, header_limit (552 5.3.4), authenticated (not scored),
    // tempfail.
    metrics::CounterFamily& messages;
    metrics::CounterFamily& recipients;         // {action}: inbox, spam, reject (scored only)
    metrics::CounterFamily& rule_hits;          // {rule}: rule files and blocklist rules
    metrics::CounterFamily& blocklist_lookups;  // {list}: the zone
    metrics::CounterFamily& blocklist_hits;     // {list}
    metrics::Counter& viruses;
    metrics::Histogram& scan_seconds;  // end of message to verdict
    // {cause}: directory, state (bans and counters), antivirus, internal (the verdict
    // could not be applied)
    metrics::CounterFamily& tempfails;
    metrics::Counter& unknown_recipients;
    metrics::Counter& bans;            // clients banned (the guard's limit reached)
    metrics::Counter& banned_refused;  // connections and RCPTs refused: client banned
};

}  // namespace pampero::milter
