#include "http/http_transport.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "http/http_session.h"
#include "packinfer/error.h"

namespace packinfer::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

struct HttpTransport::Impl {
  net::io_context ioc;
  // Keeps run() going while nothing is pending on a socket (e.g. every open connection has a
  // request in a handler); released by stop().
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{ioc.get_executor()};
  tcp::acceptor acceptor{ioc};
  net::steady_timer backoff{ioc};
  std::shared_ptr<SessionShared> shared = std::make_shared<SessionShared>();

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [self = this](error_code ec, tcp::socket socket) {
      if (!self->acceptor.is_open() || self->shared->stopping) return;
      if (ec) {
        // Out of descriptors (or a like transient error): try again shortly, do not spin.
        self->backoff.expires_after(std::chrono::milliseconds(50));
        self->backoff.async_wait([self](error_code e) {
          if (!e) self->accept();
        });
        return;
      }
      auto session = std::make_shared<HttpSession>(std::move(socket), self->shared);
      // Counted in the session's constructor: `open` includes it.
      if (self->shared->open > self->shared->options.max_connections)
        session->refuse();
      else
        session->start();
      self->accept();
    });
  }
};

HttpTransport::HttpTransport(TransportOptions options, TransportHooks hooks)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared->options = std::move(options);
  impl_->shared->hooks = std::move(hooks);
}

// run() has returned (or never ran): destroying the io_context destroys what is still queued.
HttpTransport::~HttpTransport() {
  stop();
  impl_->work.reset();
  error_code ec;
  impl_->acceptor.close(ec);
}

int HttpTransport::bind() {
  Impl& m = *impl_;
  const TransportOptions& o = m.shared->options;
  const std::string where = o.host + ":" + std::to_string(o.port);
  try {
    tcp::resolver resolver(m.ioc);
    const auto results = resolver.resolve(o.host, std::to_string(o.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service);
    if (results.empty()) throw Error("cannot listen on " + where + ": no such address");
    const tcp::endpoint ep = results.begin()->endpoint();
    m.acceptor.open(ep.protocol());
    // SO_REUSEADDR only: a restarted server rebinds while old connections linger in TIME_WAIT;
    // no SO_REUSEPORT, which would let a second server silently share the port.
    m.acceptor.set_option(tcp::acceptor::reuse_address(true));
    m.acceptor.bind(ep);
    m.acceptor.listen(net::socket_base::max_listen_connections);
    return m.acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw Error("cannot listen on " + where + " (" + e.code().message() +
                "; address in use, or not an address of this machine)");
  }
}

void HttpTransport::run() {
  Impl& m = *impl_;
  if (m.shared->stopping) return;
  m.accept();
  std::vector<std::thread> extra;
  for (int i = 1; i < m.shared->options.io_threads; ++i) extra.emplace_back([&m] { m.ioc.run(); });
  m.ioc.run();
  for (std::thread& t : extra) t.join();
}

void HttpTransport::stop() {
  Impl& m = *impl_;
  if (m.shared->stopping.exchange(true)) return;
  net::post(m.ioc, [self = impl_.get()] {
    error_code ec;
    self->acceptor.close(ec);
    self->backoff.cancel();
    std::vector<std::shared_ptr<HttpSession>> sessions;
    {
      std::lock_guard lock(self->shared->mu);
      for (auto& [id, weak] : self->shared->sessions)
        if (auto s = weak.lock()) sessions.push_back(std::move(s));
    }
    for (auto& s : sessions) s->shutdown();
  });
}

void HttpTransport::release() { impl_->work.reset(); }

int64_t HttpTransport::open_connections() const { return impl_->shared->open; }

}  // namespace packinfer::api
