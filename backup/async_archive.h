#pragma once
// Asynchronous archive-push (archive_async: true): PostgreSQL's
// archive_command copies the WAL file into a local spool and returns; a
// worker (one per spool, `dc-backup archive-push-worker`) pushes the queue
// to the repository with process_max files at a time, oldest first.
//
//   <spool>/queue/<file>        waiting to be pushed (written whole: temp, fsync, rename)
//   <spool>/worker.lock         flock()ed by the running worker
//   <spool>/worker.log          what the worker did, failures included
//   <spool>/archive.prom        node_exporter textfile metrics: queue bytes and files,
//                               the limit, whether a push was refused for it
//
// The queue has a limit (archive_push_queue_max). Unlike pgBackRest's
// archive-push-queue-max, which drops WAL and reports it archived, a full
// queue makes the push fail: PostgreSQL keeps the file and retries, its
// pg_wal grows, and the metric and a log line say why.

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
};

QueueState queueState(const Spool& spool);

// Copies `wal_path` into the queue. kUnavailable (and nothing queued) when
// the queue would pass its limit; the same file queued again is success.
Status queueWal(const Spool& spool, const std::string& wal_path);

// Pushes everything queued now with `workers` threads; a pushed file leaves
// the queue, a failed one stays (logged to `log`). Returns how many failed.
int drainQueue(const Spool& spool, int workers, const std::function<Result<PushResult>(const std::string& path)>& push,
               std::ostream& log);

// The worker: holds the spool's lock (returns at once when another worker
// holds it), drains until the queue stayed empty for `idle`, waiting
// `retry` after a failed round.
Status runPushWorker(const Spool& spool, int workers,
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
std::string queueMetrics(const QueueState& state, const Spool& spool, bool refused_full);
Status writeQueueMetrics(const Spool& spool, bool refused_full);

}  // namespace pgtandem::backup
