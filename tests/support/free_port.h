#pragma once
// A loopback TCP port nothing listens on right now, for the test helpers that start servers
// (redis-server, nginx). Throws packinfer::Error when there is none.
namespace packinfer::test {

int free_loopback_port();

}  // namespace packinfer::test
