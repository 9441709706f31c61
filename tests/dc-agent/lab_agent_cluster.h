#pragma once
// The fault lab's cluster: AgentCluster on lab hosts (on_lab_), with the
// faults only the lab has: a host's disk filled, one host's etcd member
// lost. A test may add a standby DC (addStandbyDcOnLab): two hosts of the
// lab's second DC with an etcd of their own, whose standby leader follows
// whichever DC1 host is writable, across the link cutDcs() cuts.

#include <fcntl.h>
#include <sys/statvfs.h>

#include "tests/standby/two_data_centers.h"

namespace pgtandem::testing {

class LabAgentCluster : public TwoDataCenters {
 protected:
  LabAgentCluster() { on_lab_ = true; }

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

  // The etcd member on `host`.
  EtcdProcess& etcdOn(const std::string& host) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].name == host) return *etcd_members_[i];
    }
    throw std::runtime_error("no etcd on " + host);
  }
};

}  // namespace pgtandem::testing
