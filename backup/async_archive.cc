#include "backup/async_archive.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <ostream>

#include "backup/codec.h"
#include "backup/parallel.h"
#include "common/util/files.h"

namespace pgtandem::backup {

namespace fs = std::filesystem;

namespace {

std::string queueDir(const Spool& spool) { return spool.dir + "/queue"; }

bool temporary(const fs::path& path) { return path.extension() == ".tmp"; }

std::vector<fs::path> queuedFiles(const Spool& spool) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(queueDir(spool), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !temporary(it->path())) files.push_back(it->path());
  }
  // WAL names sort in the order PostgreSQL wrote them (history files first).
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

QueueState queueState(const Spool& spool) {
  QueueState state;
  std::error_code ec;
  for (const auto& file : queuedFiles(spool)) {
    state.bytes += fs::file_size(file, ec);
    ++state.files;
  }
  return state;
}

Status queueWal(const Spool& spool, const std::string& wal_path) {
  const std::string name = fs::path(wal_path).filename().string();
  if (!isArchivableWalName(name)) return makeError(ErrorCode::kInvalidArgument, "'" + name + "' is not a WAL file name");
  std::error_code ec;
  fs::create_directories(queueDir(spool), ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot create the spool " + queueDir(spool) + ": " + ec.message());
  auto bytes = readWholeFile(wal_path, "WAL");
  if (!bytes.ok()) return bytes.error();
  const std::string queued = queueDir(spool) + "/" + name;
  if (fs::exists(queued, ec)) {
    auto there = readWholeFile(queued, "queued WAL");
    if (there.ok() && *there == *bytes) return okStatus();  // the archiver retried
  }
  const QueueState state = queueState(spool);
  if (spool.queue_max_bytes > 0 && state.bytes + bytes->size() > spool.queue_max_bytes) {
    (void)writeQueueMetrics(spool, true);
    return makeError(ErrorCode::kUnavailable,
                     "the archive queue " + queueDir(spool) + " is full (" + std::to_string(state.files) + " files, " +
                         std::to_string(state.bytes) + " bytes; archive_push_queue_max " +
                         std::to_string(spool.queue_max_bytes) + "): " + name +
                         " is not archived, PostgreSQL keeps it and retries");
  }
  PGT_TRY(writeFileAtomically(queued, *bytes, 0600));
  return writeQueueMetrics(spool, false);
}

int drainQueue(const Spool& spool, int workers, const std::function<Result<PushResult>(const std::string& path)>& push,
               std::ostream& log) {
  const auto files = queuedFiles(spool);
  std::mutex mutex;
  int failed = 0;
  (void)runParallel(workers, files.size(), [&](std::size_t i) {
    auto pushed = push(files[i].string());
    std::lock_guard lock(mutex);
    if (pushed.ok()) {
      std::error_code ec;
      fs::remove(files[i], ec);
      log << formatIsoTime(std::chrono::system_clock::now()) << " pushed " << files[i].filename().string()
          << (pushed->already_archived ? " (already archived)" : "") << "\n";
    } else {
      ++failed;
      log << formatIsoTime(std::chrono::system_clock::now()) << " failed " << files[i].filename().string() << ": "
          << pushed.error().message << "\n";
    }
    return okStatus();  // one failure does not hold the others back
  });
  log.flush();
  return failed;
}

Status runPushWorker(const Spool& spool, int workers,
                     const std::function<Result<PushResult>(const std::string& path)>& push, const Clock& clock,
                     std::chrono::milliseconds idle, std::chrono::milliseconds retry, std::ostream& log) {
  std::error_code ec;
  fs::create_directories(queueDir(spool), ec);
  const std::string lock_path = spool.dir + "/worker.lock";
  for (;;) {
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return fileError("open", lock_path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return okStatus();  // another worker drains this spool
    }
    auto empty_since = clock.monotonicNow();
    for (;;) {
      if (queueState(spool).files == 0) {
        if (clock.monotonicNow() - empty_since >= idle) break;
        clock.sleepFor(std::chrono::milliseconds(50));
        continue;
      }
      const int failed = drainQueue(spool, workers, push, log);
      (void)writeQueueMetrics(spool, false);
      if (failed > 0) clock.sleepFor(retry);
      empty_since = clock.monotonicNow();
    }
    ::close(fd);  // releases the lock
    // A file queued after the last look found the lock still held, and its
    // pusher's worker gave up: look once more now that the lock is free.
    if (queueState(spool).files == 0) return okStatus();
  }
}

std::vector<std::string> segmentsAfter(const std::string& file_name, int depth, std::uint64_t segment_size) {
  std::vector<std::string> names;
  const auto number = walSegmentNumber(file_name, segment_size);
  if (!number || file_name.size() != 24) return names;
  for (int i = 1; i <= depth; ++i) names.push_back(walSegmentName(file_name.substr(0, 8), *number + i, segment_size));
  return names;
}

namespace {

std::string inDir(const Spool& spool) { return spool.dir + "/in"; }

}  // namespace

Status takePrefetched(const Spool& spool, const std::string& file_name, const std::string& dest) {
  std::error_code ec;
  const std::string prefetched = inDir(spool) + "/" + file_name;
  if (!fs::exists(prefetched, ec)) return makeError(ErrorCode::kNotFound, file_name + " was not fetched ahead");
  // Same file system: a rename; otherwise a copy written atomically.
  if (::rename(prefetched.c_str(), dest.c_str()) != 0) {
    auto bytes = readWholeFile(prefetched, "prefetched WAL");
    if (!bytes.ok()) return bytes.error();
    PGT_TRY(writeFileAtomically(dest, *bytes, 0600));
    fs::remove(prefetched, ec);
  }
  for (fs::directory_iterator it(inDir(spool), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() == 24 && name.compare(0, 8, file_name, 0, 8) == 0 && name < file_name) fs::remove(it->path(), ec);
  }
  return okStatus();
}

Result<int> prefetchAfter(const Spool& spool, Repository& repo, const std::string& stanza, const std::string& file_name,
                          int depth, std::uint64_t segment_size) {
  std::error_code ec;
  fs::create_directories(inDir(spool), ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot create the spool " + inDir(spool) + ": " + ec.message());
  const std::string lock_path = spool.dir + "/get.lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fileError("open", lock_path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return 0;  // another prefetcher runs
  }
  int fetched = 0;
  Status status;
  for (const auto& name : segmentsAfter(file_name, depth, segment_size)) {
    const std::string target = inDir(spool) + "/" + name;
    if (fs::exists(target, ec)) continue;
    auto got = getWalFile(repo, stanza, name, target);
    if (!got.ok()) {
      if (got.error().code != ErrorCode::kNotFound) status = got;
      break;  // not archived yet: the rest is not either
    }
    ++fetched;
  }
  ::close(fd);
  if (!status.ok()) return status.error();
  return fetched;
}

std::string queueMetrics(const QueueState& state, const Spool& spool, bool refused_full) {
  return "# HELP pgtandem_archive_queue_bytes WAL waiting in the archive-push spool.\n"
         "# TYPE pgtandem_archive_queue_bytes gauge\n"
         "pgtandem_archive_queue_bytes " + std::to_string(state.bytes) + "\n" +
         "# HELP pgtandem_archive_queue_files WAL files waiting in the archive-push spool.\n"
         "# TYPE pgtandem_archive_queue_files gauge\n"
         "pgtandem_archive_queue_files " + std::to_string(state.files) + "\n" +
         "# HELP pgtandem_archive_queue_max_bytes The spool's limit (0: none).\n"
         "# TYPE pgtandem_archive_queue_max_bytes gauge\n"
         "pgtandem_archive_queue_max_bytes " + std::to_string(spool.queue_max_bytes) + "\n" +
         "# HELP pgtandem_archive_queue_full 1 when the last push was refused because the spool was full.\n"
         "# TYPE pgtandem_archive_queue_full gauge\n"
         "pgtandem_archive_queue_full " + (refused_full ? "1" : "0") + "\n";
}

Status writeQueueMetrics(const Spool& spool, bool refused_full) {
  return writeFileAtomically(spool.dir + "/archive.prom", queueMetrics(queueState(spool), spool, refused_full), 0644);
}

}  // namespace pgtandem::backup
