#pragma once
// The fault lab's network: hosts are network namespaces, each with its own
// address on its DC's bridge (a veth pair); the DC bridges live in a router
// namespace that routes between them, so a DC link can be cut there. Faults:
// partition two hosts (both ways or one way) with nftables inside the host
// namespaces, cut the DC1-DC2 link in the router, heal. Everything the lab
// makes is named after this process's PID and removed by the destructor.
//
// Addresses: DC d (1, 2, ...) is 10.77.d.0/24, its router side 10.77.d.254,
// its hosts 10.77.d.1, .2, ... in the order added; the test process, when
// linked in, 10.77.0.1.
//
// Processes run in a host with its argv prefix (`ip netns exec NS`);
// sockets of the test itself are opened inside a host with socketIn().
// Needs root, iproute2 and nftables (scripts/install-deps.sh). The kernel
// here has no sch_netem: the DC link is made lossy with nftables, and WAN
// delay goes through a delaying proxy (tests/support/tcp_proxy.h).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::testing {

struct LabHost {
  std::string name;       // as the test calls it ("pg1")
  std::string netns;      // the namespace ("pgt1234-pg1")
  std::string address;    // 10.77.d.n
  int dc = 0;
};

class NetnsLab {
 public:
  // Whether this machine can run the lab (root, `ip netns`, `nft`): why not, or "".
  static std::string unavailableReason();

  NetnsLab();
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // Creates the router and DC bridges on first use.
  Result<LabHost> addHost(int dc, const std::string& name);
  const LabHost& host(const std::string& name) const;

  // A link from the test's own namespace to the router (10.77.0.1, route
  // 10.77.0.0/16), so that the test's clients (libpq, HTTP) reach every
  // host's address as an outside client would. Host partitions do not touch
  // it; the DC cut does not either. Gone with the router.
  Status reachFromTestProcess();

  // The prefix that runs a command inside `host`: {"ip", "netns", "exec", NS}.
  std::vector<std::string> execPrefix(const std::string& host) const;
  // A socket (socket(2) arguments) created inside the host's namespace, or -1.
  int socketIn(const std::string& host, int domain, int type) const;

  // Packets between two hosts are dropped: both ways, or only from `from` to `to`.
  Status partition(const std::string& from, const std::string& to, bool both_ways = true);
  Status heal(const std::string& from, const std::string& to);
  // Connections that `user`'s processes in `host` open to `port` (any
  // address, the host's own included) are dropped: e.g. the agent cut from
  // every etcd member while etcd's peers, PostgreSQL and clients go on.
  // unblockConnections lifts every such rule of the host.
  Status blockConnections(const std::string& host, int port, const std::string& user);
  Status unblockConnections(const std::string& host);
  // The DC1-DC2 link: every packet between the DCs dropped in the router.
  Status cutDcs();
  // A lossy DC link: each packet between the DCs dropped with probability
  // `percent` / 100 (nftables' numgen random), both ways.
  Status makeDcLinkLossy(int percent);
  // Lifts the cut and the loss.
  Status healDcs();

 private:
  Status ensureDc(int dc);
  Status run(const std::vector<std::string>& argv) const;
  Status nftIn(const std::string& netns, const std::string& script) const;

  std::string prefix_;
  std::string router_;
  std::vector<int> dcs_;
  std::map<std::string, LabHost> hosts_;
  std::vector<std::string> namespaces_;
};

}  // namespace pgtandem::testing
