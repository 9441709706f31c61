#include "dc-agent/rest/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cmath>

namespace pgtandem::rest {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

class Families {
 public:
  Families(const agent::AgentStatus& status) : labels_{{"scope", status.scope}, {"name", status.name}} {}

  void gauge(const std::string& name, const std::string& help, double value) {
    ClientMetric m;
    m.label = labels_;
    m.gauge.value = value;
    families_.push_back(MetricFamily{name, help, MetricType::Gauge, {m}});
  }

  void counterByRule(const std::string& name, const std::string& help, const std::map<std::string, std::uint64_t>& counts) {
    MetricFamily family{name, help, MetricType::Counter, {}};
    for (const auto& [rule, count] : counts) {
      ClientMetric m;
      m.label = labels_;
      m.label.push_back({"rule", rule});
      m.counter.value = static_cast<double>(count);
      family.metric.push_back(std::move(m));
    }
    families_.push_back(std::move(family));
  }

  // A gauge of 1 whose label carries the value (an "info" metric).
  void labelled(const std::string& name, const std::string& help, const std::string& label, const std::string& value) {
    ClientMetric m;
    m.label = labels_;
    m.label.push_back({label, value});
    m.gauge.value = 1;
    families_.push_back(MetricFamily{name, help, MetricType::Gauge, {m}});
  }

  std::string text() const { return prometheus::TextSerializer().Serialize(families_); }

