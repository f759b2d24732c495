// packinfer command line: thin dispatch to subcommands; all work happens in the library.
#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "packinfer: not implemented yet\n");
  return 1;
}
