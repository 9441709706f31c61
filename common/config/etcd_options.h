#pragma once
// The etcd client's options from a configuration's etcd3 section (shared by
// dc-agent and dcctl). Header-only: it joins config and dcs, which do not
// depend on each other.

#include <chrono>

#include "common/config/config.h"
#include "common/dcs/etcd_dcs.h"

namespace pgtandem::config {

inline dcs::EtcdOptions etcdOptions(const EtcdConfig& etcd, std::chrono::milliseconds request_timeout) {
  dcs::EtcdOptions o;
  o.endpoints = etcd.hosts;
  o.tls = etcd.protocol == "https";
  o.ca_file = etcd.cacert;
  o.cert_file = etcd.cert;
  o.key_file = etcd.key;
  o.username = etcd.username;
  o.password = etcd.password;
  o.request_timeout = request_timeout;
  return o;
}

}  // namespace pgtandem::config
