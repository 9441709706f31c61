#include "common/config/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <sstream>

namespace pgtandem::config {

namespace json = boost::json;

std::string yamlScalar(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_of(":#{}[],&*?|<>=!%@`'\"\n\t") == std::string::npos &&
                     text.front() != ' ' && text.back() != ' ' && text.front() != '-' && text != "null" &&
                     text != "true" && text != "false" && text != "yes" && text != "no" && text != "on" &&
                     text != "off" && text != "~";
  if (plain) return text;
  return json::serialize(json::value(text));  // a JSON string is a valid YAML scalar
}

namespace {

std::string scalarText(const json::value& v) {
  if (v.is_string()) return yamlScalar(std::string(v.get_string()));
  if (v.is_null()) return "null";
  return json::serialize(v);
}

void emit(const json::value& v, int indent, std::ostringstream& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.get_object()) {
      const std::string k = yamlScalar(std::string(key));
      const bool nested = (value.is_object() && !value.get_object().empty()) || (value.is_array() && !value.get_array().empty());
      if (nested) {
        out << pad << k << ":\n";
        emit(value, indent + 2, out);
      } else if (value.is_object()) {
        out << pad << k << ": {}\n";
      } else if (value.is_array()) {
        out << pad << k << ": []\n";
      } else {
        out << pad << k << ": " << scalarText(value) << "\n";
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v.get_array()) {
      if (item.is_object() || item.is_array()) {
        out << pad << "-\n";
        emit(item, indent + 2, out);
      } else {
        out << pad << "- " << scalarText(item) << "\n";
      }
    }
  } else {
    out << pad << scalarText(v) << "\n";
  }
}

json::value scalarValue(const YAML::Node& node) {
  const std::string text = node.Scalar();
  if (node.Tag() == "!") return json::value(text);  // quoted: always a string
  if (text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  std::int64_t integer = 0;
  if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), integer); ec == std::errc() &&
                                                                                         end == text.data() + text.size()) {
    return integer;
  }
  double real = 0;
  if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), real); ec == std::errc() &&
                                                                                      end == text.data() + text.size()) {
    return real;
  }
  return json::value(text);
}

json::value toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : node) o[kv.first.as<std::string>()] = toJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& item : node) a.push_back(toJson(item));
      return a;
    }
    case YAML::NodeType::Scalar:
      return scalarValue(node);
    default:
      return nullptr;
  }
}

}  // namespace

Result<std::string> jsonToYaml(const std::string& text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec) return makeError(ErrorCode::kParse, "not valid JSON: " + ec.message());
  std::ostringstream out;
  emit(v, 0, out);
  return out.str();
}

Result<std::string> yamlToJson(const std::string& yaml, const std::string& source_name) {
  try {
    const YAML::Node root = YAML::Load(yaml);
    return json::serialize(toJson(root));
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kParse, source_name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace pgtandem::config
