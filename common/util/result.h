#pragma once
// The one error model of pgtandem: every fallible operation returns
// Result<T>, a value or an Error. No exception crosses a component boundary;
// code that calls throwing libraries (yaml-cpp, libpqxx, Boost.JSON) catches
// at the call site and converts.

#include <string>
#include <utility>
#include <variant>

namespace pgtandem {

enum class ErrorCode {
  kInvalidArgument,   // the caller passed something malformed
  kNotFound,          // the thing asked for does not exist
  kConflict,          // a compare-and-set lost, or the thing already exists
  kUnavailable,       // the remote end cannot be reached or has no quorum
  kTimeout,           // the deadline passed before an answer
  kLeaseLost,         // an etcd lease expired or was revoked
  kCompacted,         // an etcd revision was compacted away
  kUnauthenticated,   // missing, wrong or expired credentials
  kPermissionDenied,  // authenticated, but not allowed
  kConfig,            // a configuration file or value is wrong
  kParse,             // a value read from outside does not parse
  kIo,                // a local file or process operation failed
  kInternal,          // a bug or an unexpected library failure
};

const char* errorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;

  std::string toString() const { return std::string(errorCodeName(code)) + ": " + message; }
};

inline Error makeError(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// A tl::expected-like sum type, kept small on purpose.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : data_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(data_); }

  template <typename U>
  T valueOr(U&& fallback) const { return ok() ? value() : static_cast<T>(std::forward<U>(fallback)); }

 private:
  std::variant<T, Error> data_;
};

struct Unit {};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() { return {}; }

}  // namespace pgtandem

// Propagates an error from an expression returning Result<...>.
#define PGT_TRY(expr)                              \
  do {                                             \
    auto&& pgt_try_result_ = (expr);               \
    if (!pgt_try_result_.ok()) return pgt_try_result_.error(); \
  } while (0)

// Assigns the value of an expression returning Result<...>, or returns its error.
#define PGT_ASSIGN(target, expr)                     \
  do {                                               \
    auto pgt_value_ = (expr);                        \
    if (!pgt_value_.ok()) return pgt_value_.error(); \
    target = std::move(*pgt_value_);                 \
  } while (0)
