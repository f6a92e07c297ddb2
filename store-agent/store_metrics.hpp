// store_metrics.hpp - what pampero-store counts for Prometheus (README, "Metrics").
//
// Made once at start on the daemon's Registry; Store bumps it per recipient (atomic adds,
// no lock: common/metrics.hpp). Every label value is from a fixed set below, never from
// the peer. Thread-safe.
#pragma once

#include "pampero/common/metrics.hpp"

namespace pampero::store {

struct StoreMetrics {
    explicit StoreMetrics(metrics::Registry& r);

    // Per recipient's mailbox copy: folder inbox | spam (local) or forwarded (to another
    // node); result delivered | over_quota | tempfail | rejected (the other node's 5xx) |
    // moved (forwarded: the other node says the mailbox is no longer there, 451 4.1.6).
    metrics::CounterFamily& deliveries;
    metrics::Histogram& fsync_seconds;  // a local delivery's file fsync plus new/'s
    // {cause}: directory, storage (disk, quota files, spool), verdict (store.unsigned or
    // bad_signature is tempfail), node (a storage node unknown or failing)
    metrics::CounterFamily& tempfails;
    metrics::CounterFamily& verdicts;  // {signature}: valid, unsigned, invalid (per message)
    // At RCPT, {reason}: unknown (user or domain), bad_address, over_quota (552 5.2.2, or
    // 452 4.2.2 with over_quota_tempfail)
    metrics::CounterFamily& recipients_refused;
};

}  // namespace pampero::store
