// `packinfer router`: one OpenAI-compatible front for packinfer servers sharing a KV store
// (router/router.h). SIGINT/SIGTERM stop it.
#include "cli/cmd_router.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "router/router.h"

namespace packinfer::cli {

void add_router_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<router::RouterOptions>();
  CLI::App* sub = app.add_subcommand(
      "router",
      "route OpenAI requests to packinfer servers sharing --kv-store: co-located replicas, or "
      "prefill workers then decode workers, by prefix affinity and load");
  sub->add_option("--host", o->host, "address to listen on (default 127.0.0.1)");
  sub->add_option("--port", o->port, "port (default 8080; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--replica", o->replicas, "a co-located server (serve --role both), repeatable");
  sub->add_option("--prefill", o->prefill, "a prefill worker (serve --role prefill), repeatable");
  sub->add_option("--decode", o->decode, "a decode worker (serve --role decode), repeatable");
  sub->add_option("--max-connections", o->max_connections,
                  "requests handled at once (default 64; more wait for a free worker)")
      ->check(CLI::Range(1, 4096));
  sub->add_option("--affinity-chars", o->affinity_chars,
                  "prompt characters that choose a backend by affinity (default 256)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--affinity-slack", o->affinity_slack,
                  "requests in flight beyond the least busy backend before affinity yields "
                  "(default 4)")
      ->check(CLI::Range(0, 1 << 20));
  sub->callback([o, &exit_code] {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    router::Router r(*o);
    const int port = r.bind();
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      r.stop();
    });
    std::fprintf(stderr, "packinfer: router on http://%s:%d (%zu prefill, %zu %s)\n",
                 o->host.c_str(), port, o->prefill.size(),
                 o->prefill.empty() ? o->replicas.size() : o->decode.size(),
                 o->prefill.empty() ? "replicas" : "decode");
    std::fflush(stderr);
    r.run();
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    exit_code = 0;
  });
}

}  // namespace packinfer::cli
