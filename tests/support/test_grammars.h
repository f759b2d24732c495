#pragma once
// GBNF grammars the tests generate from and check (written for these tests, in the style of the
// examples llama.cpp ships).

namespace packinfer::test {

inline constexpr const char* kArithmeticGbnf = R"gbnf(# integer arithmetic with parentheses
root   ::= expr
expr   ::= term (("+" | "-") term){0,3}
term   ::= factor (("*" | "/") factor){0,2}
factor ::= number | "(" expr ")"
number ::= [0-9]{1,4}
)gbnf";

inline constexpr const char* kListGbnf = R"gbnf(# a short bulleted list
root ::= item{1,5}
item ::= "- " [^\n]{1,20} "\n"
)gbnf";

// Any JSON object, with free whitespace (json.gbnf style).
inline constexpr const char* kJsonGbnf = R"gbnf(root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws
array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws
string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt/] | "u" [0-9a-fA-F]{4})
  )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? ws
ws ::= | " " | "\n" [ \t]{0,20}
)gbnf";

// A yes/no answer with a reason.
inline constexpr const char* kAnswerGbnf =
    R"gbnf(root ::= ("yes" | "no") ", because " [a-z ]{1,30} "."
)gbnf";

// Chess moves in simplified algebraic notation, numbered.
inline constexpr const char* kChessGbnf = R"gbnf(root ::= "1. " move " " move{0,1}
move ::= (pawn | piece) ("+" | "#")?
pawn ::= [a-h] ("x" [a-h])? [1-8]
piece ::= [KQRBN] [a-h]? "x"? [a-h] [1-8]
)gbnf";

// A nested list language: balanced brackets of letters (right recursion).
inline constexpr const char* kNestedGbnf = R"gbnf(root ::= list
list ::= "[" (elem ("," elem)*)? "]"
elem ::= [a-z] | list
)gbnf";

}  // namespace packinfer::test
