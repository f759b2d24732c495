#pragma once
// The open-file limit a server with many connections needs: every connection is a descriptor.
#include <cstdint>

namespace packinfer::api {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns how many connections fit in it
// (`wanted` when all do), keeping `reserve` descriptors for model files, logs and the like.
int64_t fit_connections_to_fd_limit(int64_t wanted, int64_t reserve = 64);

}  // namespace packinfer::api
