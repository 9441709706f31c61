#pragma once
// Work spread over a pool of threads (dc-backup's process_max).

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::backup {

// Calls `work(i)` for every i below `count` on `workers` threads. After the
// first error no new item starts; that error is returned.
inline Status runParallel(int workers, std::size_t count, const std::function<Status(std::size_t)>& work) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  Status first;
  auto loop = [&] {
    for (std::size_t i = next++; i < count && !failed; i = next++) {
      Status done = work(i);
      if (done.ok()) continue;
      std::lock_guard lock(mutex);
      if (!failed.exchange(true)) first = done;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < workers && static_cast<std::size_t>(t) < count; ++t) threads.emplace_back(loop);
  loop();
  for (auto& thread : threads) thread.join();
  return first;
}

}  // namespace pgtandem::backup
