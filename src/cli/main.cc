#include "cli/cli.h"

int main(int argc, char** argv) { return georep::cli::Main(argc, argv); }
