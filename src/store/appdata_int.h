/* Helpers shared by the app-data modules over app_exec (store/appdata.c, store/appchat.c);
 * private to store/. Threads and errors as store/appdata.h. */
#ifndef SY_STORE_APPDATA_INT_H
#define SY_STORE_APPDATA_INT_H
#include "store/appdata.h"

/* Parameter builders: text (NULL pointer → SQL NULL), integer (0 → SQL NULL: "never"/"unknown"),
 * integer kept even when 0. */
#define SY_APP_T(v) ((sy_app_param_t){.kind = (v) ? SY_APP_TEXT : SY_APP_NULL, .text = (v)})
#define SY_APP_I(v) ((sy_app_param_t){.kind = (v) ? SY_APP_I64 : SY_APP_NULL, .i64 = (v)})
#define SY_APP_I0(v) ((sy_app_param_t){.kind = SY_APP_I64, .i64 = (v)})
#define SY_APP_NPARAMS(a) (sizeof(a) / sizeof((a)[0]))

/* Cell (row, col) as a heap copy (NULL for SQL NULL) / as an integer (0 for SQL NULL). */
char *sy_app_dup_cell(const sy_app_rows_t *r, size_t row, size_t col);
int64_t sy_app_i64_cell(const sy_app_rows_t *r, size_t row, size_t col);
/* A query expecting one row: SY_ERR_NOT_FOUND ("no such <what>") when there is none; rows
 * must be freed by the caller on success. */
sy_err_t sy_app_one_row(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                        sy_app_rows_t *rows, const char *what, char *msg, size_t msglen);
/* An UPDATE/DELETE that must touch at least one row (SY_ERR_NOT_FOUND otherwise). */
sy_err_t sy_app_change_one(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                           const char *what, char *msg, size_t msglen);
/* Runs a list query (at most max_rows rows, else SY_ERR_STORE: bound the SQL with LIMIT) and
 * converts each row with conv into a new array (*out, *count; free with the module's
 * _list_free). sy_app_list: max_rows SY_APP_LIST_MAX. */
sy_err_t sy_app_list_n(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                       size_t max_rows, void *(*conv)(const sy_app_rows_t *, size_t), void ***out,
                       size_t *count, char *msg, size_t msglen);
sy_err_t sy_app_list(sy_store_t *s, const char *sql, const sy_app_param_t *p, size_t n,
                     void *(*conv)(const sy_app_rows_t *, size_t), void ***out, size_t *count,
                     char *msg, size_t msglen);

#endif
