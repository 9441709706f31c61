// The tar stream reader behind the pg_basebackup copy method: ustar
// members with a prefix, GNU long names, pax path records, directories and
// links, data read in pieces; a cut stream and a damaged header are errors.

#include "backup/tar_reader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

namespace pgtandem::backup {
namespace {

// A tiny tar writer for the tests.
class TarWriter {
 public:
  void add(const std::string& name, char type, const std::string& data, const std::string& link = "",
           const std::string& prefix = "") {
    std::string header(512, '\0');
    std::memcpy(header.data(), name.data(), std::min<std::size_t>(name.size(), 100));
    std::snprintf(header.data() + 100, 8, "%07o", 0640);
    std::snprintf(header.data() + 108, 8, "%07o", 0);
    std::snprintf(header.data() + 116, 8, "%07o", 0);
    std::snprintf(header.data() + 124, 12, "%011zo", data.size());
    std::snprintf(header.data() + 136, 12, "%011o", 1700000000u);
    header[156] = type;
    std::memcpy(header.data() + 157, link.data(), std::min<std::size_t>(link.size(), 100));
    std::memcpy(header.data() + 257, "ustar\0" "00", 8);
    std::memcpy(header.data() + 345, prefix.data(), std::min<std::size_t>(prefix.size(), 155));
    std::memset(header.data() + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : header) sum += c;
    std::snprintf(header.data() + 148, 8, "%06o", sum);
    out += header;
    out += data;
    out.append((512 - data.size() % 512) % 512, '\0');
  }
  void end() { out.append(1024, '\0'); }
  std::string out;
};

struct Stream {
  std::string bytes;
  std::size_t at = 0;
  std::size_t piece = 7;  // odd-sized reads, as from a pipe
  TarReader::ReadFn fn() {
    return [this](char* out, std::size_t max) -> Result<std::size_t> {
      const std::size_t n = std::min({max, piece, bytes.size() - at});
      std::memcpy(out, bytes.data() + at, n);
      at += n;
      return n;
    };
  }
};

std::string readAll(TarReader& tar) {
  std::string data;
  char buffer[5];
  for (;;) {
    auto n = tar.readData(buffer, sizeof buffer);
    if (!n.ok() || *n == 0) return data;
    data.append(buffer, *n);
  }
}

TEST(TarReaderTest, ReadsMembersOfEveryKindInPieces) {
  TarWriter w;
  w.add("./", '5', "");
  w.add("./base/", '5', "");
  w.add("./base/1/1259", '0', std::string(1300, 'x'));
  w.add("PG_VERSION", '0', "15\n");
  w.add("pg_wal", '2', "", "/srv/wal");
  const std::string deep(120, 'd');
  w.add("././@LongLink", 'L', deep + std::string(1, '\0'));
  w.add(deep.substr(0, 99), '0', "long");
  w.add("PaxHeaders/x", 'x', "23 path=pax/named/file\n");
  w.add("ignored", '0', "pax");
  w.add("1259_vm", '0', "pre", "", "base/5");
  w.end();
  Stream s{w.out};
  TarReader tar(s.fn());
  std::vector<std::pair<std::string, std::string>> seen;
  for (;;) {
    auto m = tar.next();
    ASSERT_TRUE(m.ok()) << m.error().message;
    if (!*m) break;
    if ((*m)->path == "base/1/1259") {
      EXPECT_EQ((*m)->mode, 0640u);
      EXPECT_EQ((*m)->mtime, 1700000000);
      EXPECT_EQ((*m)->size, 1300u);
    }
    if ((*m)->type == TarType::kSymlink) EXPECT_EQ((*m)->link_target, "/srv/wal");
    // Leave PG_VERSION's data unread: next() skips it.
    seen.emplace_back((*m)->path, (*m)->path == "PG_VERSION" ? "" : readAll(tar));
  }
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"", ""}, {"base", ""}, {"base/1/1259", std::string(1300, 'x')}, {"PG_VERSION", ""}, {"pg_wal", ""},
      {deep, "long"}, {"pax/named/file", "pax"}, {"base/5/1259_vm", "pre"}};
  EXPECT_EQ(seen, expected);
}

TEST(TarReaderTest, AStreamCutShortOrADamagedHeaderIsAnError) {
  TarWriter w;
  w.add("base/1/1259", '0', std::string(1300, 'x'));
  w.end();
  Stream cut{w.out.substr(0, 900)};
  TarReader short_tar(cut.fn());
  auto first = short_tar.next();
  ASSERT_TRUE(first.ok() && *first);
  EXPECT_LE(readAll(short_tar).size(), 388u) << "only what the stream had";
  auto data = short_tar.readData(std::string(10, '\0').data(), 10);
  EXPECT_FALSE(data.ok());
  EXPECT_FALSE(short_tar.next().ok());

  Stream damaged{w.out};
  damaged.bytes[10] ^= 0x40;
  TarReader bad(damaged.fn());
  auto header = bad.next();
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.error().message.find("checksum"), std::string::npos);

  Stream half{w.out.substr(0, 100)};
  TarReader half_tar(half.fn());
  EXPECT_FALSE(half_tar.next().ok());
  Stream empty{""};
  TarReader none(empty.fn());
  auto end = none.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(*end);
}

}  // namespace
}  // namespace pgtandem::backup
