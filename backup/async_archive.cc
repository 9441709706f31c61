#include "backup/async_archive.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ostream>

#include "backup/codec.h"
#include "backup/parallel.h"
#include "common/util/files.h"

namespace pgtandem::backup {

namespace fs = std::filesystem;

namespace {

std::string outDir(const Spool& spool) { return spool.dir + "/out"; }
std::string answerPath(const Spool& spool, const std::string& name, const char* kind) {
  return outDir(spool) + "/" + name + kind;
}

// What identifies the file the worker read: a segment PostgreSQL recycles
// keeps its inode but not its name or mtime; one of a new cluster differs.
std::string stampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + " " + std::to_string(st.st_ino) + " " + std::to_string(st.st_size) + " " +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

std::string readSmall(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Answers are not fsynced: one lost in a crash only makes the worker push
// the file again, which the repository takes as already archived.
void writeAnswer(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path + ".tmp", std::ios::trunc);
    out << text;
  }
  std::error_code ec;
  fs::rename(path + ".tmp", path, ec);
}

// The stamp line of an .ok answer.
std::string okStamp(const std::string& text) { return text.substr(0, text.find('\n')); }

bool pushedAlready(const Spool& spool, const std::string& pg_wal, const std::string& name) {
  std::error_code ec;
  const std::string ok = answerPath(spool, name, ".ok");
  return fs::exists(ok, ec) && okStamp(readSmall(ok)) == stampOf(pg_wal + "/" + name);
}

std::string now() { return formatIsoTime(std::chrono::system_clock::now()); }

}  // namespace

std::vector<std::string> pendingWal(const Spool& spool, const std::string& pg_wal) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(pg_wal + "/archive_status", ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& status = it->path();
    if (status.extension() != ".ready") continue;
    const std::string name = status.stem().string();
    if (isArchivableWalName(name) && !pushedAlready(spool, pg_wal, name)) names.push_back(name);
  }
  // History files first, as PostgreSQL's archiver takes them (a standby
  // of the new timeline needs them), then the order they were written.
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    const bool ha = a.size() > 8 && a.compare(8, 8, ".history") == 0, hb = b.size() > 8 && b.compare(8, 8, ".history") == 0;
    return ha != hb ? ha : a < b;
  });
  return names;
}

QueueState queueState(const Spool& spool, const std::string& pg_wal) {
  QueueState state;
  std::error_code ec;
  for (const auto& name : pendingWal(spool, pg_wal)) {
    state.bytes += fs::file_size(pg_wal + "/" + name, ec);
    ++state.files;
  }
  return state;
}

AsyncAnswer takeAsyncAnswer(const Spool& spool, const std::string& wal_path) {
  const std::string name = fs::path(wal_path).filename().string();
  std::error_code ec;
  const std::string ok = answerPath(spool, name, ".ok");
  if (fs::exists(ok, ec)) {
    // Kept until PostgreSQL marked the file done (the worker then drops
    // it): a worker looking meanwhile must not push it again.
    if (okStamp(readSmall(ok)) == stampOf(wal_path)) return {AsyncOutcome::kPushed, ""};
    fs::remove(ok, ec);  // about another file of that name
  }
  const std::string failed = answerPath(spool, name, ".error");
  if (fs::exists(failed, ec)) {
    AsyncAnswer answer{AsyncOutcome::kFailed, readSmall(failed)};
    fs::remove(failed, ec);
    return answer;
  }
  return {};
}

