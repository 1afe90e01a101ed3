// TEMPORARY placeholder so the tree links; the GGUF work replaces this file.
#include "frontends/cli/commands.h"
namespace kt::cli {
void add_gguf_command(CLI::App& app) { app.add_subcommand("gguf", "Inspect a GGUF file"); }
}  // namespace kt::cli
