// What only the etcd implementation has to prove, against real etcd 3.4:
// endpoint failover, resuming watches across an etcd restart, failing fast on
// a member without a raft leader, authentication with token renewal, and TLS
// with client certificates.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/dcs/etcd_dcs.h"
#include "common/dcs/etcd_status.h"
#include "tests/common/dcs/dcs_harness.h"
#include "tests/support/etcd_process.h"
#include "tests/support/ports.h"

namespace pgtandem::testing {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<dcs::EtcdDcs> connect(dcs::EtcdOptions options) {
  auto created = dcs::EtcdDcs::create(std::move(options));
  EXPECT_TRUE(created.ok()) << created.error().toString();
  return created.ok() ? std::move(*created) : nullptr;
}

dcs::EtcdOptions optionsFor(const std::string& url) {
  dcs::EtcdOptions options;
  options.endpoints = {url};
  return options;
}

CommandResult sh(const std::string& script) {
  PosixProcessRunner runner;
  auto result = runner.run({{"/bin/bash", "-ec", script}, {}, 60s, {}});
  EXPECT_TRUE(result.ok());
  return result.ok() ? *result : CommandResult{};
}

// What each gRPC status of an etcd answer means (grpc::StatusCode values).
TEST(EtcdStatus, EachCodeMeansOneThing) {
  struct Row {
    int code;
    std::string text;
    bool retryable;
    ErrorCode error;
  };
  const std::vector<Row> rows = {
      {14, "connection refused", true, ErrorCode::kUnavailable},
      {4, "deadline exceeded", true, ErrorCode::kTimeout},
      // etcd's "leader changed" / "request timed out" can come as UNKNOWN:
      // another member is tried, and it never means the lease is gone.
      {2, "etcdserver: leader changed", true, ErrorCode::kUnavailable},
      {5, "etcdserver: requested lease not found", false, ErrorCode::kLeaseLost},
      {5, "key not found", false, ErrorCode::kNotFound},
      {11, "etcdserver: mvcc: required revision has been compacted", false, ErrorCode::kCompacted},
      {16, "invalid auth token", false, ErrorCode::kUnauthenticated},
      {3, "etcdserver: authentication failed, invalid user ID or password", false, ErrorCode::kUnauthenticated},
      {3, "etcdserver: key is not provided", false, ErrorCode::kInvalidArgument},
      {7, "etcdserver: permission denied", false, ErrorCode::kPermissionDenied},
      {13, "internal", false, ErrorCode::kInternal},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(dcs::etcdRetryable(r.code), r.retryable) << r.text;
    const Error e = dcs::etcdError(r.code, r.text, "lease keepalive", "10.0.0.1:2379");
    EXPECT_EQ(e.code, r.error) << r.text;
    EXPECT_EQ(e.message, "etcd lease keepalive at 10.0.0.1:2379: " + r.text);
  }
}

TEST(EtcdEndpoints, AreNormalizedAndValidated) {
  bool tls = false;
  auto ok = dcs::normalizeEtcdEndpoints({"http://10.0.0.1:2379/", "etcd2", "[::1]:2380"}, &tls);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, (std::vector<std::string>{"10.0.0.1:2379", "etcd2:2379", "[::1]:2380"}));
  EXPECT_FALSE(tls);
  ASSERT_TRUE(dcs::normalizeEtcdEndpoints({"https://h:1"}, &tls).ok());
  EXPECT_TRUE(tls);
  auto bad = dcs::normalizeEtcdEndpoints({"h:99999"}, &tls);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("h:99999"), std::string::npos);
  EXPECT_FALSE(dcs::normalizeEtcdEndpoints({"unix://x"}, &tls).ok());
  EXPECT_FALSE(dcs::normalizeEtcdEndpoints({}, &tls).ok());
}

TEST(EtcdDcs, FailsOverToALiveEndpoint) {
  auto etcd = EtcdProcess::startSingle({});
  ASSERT_TRUE(etcd && waitForEtcd(etcd->url(), 20));
  dcs::EtcdOptions options;
  options.endpoints = {"127.0.0.1:" + std::to_string(freeLoopbackPort()), etcd->url()};
  auto client = connect(options);
  for (int i = 0; i < 3; ++i) {
    auto put = client->put("/k", std::to_string(i), 0);
    ASSERT_TRUE(put.ok()) << put.error().toString();
  }
  EXPECT_EQ(client->get("/k")->kvs.at(0).value, "2");
}

