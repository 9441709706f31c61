#pragma once
// /config is JSON in the DCS; operators read and edit it as YAML.

#include <string>

#include "common/util/result.h"

namespace pgtandem::config {

// Block-style YAML with keys in the JSON's order. Errors on invalid JSON.
Result<std::string> jsonToYaml(const std::string& json);

// YAML (or JSON, which is YAML) to JSON. Scalars become numbers, booleans or
// null where YAML 1.1 reads them so (true/false/yes/no/on/off, ~, null),
// else strings. The error names the line.
Result<std::string> yamlToJson(const std::string& yaml, const std::string& source_name);

// Quotes a YAML scalar when it needs it.
std::string yamlScalar(const std::string& text);

}  // namespace pgtandem::config
