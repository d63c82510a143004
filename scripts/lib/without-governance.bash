# A PostgreSQL installation without pg_governance, for the SQL edition
# (scripts/run-sql-edition.sh, scripts/demo.sh EDITION=sql): source it, don't run it.
#
#   pg_without_governance DIR    makes in DIR a copy of the installation $PG_CONFIG
#                                names, minus pg_governance, and prints its bindir
#                                (DIR/<bindir>): point PGBIN and PG_CONFIG there
#
# The binaries are copied (PostgreSQL finds its share and lib directories
# relative to them); every other file of the share and lib directories is
# linked, except pg_governance's control file, scripts and library; the
# include and lib directories are linked whole (for what builds against
# libpq with that pg_config, e.g. client/python).
# PostgreSQL 15 has no extension_control_path, so this is how a server is
# made that cannot load the C extension, as on a managed host.  The caller
# removes DIR.

pg_without_governance() {
  local bare=$1 pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
  local bindir sharedir pkglibdir includedir libdir f d
  bindir=$("$pg_config" --bindir) && sharedir=$("$pg_config" --sharedir) &&
    pkglibdir=$("$pg_config" --pkglibdir) && includedir=$("$pg_config" --includedir) &&
    libdir=$("$pg_config" --libdir) || return 1
  chmod 0755 "$bare"
  mkdir -p "$bare$bindir" "$bare$sharedir/extension" "$bare$pkglibdir" || return 1
  cp -a "$bindir"/. "$bare$bindir"/ || return 1
  for f in "$sharedir"/*; do
    [ "$(basename "$f")" = extension ] || ln -s "$f" "$bare$sharedir/"
  done
  for f in "$sharedir"/extension/*; do
    case $(basename "$f") in pg_governance*) ;; *) ln -s "$f" "$bare$sharedir/extension/" ;; esac
  done
  for f in "$pkglibdir"/*; do
    case $(basename "$f") in pg_governance*) ;; *) ln -s "$f" "$bare$pkglibdir/" ;; esac
  done
  for d in "$includedir" "$libdir"; do
    [ -e "$bare$d" ] || { mkdir -p "$(dirname "$bare$d")" && ln -s "$d" "$bare$d"; } || return 1
  done
  # the same parent directories up to $bare, readable by the server's OS user
  d=$bare; while [ "$d" != / ]; do chmod o+rx "$d" 2>/dev/null; d=$(dirname "$d"); done
  echo "$bare$bindir"
}
