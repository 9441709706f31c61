#include "ctl/table.h"

#include "common/config/yaml_json.h"

#include <algorithm>
#include <boost/json.hpp>

namespace pgtandem::ctl {

namespace {

void renderPretty(const Table& t, std::ostream& out) {
  std::vector<std::size_t> width(t.columns.size());
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    width[c] = t.columns[c].size();
    for (const auto& row : t.rows) width[c] = std::max(width[c], c < row.size() ? row[c].size() : 0);
  }
  std::string rule = "+";
  for (std::size_t w : width) rule += std::string(w + 2, '-') + "+";
  if (!t.title.empty()) {
    std::string top = "+ " + t.title + " ";
    if (top.size() < rule.size()) top += rule.substr(top.size());
    out << top << "\n";
  } else {
    out << rule << "\n";
  }
  const auto line = [&](const std::vector<std::string>& cells, bool header) {
    out << "|";
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const bool right = !header && c < t.numeric.size() && t.numeric[c];
      const std::string pad(width[c] - cell.size(), ' ');
      out << " " << (right ? pad + cell : cell + pad) << " |";
    }
    out << "\n";
  };
  line(t.columns, true);
  out << rule << "\n";
  for (const auto& row : t.rows) line(row, false);
  out << rule << "\n";
  for (const auto& f : t.footer) out << " " << f << "\n";
}

}  // namespace

void render(const Table& t, Format format, std::ostream& out) {
  switch (format) {
    case Format::kPretty:
      renderPretty(t, out);
      return;
    case Format::kTsv:
      for (std::size_t c = 0; c < t.columns.size(); ++c) out << (c ? "\t" : "") << t.columns[c];
      out << "\n";
      for (const auto& row : t.rows) {
        for (std::size_t c = 0; c < row.size(); ++c) out << (c ? "\t" : "") << row[c];
        out << "\n";
      }
      return;
    case Format::kJson: {
      boost::json::array rows;
      for (const auto& row : t.rows) {
        boost::json::object o;
        for (std::size_t c = 0; c < t.columns.size() && c < row.size(); ++c) {
          if (!row[c].empty()) o[t.columns[c]] = row[c];
        }
        rows.push_back(std::move(o));
      }
      out << boost::json::serialize(rows) << "\n";
      return;
    }
    case Format::kYaml:
      if (t.rows.empty()) out << "[]\n";
      for (const auto& row : t.rows) {
        bool first = true;
        for (std::size_t c = 0; c < t.columns.size() && c < row.size(); ++c) {
          if (row[c].empty()) continue;
          out << (first ? "- " : "  ") << config::yamlScalar(t.columns[c]) << ": " << config::yamlScalar(row[c]) << "\n";
          first = false;
        }
      }
      return;
  }
}

}  // namespace pgtandem::ctl
