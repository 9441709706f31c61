#include "backup/backup_config.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "common/config/yaml_reader.h"

namespace pgtandem::backup {

std::optional<std::uint64_t> parseByteSize(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  const std::uint64_t number = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit.empty() || unit == "B") return number;
  if (unit == "kB" || unit == "KB") return number << 10;
  if (unit == "MB") return number << 20;
  if (unit == "GB") return number << 30;
  if (unit == "TB") return number << 40;
  return std::nullopt;
}

std::optional<std::chrono::seconds> parseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  const long long n = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::seconds(n * 60);
  if (unit == "h") return std::chrono::seconds(n * 3600);
  if (unit == "d") return std::chrono::seconds(n * 86400);
  return std::nullopt;
}

std::optional<BackupMethod> parseBackupMethod(const std::string& text) {
  if (text == "copy") return BackupMethod::kCopy;
  if (text == "pg_basebackup") return BackupMethod::kPgBasebackup;
  return std::nullopt;
}

Result<BackupConfig> parseBackupConfig(const std::string& yaml_text, const std::string& file) {
  auto loaded = config::loadYamlMapping(yaml_text, file);
  if (!loaded.ok()) return loaded.error();
  YAML::Node root = *loaded;
  config::Reader r(file);
  BackupConfig c;
  r.checkKeys(root, "", {"repo", "stanza", "pg_data", "pg_host", "pg_port", "pg_user", "process_max", "compress_level", "site", "archive_async", "spool_path",
                          "archive_push_queue_max", "archive_get_queue_max", "sftp_key_file",
                          "sftp_known_hosts", "backup_method", "pg_bin_dir", "allow_primary",
                          "retention_full", "retention_window", "keep_wal_for", "metrics_file"});
  r.readString(root, "metrics_file", "", c.metrics_file);
  if (!c.metrics_file.empty() && c.metrics_file.front() != '/') {
    r.error(config::at(root, "metrics_file"), "metrics_file", "must be an absolute path");
  }
  r.readInt(root, "retention_full", "", c.retention_full);
  if (c.retention_full < 0 || c.retention_full > 1000) {
    r.error(config::at(root, "retention_full"), "retention_full", "must be 1 to 1000 full backups");
  }
  std::string window;
  r.readString(root, "retention_window", "", window);
  if (!window.empty()) {
    const auto parsed = parseDuration(window);
    if (!parsed || parsed->count() <= 0) {
      r.error(config::at(root, "retention_window"), "retention_window", "'" + window + "' is not a duration like 7d, 36h or 90m");
    } else {
      c.retention_window = *parsed;
    }
  }
  const YAML::Node standbys = config::at(root, "keep_wal_for");
  if (standbys.IsDefined() && !standbys.IsSequence()) {
    r.error(standbys, "keep_wal_for", "must be a list of standby DCs, each with name, etcd, namespace and scope");
  } else if (standbys.IsDefined()) {
    for (std::size_t i = 0; i < standbys.size(); ++i) {
      const YAML::Node dc = standbys[i];
      const std::string where = "keep_wal_for[" + std::to_string(i) + "]";
      if (!dc.IsMap()) {
        r.error(dc, where, "must be a mapping with name, etcd, namespace and scope");
        continue;
      }
      BackupConfig::StandbyDcConfig s;
      r.checkKeys(dc, where, {"name", "etcd", "namespace", "scope"});
      r.readString(dc, "name", where, s.name);
      r.readList(dc, "etcd", where, s.etcd);
      r.readString(dc, "namespace", where, s.namespace_);
      r.readString(dc, "scope", where, s.scope);
      if (s.name.empty()) r.error(dc, where + ".name", "is required: the standby DC's name");
      if (s.etcd.empty()) r.error(dc, where + ".etcd", "is required: that DC's etcd endpoints");
      if (s.scope.empty()) r.error(dc, where + ".scope", "is required: the cluster's scope there");
      c.keep_wal_for.push_back(std::move(s));
    }
  }
  r.readBool(root, "allow_primary", "", c.allow_primary);
  std::string method;
  r.readString(root, "backup_method", "", method);
  if (!method.empty()) {
    if (auto parsed = parseBackupMethod(method)) {
      c.backup_method = *parsed;
    } else {
      r.error(config::at(root, "backup_method"), "backup_method", "'" + method + "' is not copy or pg_basebackup");
    }
  }
  r.readString(root, "pg_bin_dir", "", c.pg_bin_dir);
  r.readString(root, "sftp_key_file", "", c.sftp_key_file);
  r.readString(root, "sftp_known_hosts", "", c.sftp_known_hosts);
  r.readString(root, "repo", "", c.repo);
  r.readString(root, "stanza", "", c.stanza);
  r.readString(root, "pg_data", "", c.pg_data);
  r.readString(root, "pg_host", "", c.pg_host);
  r.readInt(root, "pg_port", "", c.pg_port);
  r.readString(root, "pg_user", "", c.pg_user);
  r.readInt(root, "process_max", "", c.process_max);
  r.readInt(root, "compress_level", "", c.compress_level);
  r.readBool(root, "archive_async", "", c.archive_async);
  r.readString(root, "spool_path", "", c.spool_path);
  for (auto [key, out] : {std::pair{"archive_push_queue_max", &c.archive_push_queue_max},
                           std::pair{"archive_get_queue_max", &c.archive_get_queue_max}}) {
    std::string size;
    r.readString(root, key, "", size);
    if (size.empty()) continue;
    const auto bytes = parseByteSize(size);
    if (!bytes) {
      r.error(config::at(root, key), key, "'" + size + "' is not a size like 4GB, 512MB or a number of bytes");
    } else {
      *out = *bytes;
    }
  }
  if (c.archive_async && (c.spool_path.empty() || c.spool_path.front() != '/')) {
    r.error(config::at(root, "spool_path"), "spool_path", "archive_async needs an absolute spool_path");
  }
  const YAML::Node site = config::at(root, "site");
  if (site.IsDefined()) {
    if (!site.IsMap()) {
      r.error(site, "site", "must be a mapping with name, etcd, namespace and scope");
    } else {
      r.checkKeys(site, "site", {"name", "etcd", "namespace", "scope"});
      r.readString(site, "name", "site", c.site_name);
      r.readList(site, "etcd", "site", c.site_etcd);
      r.readString(site, "namespace", "site", c.site_namespace);
      r.readString(site, "scope", "site", c.site_scope);
      if (c.site_name.empty()) r.error(site, "site.name", "is required: the name of this DC");
      if (c.site_etcd.empty()) r.error(site, "site.etcd", "is required: this DC's etcd endpoints");
      if (c.site_scope.empty()) r.error(site, "site.scope", "is required: the cluster's scope");
      if (c.site_namespace.empty() || c.site_namespace.front() != '/') {
        r.error(config::at(site, "namespace"), "site.namespace", "must start with '/'");
      }
    }
  }
  if (c.pg_port < 0 || c.pg_port > 65535) r.error(config::at(root, "pg_port"), "pg_port", "must be a port number");
  if (c.process_max < 0 || c.process_max > 64) r.error(config::at(root, "process_max"), "process_max", "must be 1 to 64");
  if (c.compress_level < 0 || c.compress_level > 19) {
    r.error(config::at(root, "compress_level"), "compress_level", "must be 1 to 19");
  }
  if (!c.repo.empty() && c.repo.front() != '/' && c.repo.rfind("sftp://", 0) != 0) {
    r.error(config::at(root, "repo"), "repo", "must be an absolute path, got '" + c.repo + "'");
  }
  PGT_TRY(r.errorsAsStatus());
  for (const auto& warning : r.warnings_) c.warnings.push_back(warning.toString());
  return c;
}

Result<BackupConfig> loadBackupConfig(const std::string& path) {
  auto text = config::readConfigText(path, "configuration file");
  if (!text.ok()) return text.error();
  return parseBackupConfig(*text, path);
}

}  // namespace pgtandem::backup
