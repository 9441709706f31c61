#pragma once
// dc-backup's configuration file (--config), so that archive_command and
// restore_command stay short:
//
//   repo: /srv/pgtandem-repo          # an absolute path, or sftp://user@host:port/path
//   sftp_key_file: /var/lib/postgresql/.ssh/id_ed25519   # sftp://: default ~/.ssh/id_*
//   sftp_known_hosts: /etc/pgtandem/known_hosts           # sftp://: default ~/.ssh/known_hosts
//   stanza: main
//   pg_data: /var/lib/postgresql/15/main   # stanza-create and backup
//   pg_host: /var/run/postgresql      # backup: the member to copy (a socket
//   pg_port: 5432                     #   directory or a host name)
//   pg_user: postgres
//   process_max: 4                    # backup and restore: parallel workers
//   compress_level: 3                 # zstd level
//   archive_async: true               # archive-push queues into a spool
//   spool_path: /var/spool/pgtandem   #   (backup/async_archive.h), pushed by
//   archive_push_queue_max: 4GB       #   a worker; a full queue fails the push
//   archive_get_queue_max: 256MB      # archive-get fetches this much ahead
//   site:                             # archive-push's split-brain guard
//     name: dc1                       #   (backup/site_guard.h): this DC,
//     etcd: [127.0.0.1:2379]          #   its etcd, and where its site key
//     namespace: /service/            #   lives (patroni.yml's namespace
//     scope: main                     #   and scope)
//
// Errors name the file, the line and the key; unknown keys are warnings.
// Options on the command line override the file.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::backup {

// How `backup` copies the data directory: itself, on the member's host
// (parallel, the default), or through pg_basebackup's stream (from any host).
enum class BackupMethod { kCopy, kPgBasebackup };

struct BackupConfig {
  std::string repo;
  std::string stanza;
  std::string sftp_key_file, sftp_known_hosts;
  std::string pg_data;
  std::string pg_host;
  int pg_port = 0;  // 0: not set (libpq's default)
  std::string pg_user;
  int process_max = 0;     // 0: not set
  int compress_level = 0;  // 0: not set
  BackupMethod backup_method = BackupMethod::kCopy;
  bool allow_primary = false;  // backups come from a replica unless this is set
  // Retention (expire): 0 leaves the rule out.
  int retention_full = 0;
  std::chrono::seconds retention_window{0};
  // Archive-fed standby DCs whose unreplayed WAL expire keeps.
  struct StandbyDcConfig {
    std::string name;
    std::vector<std::string> etcd;
    std::string namespace_ = "/service/";
    std::string scope;
  };
  std::vector<StandbyDcConfig> keep_wal_for;
  std::string metrics_file;  // rewritten after backup, expire and drill ("" none)
  std::string pg_bin_dir;  // pg_basebackup's; "" finds it
  bool archive_async = false;
  std::string spool_path;
  std::uint64_t archive_push_queue_max = 0;  // bytes; 0: no limit
  std::uint64_t archive_get_queue_max = 128ULL << 20;  // bytes fetched ahead
  // The guard; site_name "" when off.
  std::string site_name;
  std::vector<std::string> site_etcd;
  std::string site_namespace = "/service/";
  std::string site_scope;
  std::vector<std::string> warnings;  // "file:line: key: message"
};

// "copy" or "pg_basebackup"; nothing for anything else.
std::optional<BackupMethod> parseBackupMethod(const std::string& text);

// "7d", "36h", "90m", "600s", "600" (seconds): nothing for anything else.
std::optional<std::chrono::seconds> parseDuration(const std::string& text);

// "4GB", "512MB", "1048576" (bytes): nothing for anything else.
std::optional<std::uint64_t> parseByteSize(const std::string& text);

Result<BackupConfig> parseBackupConfig(const std::string& yaml_text, const std::string& file);
Result<BackupConfig> loadBackupConfig(const std::string& path);

}  // namespace pgtandem::backup
