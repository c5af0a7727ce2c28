#!/bin/bash
# No qres source (tests aside) calls std::filesystem's throwing forms: on a symbolic-link loop or an
# unreadable folder they throw, and a tool aborts. Files go through qres/io/files.h (KindOf,
# ListDirectory: POSIX calls), or the std::filesystem call takes an error_code as its last argument.
# The test reads the source tree itself (README.md's real location), so it is never cached.
set -uo pipefail
root="$(dirname "$(readlink -f README.md)")"
[[ -d "$root/qres/io" ]] || { echo "FAIL: no source tree at $root"; exit 1; }

calls='(std::filesystem|fs)::(exists|is_[a-z_]+|status|symlink_status|file_size|remove|remove_all|rename|create_director(y|ies)|canonical|weakly_canonical|read_symlink|absolute|relative|proximate|equivalent|last_write_time|copy|copy_file|permissions|current_path|space|resize_file|hard_link_count)\('
# The lines that break the rule: such a call without an error_code argument, any directory
# iterator (its increment throws), a directory_entry's throwing members.
offenders() {
  grep -nE "$calls" "$@" | grep -vE ', (error|ec)\)' || true
  grep -nE 'directory_iterator' "$@" || true
  grep -nE '\.(is_regular_file|is_directory|is_symlink|exists|file_size)\(\)' "$@" || true
}

# The check catches what it is for (each line below is one offender).
sample="$(mktemp)"
cat >"$sample" <<'CC'
if (std::filesystem::is_directory(file)) return;
for (const auto& entry : fs::directory_iterator(dir, error)) {}
if (entry.is_regular_file()) return;
CC
[[ $(offenders "$sample" | wc -l) -eq 3 ]] || { echo "FAIL: the check misses a throwing form"; exit 1; }
mapfile -t sources < <(find "$root/qres" \( -name '*.cc' -o -name '*.h' \) ! -name '*_test.cc' | sort)
found="$(offenders "${sources[@]}")"
if [[ -n "$found" ]]; then
  echo "FAIL: std::filesystem calls that throw (use qres/io/files.h, or pass a std::error_code):"
  echo "$found"
  exit 1
fi
echo "${#sources[@]} sources, no throwing std::filesystem call"
