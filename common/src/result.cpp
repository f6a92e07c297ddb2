#include "pampero/common/result.hpp"

namespace pampero {

const char* to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::temporary:
            return "temporary";
        case ErrorKind::permanent:
            return "permanent";
        case ErrorKind::config:
            return "config";
    }
    return "unknown";
}

}  // namespace pampero
