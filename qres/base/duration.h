// Seconds as people read them: "45s", "3m07s", "2h05m" (progress bars, ETAs, sweep lines).
#ifndef QRES_BASE_DURATION_H_
#define QRES_BASE_DURATION_H_

#include <string>

namespace qres {

std::string FormatDuration(double seconds);

}  // namespace qres

#endif  // QRES_BASE_DURATION_H_
