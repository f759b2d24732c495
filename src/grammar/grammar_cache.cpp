#include "grammar/grammar_cache.h"

#include <future>
#include <list>
#include <mutex>
#include <unordered_map>

#include "grammar/automaton_builder.h"
#include "grammar/gbnf_parser.h"
#include "grammar/structured_output.h"
#include "packinfer/error.h"

namespace packinfer::grammar {
namespace {

// Least-recently-used map of in-flight or finished compilations. A failed compilation is not
// kept (its waiters get the exception).
template <typename Value>
class Cache {
 public:
  Cache(size_t max_entries, size_t max_bytes) : max_entries_(max_entries), max_bytes_(max_bytes) {}

  template <typename Make, typename Size>
  std::shared_ptr<const Value> get(const std::string& key, Make make, Size size_of) {
    std::promise<std::shared_ptr<const Value>> promise;
    std::shared_future<std::shared_ptr<const Value>> future;
    bool mine = false;
    {
      std::lock_guard lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        ++hits_;
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        future = it->second.future;
      } else {
        ++misses_;
        mine = true;
        future = promise.get_future().share();
        lru_.push_front(key);
        map_.emplace(key, Entry{future, lru_.begin(), 0});
      }
    }
    if (!mine) return future.get();
    try {
      std::shared_ptr<const Value> v = make();
      promise.set_value(v);
      std::lock_guard lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        it->second.bytes = size_of(*v);
        bytes_ += it->second.bytes;
      }
      evict();
      return v;
    } catch (...) {
      promise.set_exception(std::current_exception());
      std::lock_guard lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.erase(it->second.lru);
        map_.erase(it);
      }
      throw;
    }
  }

  CacheStats stats() const {
    std::lock_guard lock(mu_);
    return {map_.size(), bytes_, hits_, misses_};
  }
  void clear() {
    std::lock_guard lock(mu_);
    map_.clear();
    lru_.clear();
    bytes_ = 0;
  }

 private:
  struct Entry {
    std::shared_future<std::shared_ptr<const Value>> future;
    std::list<std::string>::iterator lru;
    size_t bytes;
  };
  void evict() {
    while ((map_.size() > max_entries_ || bytes_ > max_bytes_) && map_.size() > 1) {
      auto it = map_.find(lru_.back());
      bytes_ -= it->second.bytes;
      map_.erase(it);
      lru_.pop_back();
    }
  }

  mutable std::mutex mu_;
  size_t max_entries_, max_bytes_;
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> lru_;
  size_t bytes_ = 0;
  size_t hits_ = 0, misses_ = 0;
};

Cache<GrammarSource>& sources() {
  static Cache<GrammarSource> c(256, size_t{64} << 20);
  return c;
}

Cache<CompiledGrammar>& compiled() {
  static Cache<CompiledGrammar> c(64, size_t{512} << 20);
  return c;
}

std::string source_key(const StructuredOutput& spec) {
  return std::to_string(static_cast<int>(spec.kind)) + ":" + spec.text;
}

}  // namespace

std::shared_ptr<const GrammarSource> compile_source(const StructuredOutput& spec) {
  if (spec.kind == StructuredOutput::Kind::None) {
    throw InvalidArgument("no structured output was asked for");
  }
  return sources().get(
      source_key(spec),
      [&] {
        auto s = std::make_shared<GrammarSource>();
        s->gbnf = structured_output_gbnf(spec);
        try {
          s->automaton = std::make_shared<const Automaton>(compile_automaton(parse_gbnf(s->gbnf)));
        } catch (const InvalidArgument& e) {
          if (spec.kind == StructuredOutput::Kind::Grammar) throw;
          // A generated grammar that fails says something about the schema: usually that a
          // required recursion never ends, so no finite value satisfies it.
          throw InvalidArgument(std::string("json_schema: no JSON value satisfies the schema (") +
                                e.what() + ")");
        }
        return std::shared_ptr<const GrammarSource>(std::move(s));
      },
      [](const GrammarSource& s) { return s.gbnf.size() + s.automaton->next.size() * 4; });
}

std::shared_ptr<const CompiledGrammar> compile_for(const StructuredOutput& spec,
                                                   const std::shared_ptr<const Vocabulary>& vocab) {
  const std::shared_ptr<const GrammarSource> src = compile_source(spec);
  const std::string key = std::to_string(vocab->fingerprint()) + ":" + src->gbnf;
  return compiled().get(
      key,
      [&] {
        return std::shared_ptr<const CompiledGrammar>(
            std::make_shared<CompiledGrammar>(src->gbnf, src->automaton, vocab));
      },
      [](const CompiledGrammar& g) { return g.memory_bytes(); });
}

std::shared_ptr<const Vocabulary> GrammarCompiler::vocabulary() {
  std::call_once(once_, [this] { vocab_ = Vocabulary::from_tokenizer(tok_); });
  return vocab_;
}

std::shared_ptr<const CompiledGrammar> GrammarCompiler::compile(const StructuredOutput& spec) {
  return compile_for(spec, vocabulary());
}

CacheStats compiled_cache_stats() { return compiled().stats(); }

void clear_caches() {
  sources().clear();
  compiled().clear();
}

}  // namespace packinfer::grammar
