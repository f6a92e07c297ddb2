#include "milter_metrics.hpp"

namespace pampero::milter {

MilterMetrics::MilterMetrics(metrics::Registry& r)
    : messages(r.counter_family("pampero_milter_messages_total",
                                "Messages at end of data, by verdict", {"verdict"})),
      recipients(r.counter_family("pampero_milter_recipients_total",
                                  "Recipients of scored messages, by the action decided",
                                  {"action"})),
      rule_hits(r.counter_family("pampero_milter_rule_hits_total",
                                 "Scored messages each rule hit, by rule name", {"rule"})),
      blocklist_lookups(r.counter_family("pampero_milter_blocklist_lookups_total",
                                         "Addresses and domains looked up, by list", {"list"})),
      blocklist_hits(r.counter_family("pampero_milter_blocklist_hits_total",
                                      "Lookups a list answered with a listing, by list", {"list"})),
      viruses(r.counter("pampero_milter_viruses_total", "Messages refused for a virus")),
      scan_seconds(r.histogram("pampero_milter_scan_seconds",
                               "Time from end of data to the verdict (parse, virus scan, rules, "
                               "lists, recipients' lists)",
                               metrics::kLatencyBuckets)),
      tempfails(r.counter_family("pampero_milter_tempfails_total",
                                 "Temporary failures answered (4xx), by cause", {"cause"})),
      unknown_recipients(r.counter("pampero_milter_unknown_recipients_total",
                                   "RCPTs for users that do not exist in a local domain")),
      bans(r.counter("pampero_milter_bans_total",
                     "Clients banned for guessing recipients (guard.unknown_limit)")),
      banned_refused(r.counter("pampero_milter_banned_refused_total",
                               "Connections and RCPTs refused because the client is banned")) {
    // Every fixed label value from the start: a series that appears later reads as a jump.
    for (const char* v : {"inbox", "spam", "partial_reject", "reject", "virus", "header_limit",
                          "authenticated", "tempfail"})
        messages.get({v});
    for (const char* a : {"inbox", "spam", "reject"}) recipients.get({a});
    for (const char* c : {"directory", "state", "antivirus", "relay_check", "internal"})
        tempfails.get({c});
}

}  // namespace pampero::milter
