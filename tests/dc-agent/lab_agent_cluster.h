#pragma once
// AgentCluster on the fault lab (tests/support/netns_lab.h): three hosts in
// one DC, each running an etcd member, a PostgreSQL and its agent on the
// host's own address. The test process reaches every host as an outside
// client would (libpq, HTTP). Losing one etcd member and losing etcd's
// quorum are different faults here, and a partition cuts real links. Each
// host's data directory is on a disk of its own (a tmpfs), which can fill.

#include <fcntl.h>
#include <sys/statvfs.h>

#include "tests/dc-agent/agent_cluster.h"
#include "tests/support/netns_lab.h"

namespace pgtandem::testing {

class LabAgentCluster : public AgentCluster {
 protected:
  void SetUp() override {
    if (const std::string why = NetnsLab::unavailableReason(); !why.empty()) GTEST_FAIL() << why;
    lab_ = std::make_unique<NetnsLab>();
    std::vector<EtcdProcess::Placement> placements;
    std::string endpoints;
    std::vector<std::string> urls;
    for (int i = 1; i <= 3; ++i) {
      auto host = lab_->addHost(1, "pg" + std::to_string(i));
      ASSERT_TRUE(host.ok()) << host.error().message;
      placements.push_back({host->address, lab_->execPrefix(host->name)});
      endpoints += (endpoints.empty() ? "" : ",") + host->address + ":2379";
      urls.push_back("http://" + host->address + ":2379");
    }
    auto linked = lab_->reachFromTestProcess();
    ASSERT_TRUE(linked.ok()) << linked.error().message;
    etcd_members_ = EtcdProcess::startClusterOn(placements);
    ASSERT_EQ(etcd_members_.size(), 3u) << "etcd did not start on the lab hosts";
    for (const auto& url : urls) ASSERT_TRUE(waitForEtcd(url, 30)) << url;
    connectDcs(urls);
    clients_ = "10.77.0.0/16";
    for (int i = 1; i <= 3; ++i) etcd_endpoints_["pg" + std::to_string(i)] = endpoints;
    prepareNodes([this](AgentNode& node) {
      node.address = lab_->host(node.name).address;
      node.prefix = lab_->execPrefix(node.name);
      // Each host has its own network, but the Unix sockets share one
      // directory: ports 5431, 5432, 5433; the REST API on Patroni's 8008.
      node.pg_port = 5430 + (node.name.back() - '0');
      node.api_port = 8008;
      // Its own disk, so that one host's disk can fill up.
      const std::string disk = dir_ + "/" + node.name + "-disk";
      ASSERT_TRUE(mountDisk(disk)) << disk;
      node.data_dir = disk + "/data";
    });
  }

  // A tmpfs of kDiskMb owned by postgres at `path`.
  bool mountDisk(const std::string& path) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw || ::mkdir(path.c_str(), 0700) != 0) return false;
    const std::string options = "size=" + std::to_string(kDiskMb) + "m,mode=0700,uid=" + std::to_string(pw->pw_uid) +
                                ",gid=" + std::to_string(pw->pw_gid);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) != 0) return false;
    mounts_.push_back(path);
    return true;
  }

  // Fills `host`'s disk: a file takes every free byte (root's writes
  // included: tmpfs keeps no reserve). freeDisk removes it.
  bool fillDisk(const std::string& host) {
    const std::string filler = diskOf(host) + "/filler";
    const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    // Big steps, then pages, until nothing more fits (others write too).
    off_t size = 0;
    for (const off_t step : {off_t{64} << 20, off_t{1} << 20, off_t{4096}}) {
      for (int i = 0; i < 100'000 && ::posix_fallocate(fd, size, step) == 0; ++i) size += step;
    }
    ::close(fd);
    struct statvfs fs {};
    return ::statvfs(diskOf(host).c_str(), &fs) == 0 && fs.f_bavail == 0;
  }
  void freeDisk(const std::string& host) { ::unlink((diskOf(host) + "/filler").c_str()); }
  std::string diskOf(const std::string& host) const { return dir_ + "/" + host + "-disk"; }

  void TearDown() override {
    AgentCluster::TearDown();
    etcd_members_.clear();
    lab_.reset();
  }

  // The etcd member on `host`.
  EtcdProcess& etcdOn(const std::string& host) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].name == host) return *etcd_members_[i];
    }
    throw std::runtime_error("no etcd on " + host);
  }

  static constexpr int kDiskMb = 1024;  // tmpfs takes only what is written
  std::unique_ptr<NetnsLab> lab_;
  std::vector<std::unique_ptr<EtcdProcess>> etcd_members_;
};

}  // namespace pgtandem::testing
