#pragma once
// Base64 (RFC 4648, with padding): etcd's JSON gateway carries keys and
// values in it.

#include <string>
#include <string_view>

#include "common/util/result.h"

namespace pgtandem {

std::string base64Encode(std::string_view bytes);
// kParse for anything that is not padded base64.
Result<std::string> base64Decode(std::string_view text);

}  // namespace pgtandem
