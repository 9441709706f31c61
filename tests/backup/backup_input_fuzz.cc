// libFuzzer: what dc-backup reads from outside (a tar stream from
// pg_basebackup, manifests and info files from a repository, its YAML
// configuration, etcd's answers; the coordinator's backups journal, which
// it writes for the scheduled runs) never crashes it: garbage is an error.
// The first byte picks the reader.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "backup/backup_config.h"
#include "backup/manifest.h"
#include "backup/site_source.h"
#include "backup/tar_reader.h"
#include "common/dcs/site_state.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgtandem::backup;
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      std::size_t at = 0;
      TarReader tar([&](char* out, std::size_t max) -> pgtandem::Result<std::size_t> {
        const std::size_t n = std::min({max, input.size() - at, std::size_t{700}});
        std::memcpy(out, input.data() + at, n);
        at += n;
        return n;
      });
      char buffer[4096];
      for (int members = 0; members < 1000; ++members) {
        auto member = tar.next();
        if (!member.ok() || !*member) break;
        for (int pieces = 0; pieces < 10000; ++pieces) {
          auto n = tar.readData(buffer, sizeof buffer);
          if (!n.ok() || *n == 0) break;
        }
      }
      break;
    }
    case 1:
      (void)parseManifest(input);
      break;
    case 2:
      (void)parseBackupConfig(input, "fuzz.yml");
      break;
    case 3:
      (void)parseRangeAnswer(input);
      break;
    case 4:
      (void)parseDuration(input);
      (void)parseByteSize(input);
      (void)parseBackupType(input);
      break;
    case 5:
      (void)pgtandem::dcs::parseBackupJournal(input);
      break;
  }
  return 0;
}
