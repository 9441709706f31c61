#pragma once
// Where archive-push reads its DC's site key: the DC's own etcd, through
// etcd's JSON gateway (POST /v3/kv/range), a linearizable read, so that an
// etcd without quorum answers nothing and the guard refuses.

#include <memory>
#include <string>
#include <vector>

#include "backup/site_guard.h"

namespace pgtandem::backup {

struct SiteKeyLocation {
  std::vector<std::string> etcd;  // "http://host:port" or "host:port", tried in order
  std::string namespace_ = "/service/";
  std::string scope;
};

std::unique_ptr<SiteSource> etcdSiteSource(SiteKeyLocation location);

// One key through the gateway of the first endpoint that answers; nullopt
// when the key does not exist. A garbage answer is an error at once (the
// next endpoint is not asked).
Result<std::optional<std::string>> readEtcdKey(const std::vector<std::string>& endpoints, const std::string& key);

// The gateway's answer to a range request, decoded: nullopt when the key
// does not exist. Pure, for tests.
Result<std::optional<std::string>> parseRangeAnswer(const std::string& body);

}  // namespace pgtandem::backup