Status awaitAsyncPush(const Spool& spool, const std::string& wal_path, const Clock& clock,
                      std::chrono::milliseconds timeout, const std::function<void()>& ensure_worker) {
  const auto start = clock.monotonicNow();
  auto ensured = start - std::chrono::hours(1);
  for (;;) {
    const AsyncAnswer answer = takeAsyncAnswer(spool, wal_path);
    if (answer.outcome == AsyncOutcome::kPushed) return okStatus();
    if (answer.outcome == AsyncOutcome::kFailed) return makeError(ErrorCode::kUnavailable, answer.error);
    const auto now = clock.monotonicNow();
    if (now - start >= timeout) {
      return makeError(ErrorCode::kTimeout, "the archive-push worker did not push " +
                                                fs::path(wal_path).filename().string() + " within " +
                                                std::to_string(timeout.count() / 1000) + " s (see " + spool.dir +
                                                "/worker.log); PostgreSQL keeps it and retries");
    }
    if (now - ensured >= std::chrono::seconds(1)) {
      ensure_worker();
      ensured = now;
    }
    clock.sleepFor(std::chrono::milliseconds(5));
  }
}

bool pushWorkerRunning(const Spool& spool) {
  const std::string lock_path = spool.dir + "/worker.lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

namespace {

// Answers nobody will ask for: PostgreSQL calls archive_command only for a
// file marked ready, and marks it ready before the call.
void dropOrphanAnswers(const Spool& spool, const std::string& pg_wal) {
  std::error_code ec;
  for (fs::directory_iterator it(outDir(spool), ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& answer = it->path();
    if (answer.extension() != ".ok" && answer.extension() != ".error") continue;
    std::error_code gone;
    if (!fs::exists(pg_wal + "/archive_status/" + answer.stem().string() + ".ready", gone)) fs::remove(answer, gone);
  }
}

}  // namespace

int pushPending(const Spool& spool, const std::string& pg_wal, const std::vector<std::string>& names, int workers,
                const std::function<Result<PushResult>(const std::string& path)>& push, std::ostream& log) {
  std::error_code ec;
  fs::create_directories(outDir(spool), ec);
  std::mutex mutex;
  int failed = 0;
  (void)runParallel(workers, names.size(), [&](std::size_t i) {
    const std::string& name = names[i];
    const std::string path = pg_wal + "/" + name;
    std::error_code ready_ec;
    if (!fs::exists(pg_wal + "/archive_status/" + name + ".ready", ready_ec)) return okStatus();  // archived meanwhile
    const std::string stamp = stampOf(path);
    Result<PushResult> pushed = push(path);
    if (pushed.ok() && stampOf(path) != stamp) {
      pushed = makeError(ErrorCode::kConflict, path + " changed while it was pushed");
    }
    std::error_code remove_ec;
    if (pushed.ok()) {
      writeAnswer(answerPath(spool, name, ".ok"), stamp + "\n" + pushed->checksum + "\n");
      fs::remove(answerPath(spool, name, ".error"), remove_ec);
    } else {
      writeAnswer(answerPath(spool, name, ".error"), pushed.error().message);
    }
    std::lock_guard lock(mutex);
    if (pushed.ok()) {
      log << now() << " pushed " << name << (pushed->already_archived ? " (already archived)" : "") << "\n";
    } else {
      ++failed;
      log << now() << " failed " << name << ": " << pushed.error().message << "\n";
    }
    return okStatus();  // one failure does not hold the others back
  });
  log.flush();
  return failed;
}

Status runPushWorker(const Spool& spool, const std::string& pg_wal, int workers,
                     const std::function<Result<PushResult>(const std::string& path)>& push, const Clock& clock,
                     std::chrono::milliseconds idle, std::chrono::milliseconds retry, std::ostream& log) {
  std::error_code ec;
  fs::create_directories(outDir(spool), ec);
  const std::string lock_path = spool.dir + "/worker.lock";
  bool over_limit = false;
  bool failing = false;
  std::int64_t last_failure = 0;
  std::string metrics_written;
  for (;;) {
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return fileError("open", lock_path, errno);
    // A few tries: a call's pushWorkerRunning() holds the lock for an instant.
    bool locked = false;
    for (int attempt = 0; attempt < 10 && !(locked = ::flock(fd, LOCK_EX | LOCK_NB) == 0); ++attempt) {
      clock.sleepFor(std::chrono::milliseconds(5));
    }
    if (!locked) {
      ::close(fd);
      return okStatus();  // another worker pushes for this spool
    }
    auto idle_since = clock.monotonicNow();
    for (;;) {
      QueueState state = queueState(spool, pg_wal);
      state.failing = failing;
      state.last_failure = last_failure;
      const bool over = spool.queue_max_bytes > 0 && state.bytes > spool.queue_max_bytes;
      if (over != over_limit) {
        log << now() << (over ? " the backlog" : " the backlog is back under the limit:") << " " << state.files
            << " files, " << state.bytes << " bytes"
            << (over ? " passed archive_push_queue_max " + std::to_string(spool.queue_max_bytes) +
                           ": nothing is dropped, PostgreSQL keeps the WAL until it is pushed"
                     : "")
            << std::endl;
        over_limit = over;
      }
      if (std::string metrics = queueMetrics(state, spool); metrics != metrics_written) {
        if (writeFileAtomically(spool.dir + "/archive.prom", metrics, 0644).ok()) metrics_written = std::move(metrics);
      }
      dropOrphanAnswers(spool, pg_wal);
      if (state.files == 0) {
        if (clock.monotonicNow() - idle_since >= idle) break;
        clock.sleepFor(std::chrono::milliseconds(20));
        continue;
      }
      // The oldest first, a few rounds' worth at a time, so that newer
      // files marked ready meanwhile do not wait behind a long list.
      auto names = pendingWal(spool, pg_wal);
      names.resize(std::min(names.size(), static_cast<std::size_t>(std::max(1, workers) * 4)));
      failing = pushPending(spool, pg_wal, names, workers, push, log) > 0;
      if (failing) {
        last_failure = std::chrono::duration_cast<std::chrono::seconds>(clock.wallNow().time_since_epoch()).count();
        clock.sleepFor(retry);
      }
      idle_since = clock.monotonicNow();
    }
    ::close(fd);  // releases the lock
    // A file marked ready after the last look, whose call found the lock
    // still held: look once more now that the lock is free.
    if (pendingWal(spool, pg_wal).empty()) return okStatus();
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

std::string queueMetrics(const QueueState& state, const Spool& spool) {
  const bool full = spool.queue_max_bytes > 0 && state.bytes > spool.queue_max_bytes;
  return "# HELP pgtandem_archive_queue_bytes WAL ready in pg_wal and not yet pushed.\n"
         "# TYPE pgtandem_archive_queue_bytes gauge\n"
         "pgtandem_archive_queue_bytes " + std::to_string(state.bytes) + "\n" +
         "# HELP pgtandem_archive_queue_files WAL files ready in pg_wal and not yet pushed.\n"
         "# TYPE pgtandem_archive_queue_files gauge\n"
         "pgtandem_archive_queue_files " + std::to_string(state.files) + "\n" +
         "# HELP pgtandem_archive_queue_max_bytes archive_push_queue_max (0: none).\n"
         "# TYPE pgtandem_archive_queue_max_bytes gauge\n"
         "pgtandem_archive_queue_max_bytes " + std::to_string(spool.queue_max_bytes) + "\n" +
         "# HELP pgtandem_archive_queue_full Whether the backlog is over archive_push_queue_max (nothing is dropped).\n"
         "# TYPE pgtandem_archive_queue_full gauge\n"
         "pgtandem_archive_queue_full " + (full ? "1" : "0") + "\n" +
         "# HELP pgtandem_archive_push_failing 1 while the worker's last round of pushes had a failure (see worker.log).\n"
         "# TYPE pgtandem_archive_push_failing gauge\n"
         "pgtandem_archive_push_failing " + (state.failing ? "1" : "0") + "\n" +
         "# HELP pgtandem_archive_last_push_failure_timestamp_seconds When a push last failed (0: not since the worker started).\n"
         "# TYPE pgtandem_archive_last_push_failure_timestamp_seconds gauge\n"
         "pgtandem_archive_last_push_failure_timestamp_seconds " + std::to_string(state.last_failure) + "\n";
}

}  // namespace pgtandem::backup
