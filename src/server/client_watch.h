#pragma once
// Tells whether the client of a request being handled has closed its connection, so a
// non-streamed request whose client went away is cancelled instead of running to max_tokens.
//
// cpp-httplib 0.11 gives a handler no access to its socket, so the watch finds it: the socket
// of this process whose peer is the request's remote address and port and whose local port is
// the server's (unique while the connection is open, which httplib keeps it during the
// handler). A peer that closed shows as
// end-of-stream (or an error/hang-up) on a non-consuming peek; bytes it pipelined are left for
// httplib to read.
#include <httplib.h>

namespace packinfer::api {

class ClientWatch {
 public:
  // `local_port`: the port the server listens on (0: unknown, nothing is watched).
  ClientWatch(const httplib::Request& req, int local_port);
  // True once the client has closed (or reset) the connection. False when the socket could not
  // be found (nothing is cancelled then).
  bool gone() const;
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace packinfer::api
