#include "store_metrics.hpp"

namespace pampero::store {

StoreMetrics::StoreMetrics(metrics::Registry& r)
    : deliveries(r.counter_family("pampero_store_deliveries_total",
                                  "Mailbox copies delivered or not, by folder and result",
                                  {"folder", "result"})),
      fsync_seconds(r.histogram("pampero_store_fsync_seconds",
                                "Time a local delivery spent in fsync (the file and new/)",
                                metrics::kLatencyBuckets)),
      tempfails(r.counter_family("pampero_store_tempfails_total",
                                 "Temporary failures answered (4xx), by cause", {"cause"})),
      verdicts(r.counter_family("pampero_store_verdicts_total",
                                "Messages with local recipients, by their verdict's signature",
                                {"signature"})),
      recipients_refused(r.counter_family("pampero_store_recipients_refused_total",
                                          "RCPTs refused, by reason", {"reason"})) {
    // Every fixed label value from the start: a series that appears later reads as a jump.
    for (const char* f : {"inbox", "spam"}) {
        for (const char* res : {"delivered", "over_quota", "tempfail"}) deliveries.get({f, res});
    }
    for (const char* c : {"directory", "storage", "verdict", "node"}) tempfails.get({c});
    for (const char* v : {"valid", "unsigned", "invalid"}) verdicts.get({v});
    for (const char* v : {"unknown", "bad_address", "over_quota"}) recipients_refused.get({v});
}

}  // namespace pampero::store
