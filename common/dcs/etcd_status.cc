#include "common/dcs/etcd_status.h"

namespace pgtandem::dcs {
namespace {

// grpc::StatusCode, without its header.
enum GrpcCode {
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kPermissionDenied = 7,
  kFailedPrecondition = 9,
  kOutOfRange = 11,
  kUnavailable = 14,
  kUnauthenticated = 16,
};

}  // namespace

bool etcdRetryable(int grpc_code) {
  return grpc_code == kUnavailable || grpc_code == kDeadlineExceeded || grpc_code == kUnknown;
}

Error etcdError(int grpc_code, const std::string& text, const std::string& what, const std::string& endpoint) {
  const std::string message = "etcd " + what + " at " + endpoint + ": " + text;
  switch (grpc_code) {
    case kUnavailable:
    case kUnknown:
    case kCancelled: return makeError(ErrorCode::kUnavailable, message);
    case kDeadlineExceeded: return makeError(ErrorCode::kTimeout, message);
    case kNotFound:
      return makeError(text.find("lease") != std::string::npos ? ErrorCode::kLeaseLost : ErrorCode::kNotFound, message);
    case kOutOfRange: return makeError(ErrorCode::kCompacted, message);
    case kUnauthenticated: return makeError(ErrorCode::kUnauthenticated, message);
    case kPermissionDenied: return makeError(ErrorCode::kPermissionDenied, message);
    case kInvalidArgument:
      if (text.find("authentication failed") != std::string::npos || text.find("user name") != std::string::npos) {
        return makeError(ErrorCode::kUnauthenticated, message);
      }
      return makeError(ErrorCode::kInvalidArgument, message);
    case kFailedPrecondition: return makeError(ErrorCode::kInvalidArgument, message);
    default: return makeError(ErrorCode::kInternal, message);
  }
}

}  // namespace pgtandem::dcs
