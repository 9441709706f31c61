#pragma once
// The single-writer probe shared by the fault tests: every node's PostgreSQL
// asked directly, every `period`, to take a write (a row in `table`), each
// acknowledged write recorded with its node and when the client got the
// answer. Two nodes that both acknowledged writes within one window are two
// writable primaries; writableOverlaps() names them with their times.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/pg/pg_session.h"

namespace pgtandem::testing {

class WriteProbe {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct Target {
    std::string name, host;
    int port = 0;
  };
  struct Ack {
    SteadyTime at;
    std::string node;
  };
  // Two nodes writable at once: `a` acknowledged at a_at, `b` at b_at, less
  // than one window apart.
  struct Overlap {
    std::string a, b;
    SteadyTime a_at, b_at;
  };

  explicit WriteProbe(std::string table, std::chrono::milliseconds period = std::chrono::milliseconds(20))
      : table_(std::move(table)), period_(period) {}
  ~WriteProbe() { stop(); }

  void start(const std::vector<Target>& targets) {
    stop_ = false;
    for (const auto& t : targets) threads_.emplace_back([this, t] { probe(t); });
  }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::vector<Ack> acks() {
    std::lock_guard lock(mutex_);
    return acks_;
  }
  // The last acknowledged write of `node` (nullopt: none).
  std::optional<SteadyTime> lastAck(const std::string& node) {
    std::optional<SteadyTime> last;
    for (const auto& a : acks()) {
      if (a.node == node) last = std::max(last.value_or(a.at), a.at);
    }
    return last;
  }

  // Every pair of acknowledgements from different nodes closer than
  // `window`: the instants with two writable primaries. A writable node
  // acknowledges every period or so, so a window of a few periods catches
  // any overlap of two writable spans, and stays well under the shortest
  // real handover (a demotion, then a promotion).
  std::vector<Overlap> writableOverlaps(std::chrono::milliseconds window) {
    auto all = acks();
    std::sort(all.begin(), all.end(), [](const Ack& x, const Ack& y) { return x.at < y.at; });
    std::vector<Overlap> out;
    std::map<std::string, SteadyTime> last_of;
    for (const auto& ack : all) {
      for (const auto& [node, at] : last_of) {
        if (node != ack.node && ack.at - at < window) out.push_back({node, ack.node, at, ack.at});
      }
      last_of[ack.node] = ack.at;
    }
    return out;
  }

  static std::chrono::milliseconds::rep ms(SteadyTime from, SteadyTime to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
  }

 private:
  void probe(const Target& t) {
    const std::string conninfo = pg::conninfo({{"host", t.host}, {"port", std::to_string(t.port)}, {"user", "postgres"},
                                               {"dbname", "postgres"}, {"connect_timeout", "1"},
                                               {"options", "-c statement_timeout=1000"}});
    std::unique_ptr<pg::PgSession> session;
    // Bounded: at most 60,000 rounds (20 minutes at 20 ms).
    for (int round = 0; round < 60'000 && !stop_; ++round) {
      if (!session) {
        auto connected = pg::PgSession::connect(conninfo);
        if (connected.ok()) session = std::move(*connected);
      }
      if (session) {
        if (session->execute("INSERT INTO " + table_ + " VALUES ('" + t.name + "')").ok()) {
          const SteadyTime now = std::chrono::steady_clock::now();
          std::lock_guard lock(mutex_);
          acks_.push_back({now, t.name});
        } else {
          session.reset();  // read-only, or gone: ask again with a fresh session
          std::this_thread::sleep_for(std::chrono::milliseconds(30));
        }
      }
      std::this_thread::sleep_for(period_);
    }
  }

  const std::string table_;
  const std::chrono::milliseconds period_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::vector<Ack> acks_;
};

}  // namespace pgtandem::testing
