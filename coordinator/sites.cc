#include "coordinator/sites.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/config/yaml_json.h"
#include "common/config/yaml_reader.h"

namespace pgtandem::coordinator {

using config::at;
using config::looksLikeHostPort;
using config::Reader;

namespace {

void readSite(Reader& r, const std::string& name, const YAML::Node& node, Site& site) {
  const std::string path = "sites." + name;
  site.name = name;
  if (!node.IsMap()) return r.error(node, path, "must be a mapping");
  r.checkKeys(node, path, {"etcd3", "etcd", "namespace", "scope", "entry_points", "archive", "standby_cluster", "superuser"});
  for (const char* section_name : {"etcd", "etcd3"}) {
    YAML::Node etcd = r.section(node, section_name, path);
    if (etcd.IsDefined() && !etcd.IsNull()) config::readEtcd(r, etcd, path + "." + section_name, site.etcd);
  }
  if (site.etcd.hosts.empty()) r.error(node, path + ".etcd3.hosts", "is required: each DC has its own etcd");
  r.readString(node, "namespace", path, site.namespace_);
  if (site.namespace_.empty()) site.namespace_ = "/service/";
  if (site.namespace_.front() != '/') site.namespace_ = "/" + site.namespace_;
  if (site.namespace_.back() != '/') site.namespace_ += "/";
  r.readString(node, "scope", path, site.scope);
  if (site.scope.empty()) r.error(node, path + ".scope", "is required");
  YAML::Node entry = r.section(node, "entry_points", path);
  if (entry.IsMap()) {
    r.checkKeys(entry, path + ".entry_points", {"write", "read"});
    r.readString(entry, "write", path + ".entry_points", site.entry_points.write);
    r.readString(entry, "read", path + ".entry_points", site.entry_points.read);
    for (const auto& [key, value] : {std::pair{"write", site.entry_points.write}, std::pair{"read", site.entry_points.read}}) {
      if (!value.empty() && !looksLikeHostPort(value)) {
        r.error(at(entry, key), path + ".entry_points." + key, "must be host:port, got '" + value + "'");
      }
    }
  }
  r.readString(node, "archive", path, site.archive);
  YAML::Node standby = r.section(node, "standby_cluster", path);
  if (standby.IsMap()) {
    const std::string where = path + ".standby_cluster";
    r.checkKeys(standby, where, {"host", "port", "primary_slot_name", "restore_command", "archive_cleanup_command",
                                 "recovery_min_apply_delay", "create_replica_methods"});
    YAML::Emitter out;
    out << standby;
    auto json = config::yamlToJson(out.c_str(), where);
    if (json.ok()) {
      site.standby_cluster_json = *json;
    } else {
      r.error(standby, where, json.error().message);
    }
  }
  YAML::Node superuser = r.section(node, "superuser", path);
  if (superuser.IsMap()) {
    r.checkKeys(superuser, path + ".superuser", {"username", "password"});
    r.readString(superuser, "username", path + ".superuser", site.superuser.username);
    r.readString(superuser, "password", path + ".superuser", site.superuser.password);
    if (site.superuser.username.empty()) site.superuser.username = "postgres";
  }
}

}  // namespace

const Site* SitesConfig::site(const std::string& name) const {
  for (const auto& s : sites) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Site* SitesConfig::other(const std::string& name) const {
  for (const auto& s : sites) {
    if (s.name != name) return &s;
  }
  return nullptr;
}

Result<SitesConfig> parseSites(const std::string& yaml_text, const std::string& file) {
  auto loaded = config::loadYamlMapping(yaml_text, file);
  if (!loaded.ok()) return loaded.error();
  YAML::Node root = *loaded;
  Reader r(file);
  SitesConfig c;
  c.source_file = file;
  r.checkKeys(root, "", {"sites", "switchover", "coordinator", "backups", "upgrade"});
  YAML::Node sites = r.section(root, "sites", "");
  if (sites.IsMap()) {
    for (const auto& entry : sites) {
      Site site;
      readSite(r, entry.first.Scalar(), entry.second, site);
      c.sites.push_back(std::move(site));
    }
  }
  if (c.sites.size() != 2) {
    r.error(sites.IsDefined() ? sites : root, "sites",
            "must name exactly two data centers, got " + std::to_string(c.sites.size()));
  } else {
    const Site& a = c.sites[0];
    const Site& b = c.sites[1];
    if (a.etcd.hosts == b.etcd.hosts && a.namespace_ == b.namespace_ && a.scope == b.scope) {
      r.error(at(sites, b.name), "sites." + b.name, "is the same cluster as sites." + a.name + " (same etcd, namespace and scope)");
    }
  }
  YAML::Node switchover = r.section(root, "switchover", "");
  if (switchover.IsMap()) {
    r.checkKeys(switchover, "switchover", {"maximum_lag_bytes", "maximum_transaction_seconds"});
    r.readInt64(switchover, "maximum_lag_bytes", "switchover", c.switchover.maximum_lag_bytes);
    r.readInt(switchover, "maximum_transaction_seconds", "switchover", c.switchover.maximum_transaction_seconds);
    if (c.switchover.maximum_lag_bytes < 0) {
      r.error(at(switchover, "maximum_lag_bytes"), "switchover.maximum_lag_bytes", "must not be negative");
    }
  }
  YAML::Node coordinator = r.section(root, "coordinator", "");
  if (coordinator.IsMap()) {
    r.checkKeys(coordinator, "coordinator",
                {"listen", "certfile", "keyfile", "cafile", "client_certfile", "client_keyfile"});
    r.readString(coordinator, "listen", "coordinator", c.listen);
    if (!c.listen.empty() && !looksLikeHostPort(c.listen)) {
      r.error(at(coordinator, "listen"), "coordinator.listen", "must be host:port, got '" + c.listen + "'");
    }
    CoordinatorTls& tls = c.tls;
    r.readString(coordinator, "certfile", "coordinator", tls.certfile);
    r.readString(coordinator, "keyfile", "coordinator", tls.keyfile);
    r.readString(coordinator, "cafile", "coordinator", tls.cafile);
    r.readString(coordinator, "client_certfile", "coordinator", tls.client_certfile);
    r.readString(coordinator, "client_keyfile", "coordinator", tls.client_keyfile);
    // Each certificate needs its key, and a client certificate is only
    // sent over TLS (which cafile turns on for dcctl).
    auto pair = [&](const std::string& cert, const std::string& key, const char* cert_key, const char* key_key) {
      if (cert.empty() != key.empty()) {
        const char* missing = cert.empty() ? cert_key : key_key;
        const char* present = cert.empty() ? key_key : cert_key;
        r.error(at(coordinator, present), std::string("coordinator.") + missing,
                std::string("is required with coordinator.") + present);
      }
    };
    pair(tls.certfile, tls.keyfile, "certfile", "keyfile");
    pair(tls.client_certfile, tls.client_keyfile, "client_certfile", "client_keyfile");
    if (!tls.client_certfile.empty() && tls.cafile.empty()) {
      r.error(at(coordinator, "client_certfile"), "coordinator.cafile", "is required with client_certfile (to verify the daemon)");
    }
  }
  YAML::Node backups = r.section(root, "backups", "");
  if (backups.IsMap()) {
    r.checkKeys(backups, "backups", {"config", "full", "diff", "incr", "drill", "allow_primary_dc"});
    r.readString(backups, "config", "backups", c.backups.config);
    r.readBool(backups, "allow_primary_dc", "backups", c.backups.allow_primary_dc);
    for (auto [key, out] : {std::pair{"full", &c.backups.full}, std::pair{"diff", &c.backups.diff},
                            std::pair{"incr", &c.backups.incr}, std::pair{"drill", &c.backups.drill}}) {
      std::string text;
      r.readString(backups, key, "backups", text);
      if (text.empty()) continue;
      auto schedule = parseCron(text);
      if (!schedule.ok()) {
        r.error(at(backups, key), std::string("backups.") + key, schedule.error().message);
      } else if (!nextRun(*schedule, std::chrono::system_clock::now())) {
        r.error(at(backups, key), std::string("backups.") + key, "'" + text + "' never falls due");
      } else {
        *out = std::move(*schedule);
      }
    }
    if (c.backups.any() && c.backups.config.empty()) {
      r.error(backups, "backups.config", "is required with a schedule: the dc-backup configuration of the repository");
    }
  }
  YAML::Node upgrade = r.section(root, "upgrade", "");
  if (upgrade.IsMap()) {
    UpgradeSettings& u = c.upgrade;
    u.configured = true;
    r.checkKeys(upgrade, "upgrade", {"ssh", "install", "dry_run", "install_timeout_seconds"});
    YAML::Node ssh = r.section(upgrade, "ssh", "upgrade");
    if (ssh.IsMap()) {
      r.checkKeys(ssh, "upgrade.ssh", {"user", "port", "key_file", "known_hosts"});
      r.readString(ssh, "user", "upgrade.ssh", u.ssh_user);
      r.readInt(ssh, "port", "upgrade.ssh", u.ssh_port);
      r.readString(ssh, "key_file", "upgrade.ssh", u.ssh_key_file);
      r.readString(ssh, "known_hosts", "upgrade.ssh", u.ssh_known_hosts);
      if (u.ssh_port < 1 || u.ssh_port > 65535) r.error(at(ssh, "port"), "upgrade.ssh.port", "must be a port number");
      if (u.ssh_user.empty()) r.error(at(ssh, "user"), "upgrade.ssh.user", "must not be empty");
    }
    r.readString(upgrade, "install", "upgrade", u.install);
    r.readString(upgrade, "dry_run", "upgrade", u.dry_run);
    r.readInt(upgrade, "install_timeout_seconds", "upgrade", u.install_timeout_seconds);
    for (const auto& [key, value] : {std::pair{"install", &u.install}, std::pair{"dry_run", &u.dry_run}}) {
      if (value->empty()) r.error(at(upgrade, key), std::string("upgrade.") + key, "must not be empty");
    }
    if (u.install_timeout_seconds < 10) {
      r.error(at(upgrade, "install_timeout_seconds"), "upgrade.install_timeout_seconds", "must be at least 10");
    }
  }
  PGT_TRY(r.errorsAsStatus());
  c.warnings = std::move(r.warnings_);
  return c;
}

std::string sitesFilePath(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("PGTANDEM_SITES");
  return env && *env ? env : "/etc/pgtandem/sites.yml";
}

Result<SitesConfig> loadSitesFile(const std::string& path) {
  auto text = config::readConfigText(path, "sites file");
  if (!text.ok()) return text.error();
  return parseSites(*text, path);
}

std::string upgradeCommand(const std::string& templ, const std::string& version) {
  std::string out;
  static const std::string kPlaceholder = "{version}";
  for (std::size_t at = 0; at < templ.size();) {
    const std::size_t found = templ.find(kPlaceholder, at);
    if (found == std::string::npos) {
      out += templ.substr(at);
      break;
    }
    out += templ.substr(at, found - at) + version;
    at = found + kPlaceholder.size();
  }
  return out;
}

}  // namespace pgtandem::coordinator