 private:
  std::vector<ClientMetric::Label> labels_;
  std::vector<MetricFamily> families_;
};

double seconds(WallTime t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

// PostgreSQL's "2026-11-22 05:40:01.123+00" as epoch seconds; 0 if unknown.
double timestampSeconds(const std::string& text) {
  auto parsed = parseIsoTime(text.size() > 10 ? text.substr(0, 10) + "T" + text.substr(11) : text);
  return parsed ? seconds(*parsed) : 0.0;
}

}  // namespace

std::string renderMetrics(const agent::AgentStatus& s, MonoTime now_mono, WallTime now_wall) {
  Families f(s);
  const bool leads = s.leads(now_mono);
  f.gauge("patroni_version", "Patroni-compatible agent version, as an integer.", 100);
  f.gauge("patroni_postgres_running", "Value is 1 if Postgres is running, 0 otherwise.", s.pg_running ? 1 : 0);
  f.gauge("patroni_postmaster_start_time", "Epoch seconds since Postgres started.",
          timestampSeconds(s.postmaster_start_time));
  f.gauge("patroni_primary", "Value is 1 if this node is the leader, 0 otherwise.",
          leads && !s.standby_cluster && s.pg_primary ? 1 : 0);
  f.gauge("patroni_xlog_location", "Current location of the Postgres transaction log, 0 if this node is not the leader.",
          s.pg_primary ? static_cast<double>(s.wal_position.value_or(0)) : 0);
  f.gauge("patroni_standby_leader", "Value is 1 if this node is the standby_leader, 0 otherwise.",
          leads && s.standby_cluster ? 1 : 0);
  f.gauge("patroni_replica", "Value is 1 if this node is a replica, 0 otherwise.", s.role == "replica" ? 1 : 0);
  f.gauge("patroni_sync_standby", "Value is 1 if this node is a sync standby, 0 otherwise.", s.sync_standby ? 1 : 0);
  f.gauge("patroni_quorum_standby", "Value is 1 if this node is a quorum standby, 0 otherwise.", 0);
  f.gauge("patroni_xlog_received_location", "Current location of the received Postgres transaction log.",
          static_cast<double>(s.receive_lsn.value_or(0)));
  f.gauge("patroni_xlog_replayed_location", "Current location of the replayed Postgres transaction log.",
          static_cast<double>(s.replay_lsn.value_or(0)));
  f.gauge("patroni_xlog_replayed_timestamp", "Current timestamp of the replayed Postgres transaction log.",
          timestampSeconds(s.replayed_timestamp));
  f.gauge("patroni_xlog_paused", "Value is 1 if the Postgres xlog is paused, 0 otherwise.", s.replay_paused ? 1 : 0);
  f.gauge("patroni_postgres_streaming", "Value is 1 if Postgres is streaming, 0 otherwise.",
          s.replication_state == "streaming" ? 1 : 0);
  f.gauge("patroni_postgres_in_archive_recovery", "Value is 1 if Postgres is replicating from archive, 0 otherwise.",
          s.replication_state == "in archive recovery" ? 1 : 0);
  f.gauge("patroni_postgres_server_version", "Version of Postgres (if running), 0 otherwise.", s.server_version);
  f.gauge("patroni_cluster_unlocked", "Value is 1 if the cluster is unlocked, 0 if locked.", s.cluster_unlocked ? 1 : 0);
  f.gauge("patroni_failsafe_mode_is_active", "Value is 1 if failsafe mode is active, 0 if inactive.",
          s.failsafe_active ? 1 : 0);
  f.gauge("patroni_postgres_timeline", "Postgres timeline of this node (if running), 0 otherwise.", s.timeline);
  f.gauge("patroni_dcs_last_seen", "Epoch timestamp when DCS was last contacted successfully by Patroni.",
          std::floor(seconds(s.dcs_last_seen)));
  f.gauge("patroni_pending_restart", "Value is 1 if the node needs a restart, 0 otherwise.",
          s.pending_restart.empty() ? 0 : 1);
  f.gauge("patroni_is_paused", "Value is 1 if auto failover is disabled, 0 otherwise.", s.pause ? 1 : 0);
  f.gauge("patroni_failover_priority", "Value is used to determine the priority of this node in a failover.",
          s.tags.nofailover ? 0 : s.tags.failover_priority.value_or(1));
  f.counterByRule("pgtandem_decisions_total", "HA cycles, by the rule that decided them.", s.decisions);
  f.gauge("pgtandem_lock_renew_seconds", "Duration of the last leader lock renewal.",
          std::chrono::duration<double>(s.lock_renew_latency).count());
  const double since_dcs = s.dcs_last_seen == WallTime{} ? -1 : std::chrono::duration<double>(now_wall - s.dcs_last_seen).count();
  f.gauge("pgtandem_dcs_last_contact_age_seconds", "Seconds since the DCS last answered (-1: never).", since_dcs);
  if (!s.standby_source.empty()) {
    f.gauge("pgtandem_standby_lag_bytes", "Standby leader: bytes behind the primary DC (-1: unknown, not streaming).",
            s.standby_lag_bytes ? static_cast<double>(*s.standby_lag_bytes) : -1);
    f.gauge("pgtandem_standby_lag_seconds", "Standby leader: seconds since this DC was last caught up with the primary DC.",
            s.standby_lag_seconds);
    f.gauge("pgtandem_standby_contact_age_seconds",
            "Standby leader: seconds since the primary DC was last heard from (-1: not since the agent started).",
            s.standby_contact_age.value_or(-1));
    f.labelled("pgtandem_standby_source", "Standby leader: where WAL comes from (stream, archive, none).", "source",
               s.standby_source);
  }
  f.gauge("pgtandem_dynamic_config_valid",
          "Value is 0 if /config cannot be used (malformed, or breaks the timing rule) and the last valid one is kept.",
          s.dynamic_config_error.empty() ? 1 : 0);
  f.gauge("pgtandem_holds_leader_lock", "Value is 1 if this member holds an unexpired leader lock.", leads ? 1 : 0);
  if (s.site_role) {  // only in a DC with a coordinator's site key
    f.labelled("pgtandem_site_role", "This DC's role in its site key (primary, fenced, standby).", "role", dcs::siteRoleName(*s.site_role));
    f.gauge("pgtandem_site_epoch", "This DC's fencing epoch in its site key.", static_cast<double>(s.site_epoch));
    f.gauge("pgtandem_site_fenced", "Value is 1 if the coordinator fenced this DC (or the other DC superseded it).",
            s.siteFenced() ? 1 : 0);
  }
  return f.text();
}

}  // namespace pgtandem::rest
