// Checks of the benchmarks' numeric flags.
#ifndef QRES_BENCH_BENCH_FLAGS_H_
#define QRES_BENCH_BENCH_FLAGS_H_

#include <cstdint>
#include <initializer_list>
#include <iostream>
#include <utility>

namespace qres::bench {

// True when every flag is at least 1; otherwise one line on stderr names the first that is not.
inline bool AllAtLeastOne(const char* program, std::initializer_list<std::pair<const char*, int32_t>> flags) {
  for (const auto& [name, value] : flags) {
    if (value < 1) {
      std::cerr << program << ": --" << name << "=" << value << ": must be at least 1\n";
      return false;
    }
  }
  return true;
}

}  // namespace qres::bench

#endif  // QRES_BENCH_BENCH_FLAGS_H_
