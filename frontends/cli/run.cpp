// The `kt` command line as a function, so that other front ends (the Python package's
// `ktransformers` and `local_chat`) run exactly the same commands.
#include <cstdio>
#include <exception>

#include "frontends/cli/commands.h"
#include "tensor/error.h"

namespace kt::cli {

int run(int argc, char** argv) {
  CLI::App app{"kt: hybrid CPU/GPU inference for large Mixture-of-Experts language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kt 0.1.0");
  add_gguf_command(app);
  add_bench_command(app);
  add_convert_command(app);
  add_chat_command(app);
  add_tokenize_command(app);
  add_synth_command(app);
  add_perplexity_command(app);
  add_plan_command(app);
  add_serve_command(app);
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

}  // namespace kt::cli
