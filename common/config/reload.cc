#include "common/config/reload.h"

#include "common/config/dynamic_json.h"

namespace pgtandem::config {

namespace {

bool sameTls(const RestApiConfig& a, const RestApiConfig& b) {
  return a.certfile == b.certfile && a.keyfile == b.keyfile && a.keyfile_password == b.keyfile_password &&
         a.cafile == b.cafile && a.verify_client == b.verify_client;
}

bool sameBootstrap(const BootstrapConfig& a, const BootstrapConfig& b) {
  // The dynamic part as the DCS would hold it; the rest field by field.
  if (a.initdb != b.initdb || a.pg_hba != b.pg_hba || a.post_bootstrap != b.post_bootstrap) return false;
  if (a.users.size() != b.users.size()) return false;
  for (std::size_t i = 0; i < a.users.size(); ++i) {
    if (a.users[i].name != b.users[i].name || a.users[i].password != b.users[i].password ||
        a.users[i].options != b.users[i].options) {
      return false;
    }
  }
  return toJson(a.dcs) == toJson(b.dcs);
}

}  // namespace

bool ReloadPlan::restApiTlsChanged(const Config& running) const { return !sameTls(running.restapi, next.restapi); }

ReloadPlan planReload(const Config& running, const Config& reread) {
  ReloadPlan plan;
  plan.next = running;
  Config& next = plan.next;
  // Applied now: copy the new value and say so.
  auto live = [&](const char* key, auto member) {
    if (running.*member == reread.*member) return;
    next.*member = reread.*member;
    plan.applied.emplace_back(key);
  };
  auto livePg = [&](const char* key, auto member) {
    if (running.postgresql.*member == reread.postgresql.*member) return;
    next.postgresql.*member = reread.postgresql.*member;
    plan.applied.emplace_back(key);
  };
  auto restart = [&](const char* key, bool same) {
    if (!same) plan.need_restart.emplace_back(key);
  };

  live("log_level", &Config::log_level);
  live("tags", &Config::tags);
  live("ctl", &Config::ctl);
  if (running.restapi.authentication != reread.restapi.authentication) {
    next.restapi.authentication = reread.restapi.authentication;
    plan.applied.emplace_back("restapi.authentication");
  }
  if (running.restapi.allowlist != reread.restapi.allowlist ||
      running.restapi.allowlist_include_members != reread.restapi.allowlist_include_members) {
    next.restapi.allowlist = reread.restapi.allowlist;
    next.restapi.allowlist_include_members = reread.restapi.allowlist_include_members;
    plan.applied.emplace_back("restapi.allowlist");
  }
  if (!sameTls(running.restapi, reread.restapi)) {
    next.restapi.certfile = reread.restapi.certfile;
    next.restapi.keyfile = reread.restapi.keyfile;
    next.restapi.keyfile_password = reread.restapi.keyfile_password;
    next.restapi.cafile = reread.restapi.cafile;
    next.restapi.verify_client = reread.restapi.verify_client;
    plan.applied.emplace_back("restapi TLS (certfile, keyfile, cafile, verify_client)");
  }
  livePg("postgresql.parameters", &PostgresqlConfig::parameters);
  livePg("postgresql.pg_hba", &PostgresqlConfig::pg_hba);
  livePg("postgresql.authentication.superuser", &PostgresqlConfig::superuser);
  livePg("postgresql.authentication.replication", &PostgresqlConfig::replication);
  livePg("postgresql.authentication.rewind", &PostgresqlConfig::rewind);
  livePg("postgresql.callbacks", &PostgresqlConfig::callbacks);
  livePg("postgresql.create_replica_methods", &PostgresqlConfig::create_replica_methods);
  livePg("postgresql.<replica method>", &PostgresqlConfig::method_definitions);
  livePg("postgresql.basebackup", &PostgresqlConfig::basebackup);
  livePg("postgresql.use_pg_rewind", &PostgresqlConfig::use_pg_rewind);
  livePg("postgresql.remove_data_directory_on_rewind_failure", &PostgresqlConfig::remove_data_directory_on_rewind_failure);

  restart("name", running.name == reread.name);
  restart("scope", running.scope == reread.scope);
  restart("namespace", running.namespace_ == reread.namespace_);
  restart("etcd3", running.etcd == reread.etcd);
  restart("restapi.listen", running.restapi.listen == reread.restapi.listen);
  restart("restapi.connect_address", running.restapi.connect_address == reread.restapi.connect_address);
  restart("postgresql.listen", running.postgresql.listen == reread.postgresql.listen);
  restart("postgresql.connect_address", running.postgresql.connect_address == reread.postgresql.connect_address);
  restart("postgresql.data_dir", running.postgresql.data_dir == reread.postgresql.data_dir);
  restart("postgresql.bin_dir", running.postgresql.bin_dir == reread.postgresql.bin_dir);
  restart("watchdog", running.watchdog == reread.watchdog);
  if (!sameBootstrap(running.bootstrap, reread.bootstrap)) plan.ignored.emplace_back("bootstrap");
  next.source_file = reread.source_file;
  return plan;
}

}  // namespace pgtandem::config
