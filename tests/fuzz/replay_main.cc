// The driver of a fuzz target outside libFuzzer (the ordinary build): runs
// every file of the given corpus folders through LLVMFuzzerTestOneInput,
// then `--mutations N` seeded mutations of each (bit flips, byte inserts,
// deletes, repeats and splices between inputs). A crash or an abort() of a
// target's invariant fails the run. `make fuzz` runs the same targets under
// libFuzzer, coverage-guided, with AddressSanitizer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

std::string Mutate(std::string s, const std::vector<std::string>& all, std::mt19937_64& rng) {
  int steps = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < steps; ++i) {
    size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (!s.empty()) s[at % s.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // insert a byte, often a delimiter
      {
        static const char kSpecial[] = "\r\n:/.%{}\"\\=[]0 \t\x00\xff@";
        char c = rng() % 2 ? kSpecial[rng() % (sizeof kSpecial - 1)] : static_cast<char>(rng());
        s.insert(at, 1, c);
        break;
      }
      case 2:  // delete a run
        if (!s.empty()) s.erase(at % s.size(), 1 + rng() % 8);
        break;
      case 3:  // repeat a run
        if (!s.empty()) {
          size_t from = at % s.size();
          std::string run = s.substr(from, 1 + rng() % 16);
          s.insert(from, run);
        }
        break;
      case 4:  // splice in part of another input
      {
        const std::string& other = all[rng() % all.size()];
        if (!other.empty()) {
          size_t from = rng() % other.size();
          s.insert(at, other.substr(from, 1 + rng() % 64));
        }
        break;
      }
      default:  // overwrite with an interesting number
      {
        static const char* kNumbers[] = {
            "0", "-1", "4294967297", "9223372036854775807", "18446744073709551616", "1e308", "nan"};
        s.insert(at, kNumbers[rng() % 7]);
        break;
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long mutations = 0;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mutations") == 0 && i + 1 < argc) {
      mutations = std::atol(argv[++i]);
      continue;
    }
    std::filesystem::path p(argv[i]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) files.push_back(e.path());
    } else {
      files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      inputs.push_back(ss.str());
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s [--mutations N] CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  long runs = 0;
  for (const std::string& in : inputs) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    ++runs;
  }
  std::mt19937_64 rng(20261130);
  for (long m = 0; m < mutations; ++m) {
    std::string in = Mutate(inputs[m % inputs.size()], inputs, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    ++runs;
  }
  std::printf("%s: %ld inputs (%zu seeds), no crash\n", argv[0], runs, inputs.size());
  return 0;
}
