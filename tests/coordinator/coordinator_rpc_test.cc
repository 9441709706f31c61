// The dc-coordinator's gRPC port with TLS and client certificates: only a
// client holding a certificate from the configured CA reaches the service.
// The request names an unknown DC, so the service answers at once without
// touching any DCS: an answer proves the call got through.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "coordinator/rpc/coordinator_rpc.h"
#include "coordinator/site_peers.h"
#include "coordinator/sites.h"
#include "tests/support/ports.h"

namespace pgtandem::coordinator {
namespace {

using namespace std::chrono_literals;

class CoordinatorRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::makeTempDir("rpc");
    // A CA; the daemon's certificate for 127.0.0.1; a client certificate
    // from that CA and one from another CA.
    const std::string script =
        "set -e; cd " + dir_ + ";"
        "for ca in ca other; do openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout $ca.key -out $ca.crt -days 2 -subj /CN=$ca 2>/dev/null; done;"
        "printf 'subjectAltName=IP:127.0.0.1' > san.ext;"
        "issue() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $1.key -out $1.csr "
        "-subj /CN=$1 2>/dev/null; openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -out $1.crt "
        "-days 2 $3 2>/dev/null; };"
        "issue server ca '-extfile san.ext'; issue operator ca ''; issue stranger other '';";
    ASSERT_EQ(std::system(script.c_str()), 0);
    address_ = "127.0.0.1:" + std::to_string(testing::freeLoopbackPort());
  }
  void TearDown() override {
    if (server_) server_->stop();
    testing::removeTree(dir_);
  }

  SitesConfig sites(const std::string& coordinator_block) {
    const std::string yaml = "sites:\n  dc1: {etcd3: {hosts: 127.0.0.1:1}, scope: a}\n"
                             "  dc2: {etcd3: {hosts: 127.0.0.1:2}, scope: b}\n"
                             "coordinator:\n  listen: " + address_ + "\n" + coordinator_block;
    auto parsed = parseSites(yaml, "sites.yml");
    EXPECT_TRUE(parsed.ok()) << parsed.error().message;
    return parsed.ok() ? *parsed : SitesConfig{};
  }

  void startServer(const SitesConfig& config) {
    server_sites_ = config;
    auto started = CoordinatorServer::start(address_, server_sites_, noDcs(), *peers_, RealClock::instance());
    ASSERT_TRUE(started.ok()) << started.error().message;
    server_ = std::move(*started);
  }

  static DcsFactory noDcs() {
    return [](const Site& site) -> Result<std::unique_ptr<dcs::Dcs>> {
      return makeError(ErrorCode::kUnavailable, "no DCS for " + site.name + " in this test");
    };
  }

  // The outcome of `switchover --to nowhere` asked with `client`'s TLS.
  std::optional<Result<std::string>> ask(const SitesConfig& client) {
    return runRemote(address_, client.tls, OperationRequest{"switchover", "nowhere", {}}, {}, 3000ms);
  }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
  std::string address_;
  std::unique_ptr<SitePeers> peers_ = makeRealSitePeers();
  SitesConfig server_sites_;
  std::unique_ptr<CoordinatorServer> server_;
};

TEST_F(CoordinatorRpcTest, MutualTlsAdmitsOnlyClientsWithTheCasCertificate) {
  startServer(sites("  certfile: " + file("server.crt") + "\n  keyfile: " + file("server.key") + "\n  cafile: " +
                    file("ca.crt") + "\n"));

  auto operator_ = ask(sites("  cafile: " + file("ca.crt") + "\n  client_certfile: " + file("operator.crt") +
                             "\n  client_keyfile: " + file("operator.key") + "\n"));
  ASSERT_TRUE(operator_.has_value()) << "the operator's certificate was refused";
  ASSERT_FALSE(operator_->ok());
  EXPECT_NE(operator_->error().message.find("nowhere"), std::string::npos) << operator_->error().message;

  EXPECT_FALSE(ask(sites("")).has_value()) << "a plain-text client got through";
  EXPECT_FALSE(ask(sites("  cafile: " + file("ca.crt") + "\n")).has_value()) << "a client without a certificate got through";
  EXPECT_FALSE(ask(sites("  cafile: " + file("ca.crt") + "\n  client_certfile: " + file("stranger.crt") +
                         "\n  client_keyfile: " + file("stranger.key") + "\n"))
                   .has_value())
      << "a certificate from another CA got through";
}

TEST_F(CoordinatorRpcTest, ServerTlsWithoutClientCertificates) {
  startServer(sites("  certfile: " + file("server.crt") + "\n  keyfile: " + file("server.key") + "\n"));
  auto answer = ask(sites("  cafile: " + file("ca.crt") + "\n"));
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->ok());
  EXPECT_FALSE(ask(sites("  cafile: " + file("other.crt") + "\n")).has_value()) << "the daemon's certificate was not checked";
}

TEST_F(CoordinatorRpcTest, UnreadableFilesAndHalfPairsAreClearErrors) {
  auto started = CoordinatorServer::start(address_, sites("  certfile: /nonexistent.crt\n  keyfile: /nonexistent.key\n"),
                                          noDcs(), *peers_, RealClock::instance());
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().message, "cannot read coordinator.keyfile file /nonexistent.key");

  auto answer = ask(sites("  cafile: /nonexistent-ca.crt\n"));
  ASSERT_TRUE(answer.has_value());
  ASSERT_FALSE(answer->ok());
  EXPECT_EQ(answer->error().message, "cannot read coordinator.cafile file /nonexistent-ca.crt");

  const std::string yaml = "sites:\n  dc1: {etcd3: {hosts: 127.0.0.1:1}, scope: a}\n"
                           "  dc2: {etcd3: {hosts: 127.0.0.1:2}, scope: b}\n"
                           "coordinator:\n  listen: 127.0.0.1:7000\n  certfile: a.crt\n  client_certfile: c.crt\n"
                           "  client_keyfile: c.key\n";
  auto parsed = parseSites(yaml, "sites.yml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("sites.yml:6: coordinator.keyfile: is required with coordinator.certfile"),
            std::string::npos)
      << parsed.error().message;
  EXPECT_NE(parsed.error().message.find("sites.yml:7: coordinator.cafile: is required with client_certfile"),
            std::string::npos)
      << parsed.error().message;
}

}  // namespace
}  // namespace pgtandem::coordinator
