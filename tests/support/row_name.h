#pragma once
// Table-driven tests name each parameterized row after its `name` field,
// with every character gtest does not allow in a test name replaced by '_'.

#include <cctype>
#include <string>

#include <gtest/gtest.h>

namespace pgtandem::testing {

template <typename Row>
std::string rowName(const ::testing::TestParamInfo<Row>& row) {
  std::string name;
  for (const char* c = row.param.name; *c; ++c) name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
  return name;
}

}  // namespace pgtandem::testing
