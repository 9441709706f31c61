#pragma once
// Tables as dcctl prints them: pretty (boxed, patronictl's look), json and
// yaml (a list of objects keyed by column name), tsv (a header line, then
// tab-separated rows).

#include <ostream>
#include <string>
#include <vector>

#include "ctl/ctl_context.h"

namespace pgtandem::ctl {

struct Table {
  std::string title;  // pretty only: "Cluster: batman (7300...)"
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> numeric;  // right-aligned in pretty output; empty: none
  std::vector<std::string> footer;  // pretty only
};

void render(const Table& table, Format format, std::ostream& out);

}  // namespace pgtandem::ctl
