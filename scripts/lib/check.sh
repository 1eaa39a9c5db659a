# Named checks for the shell suites, counted per suite (the name given to
# harness_init).
#   check NAME COMMAND...   runs COMMAND: a pass, or a failure reported as
#                           "<suite> FAIL: NAME" on stderr
#   check_summary           prints "<suite>: N passed, M failed"; returns 1
#                           if any check failed (use as the script's last line)
CHECKS_PASSED=0
CHECKS_FAILED=0

check() {
  local name=$1
  shift
  if "$@"; then
    CHECKS_PASSED=$((CHECKS_PASSED + 1))
  else
    CHECKS_FAILED=$((CHECKS_FAILED + 1))
    echo "$HARNESS_NAME FAIL: $name" >&2
  fi
}

check_summary() {
  echo "$HARNESS_NAME: $CHECKS_PASSED passed, $CHECKS_FAILED failed"
  [[ $CHECKS_FAILED -eq 0 ]]
}
