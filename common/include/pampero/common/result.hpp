// result.hpp - the outcome of a fallible call.
//
// Every call that can fail because of the outside world (a file, a database, a peer)
// returns Result<T>. The error says whether retrying could help:
//   temporary  - the dependency is down or busy; the MTA must be told 4xx and retry
//   permanent  - the request itself is wrong (unknown user, malformed address): 5xx
//   config     - the configuration is wrong; refuse to start or reload, 4xx meanwhile
// Exactly one place per daemon turns an Error into a protocol reply; nothing guesses.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pampero {

enum class ErrorKind { temporary, permanent, config };

struct Error {
    ErrorKind kind = ErrorKind::temporary;
    std::string message;

    static Error temporary(std::string m) { return {ErrorKind::temporary, std::move(m)}; }
    static Error permanent(std::string m) { return {ErrorKind::permanent, std::move(m)}; }
    static Error config(std::string m) { return {ErrorKind::config, std::move(m)}; }
};

const char* to_string(ErrorKind kind);

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() {
    return Ok{};
}

}  // namespace pampero
