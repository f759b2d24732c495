#pragma once
// GBNF, llama.cpp's grammar format as llama-server accepts it in its "grammar" field:
//
//   root   ::= object                      # the start rule is called root
//   object ::= "{" ( pair ( "," pair )* )? "}"
//   pair   ::= string ":" [0-9]+ | "x"{2,5} [^"\\] . ( a | b )?
//
// Rules `name ::= alternatives`; `|` alternation; sequences; groups `( )`; `?` `*` `+`; `{m}`
// `{m,}` `{m,n}` `{,n}` repetition; string literals with escapes (\n \r \t \\ \" \[ \] \xHH
// \uHHHH \UHHHHHHHH); character classes `[a-z]`, negated `[^"\\]`; `.` (any character); `#`
// comments. A rule ends at the end of its line unless inside parentheses or continued by a line
// starting with `|`. Characters are Unicode code points (matched as UTF-8).
#include <string_view>

#include "grammar/grammar_ir.h"

namespace packinfer::grammar {

// Throws InvalidArgument "grammar: line L, column C: <problem>" for malformed text, an undefined
// or twice-defined rule, a missing root, or text beyond the limits (grammar/limits.h).
Grammar parse_gbnf(std::string_view text);

}  // namespace packinfer::grammar
