# Named checks for the shell test suites. Source this file after setting
# CHECK_SUITE (the name in messages, e.g. "e2e").
#   check NAME COMMAND...   runs COMMAND: a pass, or a failure reported as
#                           "<suite> FAIL: NAME" on stderr
#   check_summary           prints "<suite>: N passed, M failed"; returns 1
#                           if any check failed (use as the script's last line)
passed=0
failed=0

check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "$CHECK_SUITE FAIL: $name" >&2
  fi
}

check_summary() {
  echo "$CHECK_SUITE: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
