#include "backup/codec.h"

#include <openssl/evp.h>
#include <zstd.h>

#include <array>

namespace pgtandem::backup {

namespace {

std::string toHex(const unsigned char* digest, unsigned int length) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string sha256Hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return toHex(digest.data(), length);
}

std::string compress(std::string_view bytes, int level) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), level);
  out.resize(ZSTD_isError(n) ? 0 : n);  // cannot fail with a bound-sized buffer
  return out;
}

Result<std::string> decompress(std::string_view frame) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) {  // written in pieces (Compressor)
    Decompressor pieces;
    auto bytes = pieces.feed(frame);
    if (bytes.ok() && !pieces.done()) return makeError(ErrorCode::kParse, "the zstd frame is cut short");
    return bytes;
  }
  if (size == ZSTD_CONTENTSIZE_ERROR || size > (1ULL << 32)) return makeError(ErrorCode::kParse, "not a zstd frame");
  std::string out(size, '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size) {
    return makeError(ErrorCode::kParse, std::string("corrupt zstd frame: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return out;
}


struct Sha256::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) { EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr); }
Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) { EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size()); }

std::string Sha256::hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(state_->ctx, digest.data(), &length);
  return toHex(digest.data(), length);
}

struct Compressor::State {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  ~State() { ZSTD_freeCCtx(ctx); }
  std::string run(std::string_view bytes, ZSTD_EndDirective mode) {
    std::string out;
    ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
    std::string chunk(ZSTD_CStreamOutSize(), '\0');
    for (;;) {
      ZSTD_outBuffer buffer{chunk.data(), chunk.size(), 0};
      const size_t left = ZSTD_compressStream2(ctx, &buffer, &in, mode);
      out.append(chunk.data(), buffer.pos);
      if (ZSTD_isError(left)) return out;  // only on misuse: the frame then fails its checksum on read
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return out;
    }
  }
};

Compressor::Compressor(int level, int workers) : state_(std::make_unique<State>()) {
  ZSTD_CCtx_setParameter(state_->ctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(state_->ctx, ZSTD_c_checksumFlag, 1);
  // Without zstd's multithreading this is refused and one thread compresses.
  if (workers > 1) ZSTD_CCtx_setParameter(state_->ctx, ZSTD_c_nbWorkers, workers);
}
Compressor::~Compressor() = default;
std::string Compressor::feed(std::string_view bytes) { return state_->run(bytes, ZSTD_e_continue); }
std::string Compressor::finish() { return state_->run({}, ZSTD_e_end); }

struct Decompressor::State {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  std::string chunk;  // reused for every piece
  ~State() { ZSTD_freeDCtx(ctx); }
};

Decompressor::Decompressor() : state_(std::make_unique<State>()) {}
Decompressor::~Decompressor() = default;

Result<std::string> Decompressor::feed(std::string_view frame_bytes) {
  std::string out;
  PGT_TRY(feed(frame_bytes, [&](std::string_view piece) {
    out.append(piece);
    return okStatus();
  }));
  return out;
}

Status Decompressor::feed(std::string_view frame_bytes, const std::function<Status(std::string_view)>& sink) {
  ZSTD_inBuffer in{frame_bytes.data(), frame_bytes.size(), 0};
  if (state_->chunk.empty()) state_->chunk.resize(ZSTD_DStreamOutSize() * 8);
  std::string& chunk = state_->chunk;
  bool more = true;
  while (more) {
    if (done_ && in.pos < in.size) return makeError(ErrorCode::kParse, "bytes after the end of the zstd frame");
    ZSTD_outBuffer buffer{chunk.data(), chunk.size(), 0};
    const size_t hint = ZSTD_decompressStream(state_->ctx, &buffer, &in);
    if (ZSTD_isError(hint)) return makeError(ErrorCode::kParse, std::string("corrupt zstd frame: ") + ZSTD_getErrorName(hint));
    if (buffer.pos > 0) PGT_TRY(sink(std::string_view(chunk.data(), buffer.pos)));
    if (hint == 0) done_ = true;
    // Go on while input is left, or while a full buffer may hide more output.
    more = in.pos < in.size || (!done_ && buffer.pos == buffer.size);
  }
  return okStatus();
}

}  // namespace pgtandem::backup
