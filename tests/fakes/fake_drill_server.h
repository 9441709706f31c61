#pragma once
// The restore drill's PostgreSQL, scripted: it records what it was asked and
// what the scratch directory held when it started.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backup/drill.h"

namespace pgtandem::testing {

class FakeDrillServer : public backup::DrillServer {
 public:
  Status start(const std::string& dir, std::chrono::seconds) override {
    ++starts;
    std::ifstream conf(dir + "/postgresql.auto.conf");
    std::stringstream text;
    text << conf.rdbuf();
    settings_at_start = text.str();
    had_control = std::filesystem::exists(dir + "/global/pg_control");
    if (fail_start) return makeError(ErrorCode::kUnavailable, "the server would not start (the test)");
    return okStatus();
  }
  Result<std::string> query(const std::string&, const std::string& sql) override {
    last_query = sql;
    return std::string("42");
  }
  Status stop(const std::string&) override {
    ++stops;
    return okStatus();
  }

  bool fail_start = false;
  int starts = 0, stops = 0;
  bool had_control = false;
  std::string settings_at_start, last_query;
};

}  // namespace pgtandem::testing
