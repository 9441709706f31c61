// libFuzzer target: arbitrary bytes go through the server's own request
// parser and, when they form a request, through the REST router over an
// in-memory cluster. Any crash, sanitizer report or status outside 4xx/5xx
// for garbage is a bug. Run bounded in CI (scripts/test.sh).

#include <cstdint>
#include <cstdlib>
#include <variant>

#include "common/dcs/memory_dcs.h"
#include "dc-agent/rest/http_server.h"
#include "dc-agent/rest/rest_api.h"

namespace {

using namespace pgtandem;

struct Fixture {
  SimulatedClock clock;
  config::Config config;
  std::shared_ptr<dcs::MemoryStore> store = dcs::MemoryStore::create(clock);
  std::unique_ptr<dcs::Dcs> dcs = store->connect();
  agent::StatusBoard board;
  // Answers operations at once, as if the HA loop were instantaneous.
  agent::OperationMailbox mailbox{[this] {
    for (auto& pending : mailbox.takeAll()) pending.reply.set_value(std::string("done"));
  }};
  std::unique_ptr<rest::RestApi> api;
  rest::HttpServerOptions limits;
  int runs = 0;

  Fixture() {
    config.scope = "batman";
    config.name = "pg1";
    const dcs::ClusterPaths paths(config.namespace_, config.scope);
    (void)dcs->put(paths.leader(), "pg1");
    for (const char* name : {"pg1", "pg2"}) {
      dcs::MemberInfo m;
      m.name = name;
      m.conn_url = "postgres://127.0.0.1:5432/postgres";
      m.state = "running";
      (void)dcs->put(paths.member(name), dcs::toJson(m));
    }
    (void)dcs->put(paths.config(), R"({"ttl":30,"loop_wait":10,"retry_timeout":10})");
    auto created = rest::RestApi::create(config, *dcs, board, mailbox, clock);
    if (!created.ok()) std::abort();
    api = std::move(*created);
    api->setSwitchoverWait(std::chrono::milliseconds(0));
    limits.body_limit = 64 * 1024;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  auto parsed = rest::parseHttpRequest(std::string_view(reinterpret_cast<const char*>(data), size), f.limits);
  int status = 0;
  if (auto* request = std::get_if<rest::HttpRequest>(&parsed)) {
    status = f.api->handle(*request).status;
  } else {
    status = std::get<rest::HttpResponse>(parsed).status;
    if (status < 400 || status > 499) std::abort();  // a rejected request is always a 4xx
  }
  if (status < 200 || status > 599) std::abort();
  if (++f.runs % 1000 == 0) f.store->compact(f.store->currentRevision());
  return 0;
}
