// cached_directory.cpp - the TTL cache in front of any Directory (see lookup_cache.hpp).
#include "pampero/common/directory.hpp"
#include "pampero/common/lookup_cache.hpp"

namespace pampero {
namespace {

class CachedDirectory final : public Directory {
  public:
    CachedDirectory(std::unique_ptr<Directory> inner, std::chrono::seconds ttl)
        : inner_(std::move(inner)),
          domains_(ttl),
          users_(ttl),
          aliases_(ttl),
          lists_(ttl),
          contacts_(ttl) {}

    Result<bool> is_local_domain(const std::string& domain) override {
        return domains_.get(domain, [&] { return inner_->is_local_domain(domain); });
    }
    Result<std::optional<User>> find_user(const std::string& address) override {
        return users_.get(address, [&] { return inner_->find_user(address); });
    }
    Result<std::vector<std::string>> find_alias(const std::string& address) override {
        return aliases_.get(address, [&] { return inner_->find_alias(address); });
    }
    Result<Listing> sender_listing(const std::string& user, const std::string& sender) override {
        return lists_.get(user + '\n' + sender,
                          [&] { return inner_->sender_listing(user, sender); });
    }
    Result<bool> is_contact(const std::string& user, const std::string& sender) override {
        return contacts_.get(user + '\n' + sender,
                             [&] { return inner_->is_contact(user, sender); });
    }

  private:
    std::unique_ptr<Directory> inner_;
    LookupCache<bool> domains_;
    LookupCache<std::optional<User>> users_;
    LookupCache<std::vector<std::string>> aliases_;
    LookupCache<Listing> lists_;
    LookupCache<bool> contacts_;
};

}  // namespace

std::unique_ptr<Directory> make_cached_directory(std::unique_ptr<Directory> inner,
                                                 std::chrono::seconds ttl) {
    return std::make_unique<CachedDirectory>(std::move(inner), ttl);
}

}  // namespace pampero
