#include "exporter/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <cstdint>
#include <cstring>

namespace pgwarden {
namespace {

// bcrypt, cost 10, of a random password nobody kept: checked for unknown
// users so that they cost what known ones do.
constexpr char kDummyHash[] =
    "$2b$10$EadLQuISGF7H/rRwKIzLC.Vq5Cvk8.4m2GjxVilyUJJLu.wcFhHsG";

std::string CacheKey(const std::string& user, const std::string& hash,
                     const std::string& password) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  for (const std::string* part : {&user, &hash, &password}) {
    const uint64_t n = part->size();  // length-prefixed: no ambiguity
    EVP_DigestUpdate(md, &n, sizeof(n));
    EVP_DigestUpdate(md, part->data(), part->size());
  }
  EVP_DigestFinal_ex(md, digest, &size);
  EVP_MD_CTX_free(md);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

}  // namespace

BasicAuth::BasicAuth(std::map<std::string, std::string> users,
                     size_t cache_size)
    : users_(std::move(users)), cache_size_(cache_size) {}

bool BasicAuth::DecodeBase64(std::string_view in, std::string& out) {
  out.clear();
  uint32_t bits = 0;
  int count = 0;
  size_t end = in.size();
  while (end > 0 && in[end - 1] == '=') --end;
  if (in.size() - end > 2) return false;
  for (size_t i = 0; i < end; ++i) {
    const char c = in[i];
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else {
      return false;
    }
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return count < 6;  // a lone 6-bit group is not a byte
}

bool BasicAuth::VerifyBcrypt(const std::string& password,
                             const std::string& hash) {
  if (password.find('\0') != std::string::npos) return false;
  crypt_data data;
  std::memset(&data, 0, sizeof(data));
  const char* out =
      crypt_rn(password.c_str(), hash.c_str(), &data, sizeof(data));
  if (!out || out[0] == '*') return false;
  const size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

bool BasicAuth::Check(std::string_view authorization) {
  if (users_.empty()) return true;
  constexpr std::string_view kBasic = "Basic ";
  if (authorization.size() < kBasic.size()) return false;
  for (size_t i = 0; i < kBasic.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kBasic[i]))) {
      return false;
    }
  }
  std::string decoded;
  if (!DecodeBase64(authorization.substr(kBasic.size()), decoded)) {
    return false;
  }
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  const std::string user = decoded.substr(0, colon);
  const std::string password = decoded.substr(colon + 1);
  const auto it = users_.find(user);
  const bool known = it != users_.end();
  const std::string& hash = known ? it->second : std::string(kDummyHash);
  const std::string key = CacheKey(user, hash, password);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    const auto hit = cache_.find(key);
    if (hit != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, hit->second.second);
      return hit->second.first && known;
    }
  }
  bool ok;
  {
    std::lock_guard<std::mutex> lock(bcrypt_mu_);
    ok = VerifyBcrypt(password, hash) && known;
  }
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.count(key)) return ok;
  lru_.push_front(key);
  cache_[key] = {ok, lru_.begin()};
  while (cache_.size() > cache_size_) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  return ok;
}

size_t BasicAuth::CacheSize() const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  return cache_.size();
}

}  // namespace pgwarden
