#pragma once
// What an etcd answer's gRPC status means to the DCS layer, as pure
// functions over the status code (grpc::StatusCode values) and message, so
// they are tested row by row without a server (no gRPC header here).
//
// UNKNOWN is how etcd reports "etcdserver: leader changed", "request timed
// out" or "raft: stopped" on some paths (a lesson from Patroni 4.x): the
// member could not serve the request, so another member is tried and the
// call counts as unavailable, never as "the lease is gone".

#include <string>

#include "common/util/result.h"

namespace pgtandem::dcs {

// Worth trying the next etcd member.
bool etcdRetryable(int grpc_code);

// `what` (for example "lease keepalive") failed at `endpoint`.
Error etcdError(int grpc_code, const std::string& text, const std::string& what, const std::string& endpoint);

}  // namespace pgtandem::dcs