TEST(EtcdDcs, NoReachableEndpointGivesUnavailableWithinTheDeadline) {
  dcs::EtcdOptions options;
  options.endpoints = {"127.0.0.1:" + std::to_string(freeLoopbackPort())};
  options.request_timeout = 1s;
  auto client = connect(options);
  const auto start = std::chrono::steady_clock::now();
  auto got = client->get("/k");
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.error().code == ErrorCode::kUnavailable || got.error().code == ErrorCode::kTimeout)
      << got.error().toString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// A black hole: a port that completes TCP handshakes (the kernel does,
// from the backlog) and never answers, like an etcd behind a dropped link.
class BlackHole {
 public:
  BlackHole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, 16) != 0) return;
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~BlackHole() { ::close(fd_); }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// The HA loop bounds its calls by the lease deadline (dcs::CallDeadline):
// a call never outlives the scope's deadline, whatever the request timeout.
TEST(EtcdDcs, ACallDeadlineCutsACallToABlackHoleShort) {
  BlackHole hole;
  dcs::EtcdOptions options;
  options.endpoints = {hole.endpoint()};
  options.request_timeout = 20s;
  auto client = connect(options);
  {
    dcs::CallDeadline bounded(std::chrono::steady_clock::now() + 300ms);
    const auto start = std::chrono::steady_clock::now();
    auto got = client->get("/k");
    ASSERT_FALSE(got.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "the call outlived its deadline";
    // Nested scopes: the earlier deadline wins, and the outer one comes back.
    {
      dcs::CallDeadline later(std::chrono::steady_clock::now() + 1h);
      EXPECT_LE(*dcs::CallDeadline::current(), start + 300ms);
    }
    EXPECT_LE(*dcs::CallDeadline::current(), start + 300ms);
  }
  EXPECT_FALSE(dcs::CallDeadline::current()) << "the scope is gone";
  {
    // A deadline already past: no attempt at all.
    dcs::CallDeadline passed(std::chrono::steady_clock::now() - 1ms);
    auto got = client->keepAlive(42);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, ErrorCode::kTimeout) << got.error().toString();
  }
  // retry_timeout changed through /config reaches the client.
  client->setRequestTimeout(300ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(client->get("/k").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "the new request timeout was not used";
}

TEST(EtcdDcs, WatchResumesAfterEtcdRestart) {
  auto etcd = EtcdProcess::startSingle({});
  ASSERT_TRUE(etcd && waitForEtcd(etcd->url(), 20));
  auto client = connect(optionsFor(etcd->url()));
  auto rev = client->put("/s/a", "before", 0);
  ASSERT_TRUE(rev.ok());
  WatchRecorder recorder;
  auto watch = client->watchPrefix("/s/", *rev, recorder.callback());
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(recorder.waitFor([](const auto& u) { return eventCount(u) >= 1; }, 10s));

  etcd->kill();
  ASSERT_TRUE(etcd->start());
  ASSERT_TRUE(waitForEtcd(etcd->url(), 20));
  bool written = false;
  std::string last_error;
  for (int i = 0; i < 100 && !written; ++i) {
    auto put = client->put("/s/a", "after", 0);
    written = put.ok();
    if (!written) {
      last_error = put.error().toString();
      std::this_thread::sleep_for(100ms);
    }
  }
  {
    auto fresh = connect(optionsFor(etcd->url()));
    auto put = fresh->put("/s/b", "fresh", 0);
    EXPECT_TRUE(put.ok()) << "fresh client: " << (put.ok() ? "" : put.error().toString());
  }
  ASSERT_TRUE(written) << last_error;
  ASSERT_TRUE(recorder.waitFor(
      [](const auto& updates) {
        for (const auto& u : updates)
          for (const auto& e : u.events)
            if (e.kv.value == "after") return true;
        return false;
      },
      15s));
  // Nothing was delivered twice.
  auto events = recorder.events();
  for (std::size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].kv.mod_revision, events[i - 1].kv.mod_revision);
}

TEST(EtcdDcs, MemberWithoutLeaderFailsFastAndClientUsesAnother) {
  auto members = EtcdProcess::startCluster(3);
  ASSERT_EQ(members.size(), 3u);
  for (auto& m : members) ASSERT_TRUE(waitForEtcd(m->url(), 30));

  dcs::EtcdOptions options;
  options.endpoints = {members[0]->url(), members[1]->url()};
  options.request_timeout = 10s;
  auto client = connect(options);
  ASSERT_TRUE(client->put("/k", "1", 0).ok());

  // Members 2 and 3 die: member 1 is alive but has no quorum and no leader.
  members[1]->kill();
  members[2]->kill();
  std::this_thread::sleep_for(1500ms);  // let member 1 notice (election timeout 500 ms)
  dcs::EtcdOptions lonely;
  lonely.endpoints = {members[0]->url()};
  lonely.request_timeout = 10s;
  auto lonely_client = connect(lonely);
  const auto start = std::chrono::steady_clock::now();
  auto got = lonely_client->get("/k");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().toString();
  // "fails fast": well before the 10 s deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);

  // Quorum returns with member 2; the two-endpoint client works again.
  ASSERT_TRUE(members[1]->start());
  bool ok = false;
  for (int i = 0; i < 100 && !ok; ++i) {
    ok = client->put("/k", "2", 0).ok();
    if (!ok) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(ok);
}

TEST(EtcdDcs, AuthenticatesAndRenewsAnExpiredToken) {
  EtcdProcess::Options options;
  options.extra_args = {"--auth-token-ttl", "1"};
  auto etcd = EtcdProcess::startSingle(options);
  ASSERT_TRUE(etcd && waitForEtcd(etcd->url(), 20));
  auto setup = sh("ETCDCTL_API=3 etcdctl --endpoints=" + etcd->url() +
                  " user add root:s3cret >/dev/null && ETCDCTL_API=3 etcdctl --endpoints=" + etcd->url() +
                  " auth enable");
  ASSERT_EQ(setup.exit_code, 0) << setup.output;

  auto anonymous = connect(optionsFor(etcd->url()));
  auto denied = anonymous->put("/k", "v", 0);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kUnauthenticated) << denied.error().toString();

  dcs::EtcdOptions wrong = optionsFor(etcd->url());
  wrong.username = "root";
  wrong.password = "wrong";
  auto wrong_client = connect(wrong);
  auto refused = wrong_client->put("/k", "v", 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(refused.error().message.find("wrong"), std::string::npos) << "the password must not be in messages";

  dcs::EtcdOptions right = optionsFor(etcd->url());
  right.username = "root";
  right.password = "s3cret";
  auto client = connect(right);
  ASSERT_TRUE(client->put("/k", "v", 0).ok());
  std::this_thread::sleep_for(3s);  // the simple token (TTL 1 s) expires
  auto again = client->put("/k", "w", 0);
  ASSERT_TRUE(again.ok()) << again.error().toString();
  EXPECT_EQ(client->get("/k")->kvs.at(0).value, "w");

  // Leases too (etcd 3.4.42 and 3.5.28 require authentication for
  // keepalives, as Patroni 4.1.1 notes): a keepalive after the token
  // expired authenticates again and keeps the key.
  auto lease = client->grantLease(5s);
  ASSERT_TRUE(lease.ok()) << lease.error().toString();
  ASSERT_TRUE(client->put("/leased", "v", lease->id).ok());
  std::this_thread::sleep_for(3s);
  auto kept = client->keepAlive(lease->id);
  ASSERT_TRUE(kept.ok()) << kept.error().toString();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(client->get("/leased")->kvs.size(), 1u) << "the keepalive must have reached etcd";
}

TEST(EtcdDcs, TlsWithClientCertificates) {
  const std::string dir = makeTempDir("tls");
  auto certs = sh("cd " + dir + R"(
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -subj /CN=test-ca -days 2 2>/dev/null
    for who in server client; do
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > $who.ext
      openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $who.crt -days 2 -extfile $who.ext 2>/dev/null
    done)");
  ASSERT_EQ(certs.exit_code, 0) << certs.output;

  EtcdProcess::Options options;
  options.https = true;
  options.extra_args = {"--cert-file", dir + "/server.crt", "--key-file", dir + "/server.key",
                        "--trusted-ca-file", dir + "/ca.crt", "--client-cert-auth"};
  auto etcd = EtcdProcess::startSingle(options);
  ASSERT_TRUE(etcd);
  ASSERT_TRUE(waitForEtcd(etcd->url(), 20,
                          {"--cacert", dir + "/ca.crt", "--cert", dir + "/client.crt", "--key", dir + "/client.key"}));

  dcs::EtcdOptions tls = optionsFor(etcd->url());
  tls.ca_file = dir + "/ca.crt";
  tls.cert_file = dir + "/client.crt";
  tls.key_file = dir + "/client.key";
  auto client = connect(tls);
  auto put = client->put("/k", "secure", 0);
  ASSERT_TRUE(put.ok()) << put.error().toString();

  dcs::EtcdOptions no_cert = optionsFor(etcd->url());
  no_cert.ca_file = dir + "/ca.crt";
  no_cert.request_timeout = 2s;
  auto refused = connect(no_cert)->get("/k");
  EXPECT_FALSE(refused.ok());

  dcs::EtcdOptions missing = optionsFor(etcd->url());
  missing.ca_file = dir + "/nope.crt";
  auto bad = dcs::EtcdDcs::create(missing);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("nope.crt"), std::string::npos);
  removeTree(dir);
}

}  // namespace
}  // namespace pgtandem::testing
