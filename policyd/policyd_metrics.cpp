#include "policyd_metrics.hpp"

#include "radius_accounting.hpp"

namespace pampero::policyd {

PolicydMetrics::PolicydMetrics(metrics::Registry& r, State& state)
    : requests(r.counter_family("pampero_policyd_requests_total",
                                "Policy requests answered, by action", {"action"})),
      undecided(r.counter("pampero_policyd_undecided_total",
                          "Policy requests left unanswered: state or directory failed "
                          "(Postfix answers 451 4.3.5)")),
      radius_packets(r.counter_family("pampero_radius_packets_total",
                                      "RADIUS accounting datagrams, by what became of them",
                                      {"outcome"})) {
    // Every series exists (at 0) before anything is counted.
    for (const char* a : {"dunno", "permit", "reject", "defer", "disconnect", "malformed"})
        requests.get({a});
    for (const char* o : {"recorded", "retransmission", "malformed", "not_accounting",
                          "bad_authenticator", "state_failed", "unknown_client"})
        radius_packets.get({o});
    r.gauge("pampero_radius_sessions", "RADIUS accounting sessions live now (in the state)",
            [&state]() -> std::optional<double> {
                auto n = radius::count_sessions(state);
                if (!n) return std::nullopt;
                return static_cast<double>(*n);
            });
}

}  // namespace pampero::policyd
