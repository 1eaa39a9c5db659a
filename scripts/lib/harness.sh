# The shell harness shared by the tests, the demo and the benchmark: one
# `source` for all of it. See each file for its functions.
#   common.sh    work directory, processes stopped by PID at exit, waits
#   pg.sh        throwaway PostgreSQL clusters, binaries per major
#   pgwarden.sh  building and starting pgwarden
#   stack.sh     Prometheus + Alertmanager + webhook with the shipped rules
#   check.sh     named checks counted per suite
HARNESS_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HARNESS_LIB/common.sh"
source "$HARNESS_LIB/pg.sh"
source "$HARNESS_LIB/pgwarden.sh"
source "$HARNESS_LIB/stack.sh"
source "$HARNESS_LIB/check.sh"
