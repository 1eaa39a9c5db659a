#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgwarden {

// HTTP basic authentication against bcrypt hashes, as exporter-toolkit does
// it: an unknown user is checked against a fixed dummy hash (the same cost,
// so timing does not tell which users exist), hashes are compared in
// constant time, one bcrypt runs at a time (each costs tens of
// milliseconds of CPU), and verified answers are cached, keyed by a SHA-256
// of user, hash and password (no password is kept), at most `cache_size`
// entries, least recently used out first.
//
// Thread-safe.
class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users,
                     size_t cache_size = 1024);

  bool Enabled() const { return !users_.empty(); }

  // `authorization` is the request's Authorization header ("" when absent).
  // True when it is "Basic <base64 user:password>" for a configured user
  // and that user's password.
  bool Check(std::string_view authorization);

  // bcrypt through libxcrypt ($2a$, $2b$, $2y$); false for a malformed hash.
  static bool VerifyBcrypt(const std::string& password,
                           const std::string& hash);

  // Base64 (standard alphabet, padding optional); false when malformed.
  static bool DecodeBase64(std::string_view in, std::string& out);

  size_t CacheSize() const;

 private:
  const std::map<std::string, std::string> users_;
  const size_t cache_size_;
  std::mutex bcrypt_mu_;
  mutable std::mutex cache_mu_;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string,
                     std::pair<bool, std::list<std::string>::iterator>>
      cache_;
};

}  // namespace pgwarden
