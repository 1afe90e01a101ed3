// The `kt` command line: one program with subcommands.
#include <cstdio>
#include <exception>

#include "frontends/cli/commands.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kt: hybrid CPU/GPU inference for large Mixture-of-Experts language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kt 0.1.0");
  kt::cli::add_gguf_command(app);
  kt::cli::add_bench_command(app);
  kt::cli::add_convert_command(app);
  kt::cli::add_chat_command(app);
  kt::cli::add_tokenize_command(app);
  kt::cli::add_synth_command(app);
  kt::cli::add_perplexity_command(app);
  kt::cli::add_plan_command(app);
  kt::cli::add_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kt::Error& e) {
    std::fprintf(stderr, "kt: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kt: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
