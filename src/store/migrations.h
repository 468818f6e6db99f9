/* Versioned schema migrations, one list per backend. A list is ordered, its versions are
 * 1, 2, 3, … without gaps, and an entry is never edited once released: a schema change is a new
 * entry at the end. The backend's migrate slot applies the entries above the database's
 * version, records each in schema_migrations(version, applied_at), and refuses a database whose
 * version is above the list's last entry. */
#ifndef SY_STORE_MIGRATIONS_H
#define SY_STORE_MIGRATIONS_H
#include <stddef.h>

typedef struct sy_store_migration {
    int version;
    const char *name; /* one line, for logs */
    const char *sql;  /* one or more statements, run in the migration's transaction */
} sy_store_migration_t;

extern const sy_store_migration_t sy_store_migrations_sqlite[];
extern const size_t sy_store_migrations_sqlite_count;
extern const sy_store_migration_t sy_store_migrations_clickhouse[];
extern const size_t sy_store_migrations_clickhouse_count;
extern const sy_store_migration_t sy_store_migrations_postgres[];
extern const size_t sy_store_migrations_postgres_count;

#endif
