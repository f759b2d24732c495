#pragma once
// Bounds on what a client-supplied grammar or JSON schema may cost. Everything a request can
// make packinfer build or walk is capped here, so a hostile input gets a clear error instead of a
// stack overflow, a hang or an out-of-memory kill.
#include <cstddef>
#include <cstdint>

namespace packinfer::grammar::limits {

inline constexpr size_t kMaxGrammarBytes = 1 << 20;  // GBNF text (given or generated)
inline constexpr int kMaxNesting = 64;               // parentheses in GBNF
inline constexpr int32_t kMaxRepetition = 4096;      // m and n of x{m,n}
inline constexpr int32_t kMaxRules = 20000;
inline constexpr size_t kMaxNfaStates = 1 << 21;  // all rules, before determinization
inline constexpr size_t kMaxDfaStates = 1 << 18;  // all rules, after
inline constexpr int kMaxSchemaDepth = 48;        // nested subschemas ($ref chains count)
inline constexpr size_t kMaxEnumValues = 8192;    // entries of one enum
inline constexpr size_t kMaxSchemaProperties = 2048;
// Vocabulary-trie steps all the token tables of one grammar may take (about a second of CPU):
// a grammar with very many distinct positions is refused instead of compiling for minutes.
inline constexpr int64_t kMaxTableWork = 200'000'000;
// Parse configurations one matcher state may hold (ambiguous grammars): beyond it the extra ones
// are dropped, which keeps the output valid (it only narrows the choices).
inline constexpr size_t kMaxConfigs = 2048;

}  // namespace packinfer::grammar::limits
