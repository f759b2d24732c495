// `packinfer serve`: the OpenAI-compatible HTTP server. Thin: flags -> Engine, ServingEngine and
// api::HttpServer; SIGINT/SIGTERM stop it cleanly (requests in flight are cancelled).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "packinfer/serving.h"
#include "server/http_server.h"

namespace packinfer::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  api::ServerOptions server;
  ServingOptions serving;
  std::string max_body = "4M";
  bool no_prefix_cache = false, no_chunked_prefill = false;
};

int run_serve(ServeOptions& o) {
  o.server.max_body_bytes = parse_bytes(o.max_body);
  if (o.server.role != "both" && o.model.kv_store.empty()) {
    throw InvalidArgument("--role " + o.server.role + " needs --kv-store (the workers hand the " +
                          "prompt's KV over through it)");
  }
  o.serving.prefix_cache = !o.no_prefix_cache;
  o.serving.chunked_prefill = !o.no_chunked_prefill;
  // Signals are taken by one thread with sigwait(); every other thread (I/O, HTTP workers, the
  // engine thread) inherits the blocked mask, so no handler runs at an arbitrary point.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that went away is a failed write, not a dead server

  EngineOptions eo = engine_options(o.model);
  // Scratch grows on demand for any step; this only keeps the MLP's mini-sequences (sized by
  // -b) as long as a whole step, so a large step budget is not cut into smaller GEMMs.
  if (o.serving.max_step_tokens > eo.max_batch_tokens)
    eo.max_batch_tokens = o.serving.max_step_tokens;
  Engine engine(eo);
  ServingEngine serving(engine, o.serving);
  api::HttpServer server(engine, serving, o.server);
  const int port = server.bind();

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) std::fprintf(stderr, "packinfer: stopping (signal %d)\n", sig);
    server.stop();
  });
  std::fprintf(stderr, "packinfer: serving %s on http://%s:%d\n", server.model_name().c_str(),
               o.server.host.c_str(), port);
  std::fflush(stderr);
  server.run();
  // run() returns only after stop(); if something else stopped it, wake the waiter.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* sub =
      app.add_subcommand("serve", "OpenAI-compatible HTTP server (/v1/completions, /v1/chat/...)");
  add_model_options(*sub, o->model);
  sub->add_option("--host", o->server.host, "address to listen on (default 127.0.0.1)");
  sub->add_option("--port", o->server.port, "port (default 8080; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--api-key", o->server.api_key,
                  "require 'Authorization: Bearer KEY' (all routes but /health)");
  sub->add_option("--max-body-bytes", o->max_body, "largest request body, e.g. 4M (default 4M)");
  sub->add_option("--max-connections", o->server.max_connections,
                  "open connections; one more is answered 503 and closed (default 4096, lowered "
                  "to what the open-file limit allows)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--http-workers", o->server.http_workers,
                  "threads running requests' handlers (completions, tokenize); idle connections "
                  "use none (default 128)")
      ->check(CLI::Range(1, 4096));
  sub->add_option("--http-header-timeout-s", o->server.header_timeout_s,
                  "a request's headers must arrive within this many seconds, else the connection "
                  "is closed (default 10)")
      ->check(CLI::Range(0.001, 86400.0));
  sub->add_option("--http-body-timeout-s", o->server.body_timeout_s,
                  "and its body within this many seconds after them (default 30)")
      ->check(CLI::Range(0.001, 86400.0));
  sub->add_option("--http-idle-timeout-s", o->server.idle_timeout_s,
                  "a kept-alive connection is closed after this many idle seconds (default 60)")
      ->check(CLI::Range(0.001, 86400.0));
  sub->add_option("--served-model-name", o->server.served_model_name,
                  "model name in responses (default: the file's stem)");
  sub->add_option("--max-n", o->server.max_n, "largest 'n' per request (default 16)")
      ->check(CLI::Range(1, 128));
  sub->add_option("--max-step-tokens", o->serving.max_step_tokens,
                  "fixed tokens per scheduler step: decodes plus prompt chunks (default: "
                  "automatic, from measured step times and --itl-target-ms)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  sub->add_option("--itl-target-ms", o->serving.itl_target_ms,
                  "inter-token latency the automatic step budget keeps decodes near while "
                  "prompts are prefilled (default: 5x a decode-only step)")
      ->check(CLI::Range(0.1, 1e6));
  sub->add_option("--max-running", o->serving.max_running, "requests decoding at once (default 64)")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_option("--max-queued", o->serving.max_queued,
                  "waiting requests beyond this are refused with 503 (default 1024)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  sub->add_flag("--no-prefix-cache", o->no_prefix_cache, "do not reuse cached prompt prefixes");
  sub->add_option("--role", o->server.role,
                  "prefill: compute prompts' KV into --kv-store and answer after one token; "
                  "decode or both (default): serve completions (behind `packinfer router`)")
      ->check(CLI::IsMember({"prefill", "decode", "both"}));
  sub->add_option("--step-log", o->serving.step_log,
                  "append one tab-separated line per scheduler step to this file: decode rows, "
                  "prompt tokens, planning/forward/update milliseconds");
  sub->add_flag("--no-chunked-prefill", o->no_chunked_prefill,
                "run each prompt whole in a prefill-only step (decodes wait)");
  sub->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace packinfer::cli
