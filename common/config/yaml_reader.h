#pragma once
// Reading YAML configuration files so that every problem names the file,
// the line and the dotted key: patroni.yml (config.cc) and the
// coordinator's sites file share it.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/config/config.h"

namespace pgtandem::config {

// The text of a configuration file; the error is "<path>: cannot open the <what>".
inline Result<std::string> readConfigText(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return makeError(ErrorCode::kConfig, path + ": cannot open the " + what);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A configuration file's top-level mapping (an empty file is an empty
// mapping); the error names the file and the line.
inline Result<YAML::Node> loadYamlMapping(const std::string& yaml_text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kConfig, file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) return makeError(ErrorCode::kConfig, file + ":1: the top level must be a mapping");
  return root;
}

// Child lookup that never throws: yaml-cpp throws InvalidNode on most calls
// made on a missing child, so a missing key becomes a plain undefined node.
inline YAML::Node at(const YAML::Node& parent, const std::string& key) {
  if (!parent.IsDefined() || !parent.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& const_parent = parent;
  YAML::Node child = const_parent[key];
  if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return child;
}

class Reader {
 public:
  // `unsupported`: keys known elsewhere (Patroni) that we do not implement;
  // checkKeys() words their warning differently from a typo's.
  explicit Reader(std::string file, const std::set<std::string>* unsupported = nullptr)
      : file_(std::move(file)), unsupported_(unsupported) {}

  void error(const YAML::Node& node, const std::string& key, const std::string& message) {
    errors_.push_back({file_, lineOf(node), key, message});
  }
  void warn(const YAML::Node& node, const std::string& key, const std::string& message) {
    warnings_.push_back({file_, lineOf(node), key, message});
  }
  void envError(const std::string& variable, const std::string& message) {
    errors_.push_back({"environment", 0, variable, message});
  }

  static int lineOf(const YAML::Node& node) {
    if (!node.IsDefined() || node.Mark().is_null()) return 0;
    return node.Mark().line + 1;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  // Warns about every key of `map` that is not in `known`. Keys that are
  // unsupported are named so even when `also_known` (names only known at
  // run time) accepts them.
  void checkKeys(const YAML::Node& map, const std::string& path, std::initializer_list<const char*> known,
                 const std::function<bool(const std::string&)>& also_known = {}) {
    if (!map.IsMap()) return;
    for (const auto& entry : map) {
      const std::string key = entry.first.Scalar();
      if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) != known.end()) continue;
      const std::string full = join(path, key);
      if (unsupported_ && unsupported_->count(full)) {
        warn(entry.first, full, "is a Patroni setting that pgtandem does not support yet; ignored");
      } else if (!also_known || !also_known(key)) {
        warn(entry.first, full, "is not a known setting; ignored (a typo?)");
      }
    }
  }

  YAML::Node section(const YAML::Node& parent, const char* key, const std::string& path) {
    YAML::Node node = at(parent, key);
    if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
      error(node, join(path, key), "must be a mapping");
      return YAML::Node();
    }
    return node;
  }

  void readString(const YAML::Node& parent, const char* key, const std::string& path, std::string& out) {
    YAML::Node node = at(parent, key);
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsScalar()) return error(node, join(path, key), "must be a string");
    out = node.Scalar();
  }

  void readInt(const YAML::Node& parent, const char* key, const std::string& path, int& out) {
    std::int64_t wide = out;
    readInt64(parent, key, path, wide);
    if (wide < INT32_MIN || wide > INT32_MAX) return error(at(parent, key), join(path, key), "is out of range");
    out = static_cast<int>(wide);
  }

  void readInt64(const YAML::Node& parent, const char* key, const std::string& path, std::int64_t& out) {
    YAML::Node node = at(parent, key);
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsScalar()) return error(node, join(path, key), "must be an integer");
    auto parsed = parseInt(node.Scalar());
    if (!parsed) return error(node, join(path, key), "must be an integer, got '" + node.Scalar() + "'");
    out = *parsed;
  }

  void readBool(const YAML::Node& parent, const char* key, const std::string& path, bool& out) {
    YAML::Node node = at(parent, key);
    if (!node.IsDefined() || node.IsNull()) return;
    auto parsed = node.IsScalar() ? parseBool(node.Scalar()) : std::nullopt;
    if (!parsed) return error(node, join(path, key), "must be true or false");
    out = *parsed;
  }

  // A list of strings, or one comma-separated string.
  void readList(const YAML::Node& parent, const char* key, const std::string& path, std::vector<std::string>& out) {
    YAML::Node node = at(parent, key);
    if (!node.IsDefined() || node.IsNull()) return;
    out.clear();
    if (node.IsScalar()) {
      out = splitComma(node.Scalar());
      return;
    }
    if (!node.IsSequence()) return error(node, join(path, key), "must be a list or a comma-separated string");
    for (const auto& item : node) {
      if (!item.IsScalar()) return error(item, join(path, key), "must hold only strings");
      out.push_back(item.Scalar());
    }
  }

  // A mapping of scalars, kept as strings (PostgreSQL parameters, callbacks).
  void readScalarMap(const YAML::Node& parent, const char* key, const std::string& path,
                     std::map<std::string, std::string>& out) {
    YAML::Node node = section(parent, key, path);
    if (!node.IsDefined() || node.IsNull()) return;
    for (const auto& entry : node) {
      const std::string name = entry.first.Scalar();
      if (!entry.second.IsScalar()) {
        error(entry.second, join(join(path, key), name), "must be a single value");
        continue;
      }
      out[name] = entry.second.Scalar();
    }
  }

  static std::optional<std::int64_t> parseInt(const std::string& text) {
    try {
      std::size_t used = 0;
      const long long value = std::stoll(text, &used, 10);
      if (used != text.size()) return std::nullopt;
      return value;
    } catch (...) {
      return std::nullopt;
    }
  }

  static std::optional<bool> parseBool(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    if (text == "true" || text == "on" || text == "yes" || text == "1") return true;
    if (text == "false" || text == "off" || text == "no" || text == "0") return false;
    return std::nullopt;
  }

  static std::vector<std::string> splitComma(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }

  const std::string& file() const { return file_; }
  // Every error as one kConfig error, a line each; ok when there is none.
  Status errorsAsStatus() const {
    if (errors_.empty()) return okStatus();
    std::string message;
    for (const auto& issue : errors_) message += (message.empty() ? "" : "\n") + issue.toString();
    return makeError(ErrorCode::kConfig, message);
  }

  std::vector<ConfigIssue> errors_;
  std::vector<ConfigIssue> warnings_;

 private:
  std::string file_;
  const std::set<std::string>* unsupported_;
};


// host:port with a port in 1-65535 (listen may be "0.0.0.0:8008" or "*:5432").
bool looksLikeHostPort(const std::string& value);

// An etcd / etcd3 section as patroni.yml has it (host or hosts, protocol,
// credentials, TLS files).
void readEtcd(Reader& r, const YAML::Node& etcd, const std::string& path, EtcdConfig& out);

}  // namespace pgtandem::config
