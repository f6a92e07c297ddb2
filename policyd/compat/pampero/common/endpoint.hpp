// TEMPORARY until common/include/pampero/common/endpoint.hpp lands in main: the same API,
// taken from store-agent. Deleted at the merge.
#pragma once
#include "../../../../store-agent/endpoint.hpp"
namespace pampero {
using store::connect_to;
using store::Endpoint;
using store::listen_on;
using store::parse_endpoint;
}  // namespace pampero
