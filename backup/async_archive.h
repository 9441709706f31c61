#pragma once
// Asynchronous archive-push (archive_async: true), as pgBackRest's
// archive-async does it: a worker (one per spool, `dc-backup
// archive-push-worker`) reads the WAL PostgreSQL has marked ready straight
// from pg_wal and pushes process_max files at a time, oldest first, ahead of
// the archiver; the archive_command's call only waits for the worker's word
// on its own file. No segment is copied into the spool, so the archiver's
// sequential path writes nothing big and fsyncs nothing.
//
//   <spool>/out/<file>.ok      pushed: the file's stamp (device, inode, size,
//                              mtime) and checksum; dropped once PostgreSQL
//                              marked the file done
//   <spool>/out/<file>.error   the worker's failure, handed to the call
//   <spool>/worker.lock        flock()ed by the running worker
//   <spool>/worker.log         what the worker did, failures included
//   <spool>/archive.prom       node_exporter textfile metrics: the backlog's
//                              bytes and files, the limit, whether it is passed
//
// A segment is marked done only after the worker pushed it, so PostgreSQL
// never recycles a file the worker is still reading. The backlog (WAL ready
// and not yet pushed) has a limit, archive_push_queue_max. pgBackRest drops
// WAL past its archive-push-queue-max and reports it archived; here nothing
// is ever reported archived that is not in the repository: past the limit
// the metric and a log line say so, pushes that fail keep failing, and
// PostgreSQL keeps the WAL.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backup/repository.h"
#include "backup/wal_archive.h"
#include "common/util/clock.h"

namespace pgtandem::backup {

struct Spool {
  std::string dir;
  std::uint64_t queue_max_bytes = 0;  // 0: no limit
};

struct QueueState {
  std::uint64_t bytes = 0;
  int files = 0;
  // The worker's pushes: whether the last round had a failure, and when
  // the last failure was (epoch seconds, 0: none since the worker started).
  bool failing = false;
  std::int64_t last_failure = 0;
};

// WAL files PostgreSQL marked ready in `pg_wal` (archive_status/*.ready)
// that the worker has not pushed yet, oldest first (history files first).
std::vector<std::string> pendingWal(const Spool& spool, const std::string& pg_wal);
QueueState queueState(const Spool& spool, const std::string& pg_wal);

// The archive_command's side. kPushed once the worker pushed this very
// file (its stamp matches: a recycled segment of the same name does not);
// kFailed with the worker's error; kPending otherwise. A failure is
// consumed, so PostgreSQL's retry waits for the worker's next attempt.
enum class AsyncOutcome { kPushed, kFailed, kPending };
struct AsyncAnswer {
  AsyncOutcome outcome = AsyncOutcome::kPending;
  std::string error;
};
AsyncAnswer takeAsyncAnswer(const Spool& spool, const std::string& wal_path);

// Waits for the worker's answer on `wal_path`, polling; calls
// `ensure_worker` at once and every second while waiting, so a worker that
// died is started again. kTimeout after `timeout` (PostgreSQL retries).
Status awaitAsyncPush(const Spool& spool, const std::string& wal_path, const Clock& clock,
                      std::chrono::milliseconds timeout, const std::function<void()>& ensure_worker);

// Whether a worker holds the spool's lock.
bool pushWorkerRunning(const Spool& spool);

// Pushes `names` (in `pg_wal`) with `workers` threads and writes each one's
// answer. Returns how many failed.
int pushPending(const Spool& spool, const std::string& pg_wal, const std::vector<std::string>& names, int workers,
                const std::function<Result<PushResult>(const std::string& path)>& push, std::ostream& log);

// The worker: holds the spool's lock (returns at once when another worker
// holds it), pushes until nothing was pending for `idle`, waiting `retry`
// after a round with a failure.
Status runPushWorker(const Spool& spool, const std::string& pg_wal, int workers,
                     const std::function<Result<PushResult>(const std::string& path)>& push, const Clock& clock,
                     std::chrono::milliseconds idle, std::chrono::milliseconds retry, std::ostream& log);

// Asynchronous archive-get: restore_command is served from <spool>/in when
// the file was fetched ahead; after each call a prefetcher (one per spool,
// `dc-backup archive-get-worker`) fetches the next `depth` segments of the
// same timeline, each checked against its checksum before it is stored.

// The `depth` segment names after `file_name` on its timeline; none for a
// file that is not a segment.
std::vector<std::string> segmentsAfter(const std::string& file_name, int depth, std::uint64_t segment_size);

// Moves a prefetched `file_name` to `dest`; kNotFound when it was not
// fetched ahead. Prefetched files before it are dropped (replay is past them).
Status takePrefetched(const Spool& spool, const std::string& file_name, const std::string& dest);

// The prefetcher: under <spool>/get.lock, fetches the segments after
// `file_name` that are archived and not yet in <spool>/in. Returns how many
// it fetched.
Result<int> prefetchAfter(const Spool& spool, Repository& repo, const std::string& stanza, const std::string& file_name,
                          int depth, std::uint64_t segment_size);

// archive.prom's text.
std::string queueMetrics(const QueueState& state, const Spool& spool);

}  // namespace pgtandem::backup
