// The `kt` command line: one program with subcommands (frontends/cli/run.cpp).
#include "frontends/cli/commands.h"

int main(int argc, char** argv) {
  return kt::cli::run(argc, argv);
}
