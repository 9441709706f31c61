#pragma once
// What a repository stores: SHA-256 checksums (hex) and zstd frames.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace pgtandem::backup {

std::string sha256Hex(std::string_view bytes);
std::string compress(std::string_view bytes, int level = 3);
// The original bytes; kParse for anything that is not one whole zstd frame.
Result<std::string> decompress(std::string_view frame);

// The same in pieces, for files too big to hold in memory.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  std::string hex();  // once, at the end

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One zstd frame written in pieces: each call returns the compressed bytes
// ready so far.
class Compressor {
 public:
  // `workers` > 1: zstd compresses one stream on that many threads (it
  // pays from a few MB on; the frame reads back the same).
  explicit Compressor(int level = 3, int workers = 1);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  std::string feed(std::string_view bytes);
  std::string finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Reads zstd frames in pieces; done() once a whole frame ended.
class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  Result<std::string> feed(std::string_view frame_bytes);
  // The same, handing each decompressed piece to `sink` (no copy gathered).
  Status feed(std::string_view frame_bytes, const std::function<Status(std::string_view)>& sink);
  bool done() const { return done_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool done_ = false;
};

}  // namespace pgtandem::backup
