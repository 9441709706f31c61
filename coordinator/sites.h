#pragma once
// The coordinator's sites file: the two data centers, each with its own etcd
// and scope, its clients' entry points and its WAL archive. The coordinator
// keeps no state of its own (site state lives in the DCSs), so this file is
// all it needs.
//
//   sites:
//     dc1:
//       etcd3: {hosts: 10.0.1.1:2379}
//       namespace: /service/
//       scope: pg
//       entry_points: {write: 10.0.1.10:5000, read: 10.0.1.10:5001}
//       archive: /srv/archive/dc1
//       standby_cluster: {host: 10.0.2.10, port: 5002, primary_slot_name: dc1}   # when dc1 is the standby DC
//       superuser: {username: postgres, password: ...}   # the coordinator's checks (CHECKPOINT, pg_control)
//     dc2: ...
//   switchover:
//     maximum_lag_bytes: 16777216
//     maximum_transaction_seconds: 15
//   backups: {config: /etc/pgtandem/dc-backup.yml, full: "0 1 * * 0", incr: "0 1 * * 1-6", drill: "0 4 * * 0"}
//   coordinator:
//     listen: 127.0.0.1:7000
//     certfile: ..., keyfile: ..., cafile: ...            # the daemon (TLS, client certificates)
//     client_certfile: ..., client_keyfile: ...           # dcctl

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/util/result.h"
#include "coordinator/schedule.h"

namespace pgtandem::coordinator {

struct EntryPoints {
  std::string write;  // host:port
  std::string read;   // host:port
};

struct Credentials {
  std::string username = "postgres";
  std::string password;
};

struct Site {
  std::string name;
  config::EtcdConfig etcd;
  std::string namespace_ = "/service/";
  std::string scope;
  EntryPoints entry_points;
  std::string archive;
  // Patroni's standby_cluster block this DC gets in its /config when it
  // becomes the standby DC (JSON object text). "": the block it had before
  // its last promotion (kept in its site key), else the other DC's leader.
  std::string standby_cluster_json;
  Credentials superuser;
};

struct SwitchoverLimits {
  std::int64_t maximum_lag_bytes = 16 * 1024 * 1024;
  int maximum_transaction_seconds = 15;
};

// TLS on the coordinator daemon's gRPC port. The daemon serves TLS with
// certfile/keyfile, and with cafile it requires client certificates signed
// by that CA (mutual TLS: only holders of such a certificate can fence or
// promote a DC). dcctl uses TLS when cafile is set, verifies the daemon
// with it, and presents client_certfile/client_keyfile.
struct CoordinatorTls {
  std::string certfile, keyfile, cafile;
  std::string client_certfile, client_keyfile;

  bool serverTls() const { return !certfile.empty(); }
  bool clientTls() const { return !cafile.empty(); }
};

// The rolling upgrade's install step (sites file `upgrade:`): run over SSH
// on each member's host (its conn_url's host), `{version}` replaced with the
// target ("15.20"). The dry run is the pre-check that the package can be
// installed; neither is retried.
struct UpgradeSettings {
  bool configured = false;  // the sites file has an upgrade: section
  std::string ssh_user = "root";
  int ssh_port = 22;
  std::string ssh_key_file;     // "": the coordinator user's default keys and ssh-agent
  std::string ssh_known_hosts;  // "": ~/.ssh/known_hosts; an unknown or changed host key is refused
  std::string install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15='{version}-*'";
  std::string dry_run = "apt-get install -s -q postgresql-15='{version}-*'";
  int install_timeout_seconds = 900;
};

// `templ` with each {version} replaced by `version` ("15.20").
std::string upgradeCommand(const std::string& templ, const std::string& version);

struct SitesConfig {
  std::string source_file;
  std::vector<Site> sites;  // in file order; exactly two
  SwitchoverLimits switchover;
  std::string listen;  // the coordinator daemon's gRPC address
  CoordinatorTls tls;
  BackupSchedules backups;  // scheduled backups and drills (coordinator/schedule.h)
  UpgradeSettings upgrade;  // the rolling upgrade's install step
  std::vector<config::ConfigIssue> warnings;  // unknown keys (typos), with their lines

  const Site* site(const std::string& name) const;
  // The other DC's site (there are two).
  const Site* other(const std::string& name) const;
};

// Every problem is reported as "file:line: key: message", all at once.
Result<SitesConfig> parseSites(const std::string& yaml_text, const std::string& file);
Result<SitesConfig> loadSitesFile(const std::string& path);

// The sites file a command uses: `given` (-s), else $PGTANDEM_SITES, else
// /etc/pgtandem/sites.yml.
std::string sitesFilePath(const std::string& given);

}  // namespace pgtandem::coordinator
