#include "tests/support/netns_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include "common/process/process.h"

namespace pgtandem::testing {
namespace {

// The runner execs a path, not a name to look up.
std::string tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

std::string dcSubnet(int dc) { return "10.77." + std::to_string(dc); }

// The host side filters its own traffic: one set of addresses it may not
// send to or hear from, and a chain of the ports its users may not connect to.
const char* const kHostTable =
    "table inet pgtlab { set blocked_to { type ipv4_addr; }; set blocked_from { type ipv4_addr; }; chain ports { }; "
    "chain out { type filter hook output priority 0; ip daddr @blocked_to drop; jump ports; }; "
    "chain in { type filter hook input priority 0; ip saddr @blocked_from drop; }; }";
const char* const kRouterTable = "table inet pgtlab { chain between_dcs { type filter hook forward priority 0; }; }";

}  // namespace

std::string NetnsLab::unavailableReason() {
  if (::geteuid() != 0) return "the lab needs root (network namespaces)";
  PosixProcessRunner runner;
  for (const auto& argv : {std::vector<std::string>{tool("ip"), "netns", "list"}, std::vector<std::string>{tool("nft"), "--version"}}) {
    auto ran = runner.run(Command{argv, {}, std::chrono::milliseconds(10'000), ""});
    if (!ran.ok() || ran->exit_code != 0) return "`" + argv[0] + "` does not work here (scripts/install-deps.sh installs iproute2 and nftables)";
  }
  return "";
}

NetnsLab::NetnsLab() : prefix_("pgt" + std::to_string(::getpid())), router_(prefix_ + "-router") {}

NetnsLab::~NetnsLab() {
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) (void)run({tool("ip"), "netns", "del", *it});
}

Status NetnsLab::run(const std::vector<std::string>& argv) const {
  PosixProcessRunner runner;
  auto ran = runner.run(Command{argv, {}, std::chrono::milliseconds(10'000), ""});
  if (!ran.ok()) return ran.error();
  if (ran->exit_code != 0) {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    return makeError(ErrorCode::kIo, line + ": " + tailLines(ran->output, 3));
  }
  return okStatus();
}

Status NetnsLab::nftIn(const std::string& netns, const std::string& script) const {
  return run({tool("ip"), "netns", "exec", netns, tool("nft"), script});
}

Status NetnsLab::ensureDc(int dc) {
  if (namespaces_.empty()) {
    PGT_TRY(run({tool("ip"), "netns", "add", router_}));
    namespaces_.push_back(router_);
    PGT_TRY(run({tool("ip"), "-n", router_, "link", "set", "lo", "up"}));
    PGT_TRY(run({tool("ip"), "netns", "exec", router_, tool("sysctl"), "-q", "-w", "net.ipv4.ip_forward=1"}));
    PGT_TRY(nftIn(router_, kRouterTable));
  }
  for (int d : dcs_) {
    if (d == dc) return okStatus();
  }
  const std::string bridge = "br" + std::to_string(dc);
  PGT_TRY(run({tool("ip"), "-n", router_, "link", "add", bridge, "type", "bridge"}));
  PGT_TRY(run({tool("ip"), "-n", router_, "addr", "add", dcSubnet(dc) + ".254/24", "dev", bridge}));
  PGT_TRY(run({tool("ip"), "-n", router_, "link", "set", bridge, "up"}));
  dcs_.push_back(dc);
  return okStatus();
}

Result<LabHost> NetnsLab::addHost(int dc, const std::string& name) {
  if (hosts_.count(name)) return makeError(ErrorCode::kConflict, "the lab has a host " + name + " already");
  PGT_TRY(ensureDc(dc));
  int in_dc = 1;
  for (const auto& [n, h] : hosts_) in_dc += h.dc == dc ? 1 : 0;
  LabHost h{name, prefix_ + "-" + name, dcSubnet(dc) + "." + std::to_string(in_dc), dc};
  PGT_TRY(run({tool("ip"), "netns", "add", h.netns}));
  namespaces_.push_back(h.netns);
  // Both ends are born in our namespace: names unique to this lab and short (IFNAMSIZ).
  const std::string id = std::to_string(::getpid() % 100000) + "x" + std::to_string(hosts_.size());
  const std::string host_end = "h" + id, router_end = "r" + id;
  PGT_TRY(run({tool("ip"), "link", "add", host_end, "type", "veth", "peer", "name", router_end}));
  PGT_TRY(run({tool("ip"), "link", "set", host_end, "netns", h.netns}));
  PGT_TRY(run({tool("ip"), "link", "set", router_end, "netns", router_}));
  PGT_TRY(run({tool("ip"), "-n", h.netns, "link", "set", host_end, "name", "eth0"}));
  PGT_TRY(run({tool("ip"), "-n", h.netns, "addr", "add", h.address + "/24", "dev", "eth0"}));
  PGT_TRY(run({tool("ip"), "-n", h.netns, "link", "set", "eth0", "up"}));
  PGT_TRY(run({tool("ip"), "-n", h.netns, "link", "set", "lo", "up"}));
  PGT_TRY(run({tool("ip"), "-n", h.netns, "route", "add", "default", "via", dcSubnet(dc) + ".254"}));
  PGT_TRY(run({tool("ip"), "-n", router_, "link", "set", router_end, "master", "br" + std::to_string(dc)}));
  PGT_TRY(run({tool("ip"), "-n", router_, "link", "set", router_end, "up"}));
  PGT_TRY(nftIn(h.netns, kHostTable));
  hosts_[name] = h;
  return h;
}

Status NetnsLab::reachFromTestProcess() {
  if (namespaces_.empty()) return makeError(ErrorCode::kNotFound, "add the hosts first");
  const std::string id = std::to_string(::getpid() % 100000);
  const std::string test_end = "t" + id, router_end = "o" + id;
  PGT_TRY(run({tool("ip"), "link", "add", test_end, "type", "veth", "peer", "name", router_end}));
  PGT_TRY(run({tool("ip"), "link", "set", router_end, "netns", router_}));
  PGT_TRY(run({tool("ip"), "addr", "add", "10.77.0.1/24", "dev", test_end}));
  PGT_TRY(run({tool("ip"), "link", "set", test_end, "up"}));
  PGT_TRY(run({tool("ip"), "-n", router_, "addr", "add", "10.77.0.254/24", "dev", router_end}));
  PGT_TRY(run({tool("ip"), "-n", router_, "link", "set", router_end, "up"}));
  return run({tool("ip"), "route", "add", "10.77.0.0/16", "via", "10.77.0.254"});
}

const LabHost& NetnsLab::host(const std::string& name) const {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) throw std::runtime_error("the lab has no host " + name);
  return it->second;
}

std::vector<std::string> NetnsLab::execPrefix(const std::string& name) const {
  return {tool("ip"), "netns", "exec", host(name).netns};
}

int NetnsLab::socketIn(const std::string& name, int domain, int type) const {
  const std::string path = "/var/run/netns/" + host(name).netns;
  int fd = -1;
  // setns changes only the calling thread's namespace: a thread of its own,
  // and the socket keeps the namespace it was made in.
  std::thread([&] {
    const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return;
    if (::setns(ns, CLONE_NEWNET) == 0) fd = ::socket(domain, type | SOCK_CLOEXEC, 0);
    ::close(ns);
  }).join();
  return fd;
}

Status NetnsLab::partition(const std::string& from, const std::string& to, bool both_ways) {
  const LabHost& a = host(from);
  const LabHost& b = host(to);
  PGT_TRY(nftIn(a.netns, "add element inet pgtlab blocked_to { " + b.address + " }"));
  if (!both_ways) return okStatus();
  PGT_TRY(nftIn(a.netns, "add element inet pgtlab blocked_from { " + b.address + " }"));
  PGT_TRY(nftIn(b.netns, "add element inet pgtlab blocked_to { " + a.address + " }"));
  return nftIn(b.netns, "add element inet pgtlab blocked_from { " + a.address + " }");
}

Status NetnsLab::heal(const std::string& from, const std::string& to) {
  const LabHost& a = host(from);
  const LabHost& b = host(to);
  // Each side's sets are emptied of the other: what is not there is no error.
  for (const auto& [self, other] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    for (const char* set : {"blocked_to", "blocked_from"}) {
      (void)nftIn(self->netns, std::string("delete element inet pgtlab ") + set + " { " + other->address + " }");
    }
  }
  return okStatus();
}

Status NetnsLab::blockConnections(const std::string& name, int port, const std::string& user) {
  return nftIn(host(name).netns, "add rule inet pgtlab ports meta skuid " + user + " tcp dport " + std::to_string(port) + " drop");
}

Status NetnsLab::unblockConnections(const std::string& name) { return nftIn(host(name).netns, "flush chain inet pgtlab ports"); }

// By subnet: with br_netfilter the forward hook also sees traffic bridged inside a DC.
Status NetnsLab::cutDcs() {
  for (int from : dcs_) {
    for (int to : dcs_) {
      if (from == to) continue;
      PGT_TRY(nftIn(router_, "add rule inet pgtlab between_dcs ip saddr " + dcSubnet(from) + ".0/24 ip daddr " + dcSubnet(to) +
                                 ".0/24 drop"));
    }
  }
  return okStatus();
}

Status NetnsLab::makeDcLinkLossy(int percent) {
  if (percent < 0 || percent > 100) return makeError(ErrorCode::kInvalidArgument, "loss must be 0..100 %");
  for (int from : dcs_) {
    for (int to : dcs_) {
      if (from == to) continue;
      PGT_TRY(nftIn(router_, "add rule inet pgtlab between_dcs ip saddr " + dcSubnet(from) + ".0/24 ip daddr " + dcSubnet(to) +
                                 ".0/24 numgen random mod 100 < " + std::to_string(percent) + " drop"));
    }
  }
  return okStatus();
}

Status NetnsLab::healDcs() { return nftIn(router_, "flush chain inet pgtlab between_dcs"); }

}  // namespace pgtandem::testing
